"""A stream of questions with truthful votes on the cache's hits: what per-entry thresholds buy.

The semantic cache's feedback rule (``intelbot_semantic_cache.outcomes.verdict_of``, the
plugin's own function) replayed on labelled pairs, as ``benchmarks/semantic_cache.py
feedback`` runs it:

- **The stream.** One half of the pairs file, in row order: each pair's ``q1`` is
  asked, then its ``q2``. A question that is not served from the cache is answered by
  the "provider" and stored. A question that recurs in later pairs is asked again, so
  an entry can be hit more than once.
- **A hit** is exact (same text as an entry) or semantic: the best of the 8 nearest
  live entries by cosine (the plain cosine rule) at or above the global threshold.
  With per-entry thresholds on, candidates the entry's verdict refuses are skipped,
  as the plugin does.
- **Truthful votes.** A hit is *correct* when the entry is in the question's group
  (the protocol's groups: duplicate labels and identical normalized text), *false*
  when the two texts form a pair labelled not duplicate, and *unlabelled* otherwise.
  The asker votes 👍 on a correct hit, 👎 on a false one, nothing on an unlabelled
  one. No re-asks are simulated.
- **Replay.** ``passes`` > 1 asks the same stream again on the cache as the previous
  pass left it (votes keep being taken in): people ask the same things again. Its
  exact hits on questions the cache stored in pass 1 are correct by construction, so
  thresholds are picked on the first pass only; the replay's ``false`` column is the
  false matches served again.

Nearest entries come from a precomputed list of the 32 nearest earlier questions of
each question (an entry is always an earlier question), filtered to the live entries;
the real cache searches the live entries directly, which differs only when fewer than
8 of those 32 are live entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intelbot_semantic_cache.calibration import LabelledPair, QuestionGroups
from intelbot_semantic_cache.outcomes import Outcome, Verdict, verdict_of
from intelbot_semantic_cache.scope import exact_text, normalize_text

NEIGHBOURS = 32
CANDIDATES = 8
NEAR_EXACT = 0.99  # the plugin's default near_exact_similarity
MIN_SUPPORT = 20  # labelled hits a precision needs before it counts when a threshold is picked


@dataclass(frozen=True, slots=True)
class Stream:
    """The asks of one half: their texts in order, and each distinct question's nearest earlier ones."""

    asks: list[int]  # question number of each ask, in order
    texts: list[str]  # question number -> text
    neighbours: np.ndarray  # question number -> up to NEIGHBOURS earlier question numbers, nearest first (-1: none)
    cosines: np.ndarray  # their cosines
    groups: QuestionGroups
    non_duplicates: frozenset[frozenset[str]]


def build_stream(pairs: Sequence[LabelledPair], vectors: dict[str, np.ndarray], embedding_text: Any) -> Stream:
    """The stream of ``pairs`` (q1 then q2 of each row) with neighbour lists over earlier distinct questions."""
    number_of: dict[str, int] = {}
    texts: list[str] = []
    asks: list[int] = []
    for pair in pairs:
        for question in (pair.q1, pair.q2):
            key = exact_text(question)
            if key not in number_of:
                number_of[key] = len(texts)
                texts.append(question)
            asks.append(number_of[key])
    matrix = np.stack([np.asarray(vectors[embedding_text(text)], dtype=np.float32) for text in texts])
    count = len(texts)
    neighbours = np.full((count, NEIGHBOURS), -1, dtype=np.int64)
    cosines = np.full((count, NEIGHBOURS), -np.inf, dtype=np.float32)
    block = 1024
    for start in range(0, count, block):
        stop = min(count, start + block)
        similarities = matrix[start:stop] @ matrix[:stop].T  # only earlier (and same-block) questions matter
        rows = np.arange(start, stop)
        mask = np.arange(stop)[None, :] >= rows[:, None]  # not itself, not later questions
        similarities[mask] = -np.inf
        take = min(NEIGHBOURS, stop)
        top = np.argpartition(-similarities, take - 1, axis=1)[:, :take]
        top_cosines = np.take_along_axis(similarities, top, axis=1)
        order = np.argsort(-top_cosines, axis=1, kind="stable")
        top, top_cosines = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_cosines, order, axis=1)
        top[~np.isfinite(top_cosines)] = -1
        neighbours[start:stop, :take] = top
        cosines[start:stop, :take] = top_cosines
    non_duplicates = frozenset(
        frozenset((normalize_text(pair.q1), normalize_text(pair.q2))) for pair in pairs if not pair.duplicate
    )
    return Stream(asks, texts, neighbours, cosines, QuestionGroups(pairs), non_duplicates)


@dataclass(slots=True)
class Tally:
    """What one pass of the stream served."""

    asks: int = 0
    hits: int = 0
    correct: int = 0
    false: int = 0
    unlabelled: int = 0
    refused_by_entry: int = 0  # semantic candidates at or above the global threshold refused by an entry's own
    thresholds_raised: int = 0
    entries_dropped: int = 0

    def figures(self) -> dict[str, Any]:
        labelled = self.correct + self.false
        return {
            "asks": self.asks,
            "hits": self.hits,
            "hit_share": round(self.hits / self.asks, 4) if self.asks else 0.0,
            "correct": self.correct,
            "false": self.false,
            "unlabelled": self.unlabelled,
            "precision": round(self.correct / labelled, 4) if labelled else 0.0,
            "precision_conservative": round(self.correct / self.hits, 4) if self.hits else 0.0,
            "correct_share": round(self.correct / self.asks, 4) if self.asks else 0.0,
            "refused_by_entry": self.refused_by_entry,
            "thresholds_raised": self.thresholds_raised,
            "entries_dropped": self.entries_dropped,
        }


