"""The per-entry threshold rule: what the outcomes of an entry's answers say about that entry.

An *outcome* is one answer the cache is accountable for, kept in the database
(``semantic_cache_outcomes``, :mod:`.store`): a hit it served (``exact`` or
``semantic``, with the cosine and the rule's score it was served at) or the
provider's answer it stored (``stored``). The asker's vote and a re-ask are
*negative evidence* with a weight:

==========================================  ======  ==========================================
outcome                                     weight  why
==========================================  ======  ==========================================
👎 on it                                    1       the asker said the answer was wrong
re-asked (same user, channel and guild,     0.5     weak: they may only want more, so it takes
a question close to it, within the window)          two to count as one 👎
👍 on it                                    0       the asker said it was right; it also
                                                    cancels that answer's own re-ask
no vote, no re-ask                          0
==========================================  ======  ==========================================

From the negative evidence of one entry in one guild (:func:`verdict_of`):

- **drop**: the weight on answers that were the stored answer itself (``stored``),
  an exact hit, or a semantic hit at cosine >= ``near_exact`` reaches 1. The match
  was not the problem there, the answer was: it is never served again (the cache
  removes the entry). One 👎, or two re-asks.
- **threshold**: otherwise, let ``W(t)`` be the weight of the evidence on answers
  served at a score >= ``t``. The entry's own threshold becomes
  ``t* + THRESHOLD_STEP`` for the highest ``t*`` with ``W(t*) >= 1``: every score at
  or below the lowest score the evidence (counted from the top) needs to reach one
  👎 is refused. One 👎 on a semantic hit at score ``s`` refuses ``s`` and below;
  two re-asks at ``s1 > s2`` refuse ``s2`` and below (between them the evidence is
  only half a 👎).
- Nothing lowers a threshold below the calibrated one: a served answer is never
  below it, so a 👍 says nothing about the scores below it (there is no exploration
  below the threshold, which a bound on the error of a lower one would need). A 👍
  only takes back its own answer's re-ask, so the verdict is a pure function of the
  rows and every replica computes the same one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

DOWN_WEIGHT: Final = 1.0
REASK_WEIGHT: Final = 0.5
THRESHOLD_STEP: Final = 1e-4
"""How far above the refused score a learned threshold goes (the same question re-embedded elsewhere
must still be refused despite float noise, about 1e-7 on MiniLM)."""

KINDS: Final = ("exact", "semantic", "stored")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answer the cache is accountable for: ``kind`` ``exact``, ``semantic`` or ``stored``.

    ``score`` is what the rule compared with its threshold (None for exact hits and
    stored answers: they were not matched by score). ``vote`` is ``up``, ``down`` or
    None; ``reasked`` says a re-ask followed it.
    """

    request_id: str
    entry_id: int
    guild_id: int | None
    kind: str
    similarity: float
    score: float | None
    vote: str | None = None
    reasked: bool = False

    @property
    def weight(self) -> float:
        """Its negative evidence by the table above."""
        if self.vote == "down":
            return DOWN_WEIGHT
        if self.vote == "up":
            return 0.0
        return REASK_WEIGHT if self.reasked else 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What an entry's evidence in one guild decides: ``drop`` it, or refuse scores below ``threshold``.

    ``threshold`` is ``-inf`` when the evidence changes nothing.
    """

    threshold: float = -math.inf
    drop: bool = False

    @property
    def changes_anything(self) -> bool:
        return self.drop or self.threshold > -math.inf


def answer_was_bad(outcome: Outcome, near_exact: float) -> bool:
    """True when negative evidence on ``outcome`` blames the stored answer rather than the match."""
    return outcome.kind != "semantic" or outcome.score is None or outcome.similarity >= near_exact


def verdict_of(outcomes: Iterable[Outcome], *, near_exact: float) -> Verdict:
    """The verdict of the outcomes of one entry in one guild (module docstring)."""
    negative = [outcome for outcome in outcomes if outcome.weight > 0]
    if sum(outcome.weight for outcome in negative if answer_was_bad(outcome, near_exact)) >= 1.0:
        return Verdict(drop=True)
    ranked = sorted(
        negative,
        key=lambda outcome: math.inf if outcome.score is None else outcome.score,
        reverse=True,
    )
    weight = 0.0
    for outcome in ranked:
        weight += outcome.weight
        if weight >= 1.0:
            assert outcome.score is not None  # unscored evidence alone would have dropped the entry
            return Verdict(threshold=outcome.score + THRESHOLD_STEP)
    return Verdict()