@dataclass(slots=True)
class StreamCache:
    """The cache's state in the simulation: live entries (question numbers), their outcomes and verdicts."""

    threshold: float
    learning: bool
    live: set[int] = field(default_factory=set)
    outcomes: dict[int, list[Outcome]] = field(default_factory=dict)
    verdicts: dict[int, Verdict] = field(default_factory=dict)

    def refused(self, entry: int, score: float) -> bool:
        verdict = self.verdicts.get(entry)
        return verdict is not None and (verdict.drop or score < verdict.threshold)


def truth(stream: Stream, question: int, entry: int) -> str:
    asked, stored = stream.texts[question], stream.texts[entry]
    if stream.groups.same(asked, stored):
        return "correct"
    if frozenset((normalize_text(asked), normalize_text(stored))) in stream.non_duplicates:
        return "false"
    return "unlabelled"


def run_pass(stream: Stream, cache: StreamCache, tally: Tally) -> None:
    """Ask every question of ``stream`` once, in order, taking in the truthful votes when ``cache.learning``."""
    for position, question in enumerate(stream.asks):
        tally.asks += 1
        hit: tuple[int, str, float, float | None] | None = None  # entry, kind, similarity, score
        if question in cache.live and not (cache.learning and cache.refused(question, np.inf)):
            hit = (question, "exact", 1.0, None)
        if hit is None:
            seen = 0
            for entry, cosine in zip(stream.neighbours[question], stream.cosines[question], strict=True):
                if entry < 0 or seen == CANDIDATES:
                    break
                if int(entry) not in cache.live:
                    continue
                seen += 1
                if cosine < cache.threshold:
                    break
                if cache.learning and cache.refused(int(entry), float(cosine)):
                    tally.refused_by_entry += 1
                    continue
                hit = (int(entry), "semantic", float(cosine), float(cosine))
                break
        if hit is None:
            cache.live.add(question)  # the provider's answer is stored (a refused exact entry is replaced)
            cache.outcomes.pop(question, None)
            cache.verdicts.pop(question, None)
            continue
        entry, kind, similarity, score = hit
        tally.hits += 1
        verdict = truth(stream, question, entry)
        setattr(tally, verdict, getattr(tally, verdict) + 1)
        if not cache.learning or verdict == "unlabelled":
            continue
        vote = "up" if verdict == "correct" else "down"
        outcome = Outcome(f"{position}", entry, None, kind, similarity, score, vote=vote)
        cache.outcomes.setdefault(entry, []).append(outcome)
        if vote == "up":
            continue
        decided = verdict_of(cache.outcomes[entry], near_exact=NEAR_EXACT)
        if decided.drop:
            cache.live.discard(entry)
            cache.outcomes.pop(entry, None)
            cache.verdicts.pop(entry, None)
            tally.entries_dropped += 1
        else:
            cache.verdicts[entry] = decided
            tally.thresholds_raised += 1


def simulate(stream: Stream, threshold: float, *, learning: bool, passes: int) -> list[dict[str, Any]]:
    """Figures of each pass of ``stream`` at global ``threshold``, with or without per-entry thresholds."""
    cache = StreamCache(threshold, learning)
    results = []
    for _ in range(passes):
        tally = Tally()
        run_pass(stream, cache, tally)
        results.append(tally.figures())
    return results


def pick_stream_threshold(
    stream: Stream, grid: Sequence[float], target: float, *, learning: bool
) -> tuple[float | None, list[dict[str, Any]]]:
    """The lowest grid threshold whose first-pass precision, and that of every higher one, reaches ``target``.

    Only the first pass counts: a replay's exact hits on questions it stored itself are
    correct by construction and would flatter any threshold. Precisions over fewer than
    MIN_SUPPORT labelled hits do not count. Returns it (None: none qualifies) and the curve.
    """
    curve = [
        {"threshold": threshold, **simulate(stream, threshold, learning=learning, passes=1)[0]}
        for threshold in sorted(grid, reverse=True)
    ]
    best: float | None = None
    for point in curve:  # highest threshold first
        labelled = point["correct"] + point["false"]
        if labelled < MIN_SUPPORT:
            continue
        if point["correct"] / labelled < target:
            break
        best = point["threshold"]
    return best, curve


def recurrence(stream: Stream) -> dict[str, int]:
    """How often questions come back in the stream (the per-entry rule only acts on an entry hit again)."""
    counts = np.bincount(np.asarray(stream.asks), minlength=len(stream.texts))
    return {
        "asks": len(stream.asks),
        "distinct_questions": len(stream.texts),
        "questions_asked_more_than_once": int((counts > 1).sum()),
        "repeat_asks": int((counts[counts > 1] - 1).sum()),
    }
