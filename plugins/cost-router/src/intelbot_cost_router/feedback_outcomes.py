"""Outcome rows from live traffic: the asker's 👍 / 👎 joined with the router's decision for that turn.

``intelbot router train --from-feedback`` (and the scheduled re-train) reads the
kernel's ``answer_feedback`` table and the router's ``cost_router_decisions``
(joined on ``request_id``) and turns each routed turn whose prompt was kept
(``store_prompts``) and that carries evidence into an outcome row
(``strong_correct``, ``weak_correct`` on a 0-1 scale) by this rule, first match wins:

=================  ======================  ==============  ==============================================
answered by        feedback                strong, weak    why
=================  ======================  ==============  ==============================================
any tier           a provider error        skipped         an error is the provider's fault, not a verdict
                   in the turn                             on the answer's quality; and after a fallback
                                                           the answering model may not be of the routed
                                                           tier. Counted (``skipped_errors``)
weak tier          👎                      1, 0            the cheap answer failed: evidence for strong
weak tier          👍                      1, 1            the cheap answer was enough
weak tier          none, answer truncated  1, 0            a cut-off cheap answer counts as a failure
strong tier        👍                      1, 0.5          strong did it; the cheap tier is unknown, so
                                                           it counts as a coin flip
strong tier        👎                      0, 0            the strong tier did not help either
weak tier          none, re-asked at once  1, 0            the asker's question was not answered: as 👎
strong tier        none, re-asked at once  0, 0            as 👎: the strong tier did not help either
=================  ======================  ==============  ==============================================

A vote outranks a re-ask (the asker's explicit verdict), and a truncated weak answer
that was re-asked is one row, not two. Anything else is skipped and counted: votes on
turns the router did not route (a pinned model, a requested tier, a cache hit),
decisions without a prompt, and unvoted, un-re-asked complete answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from intelbot.data.feedback import DOWN, UP, Vote
from intelbot_cost_router.outcomes import OutcomeRow
from intelbot_cost_router.store import Decision

FEEDBACK_SOURCE = "feedback"


def outcome_of(decision: Decision, vote: str | None, *, strong_tier: str) -> OutcomeRow | None:
    """The outcome row for one routed turn by the rule above; None when the rule says nothing about it."""
    if decision.prompt is None or decision.rule == "tier" or decision.provider_errors > 0:
        return None
    strong = decision.tier == strong_tier
    if vote == DOWN or (vote is None and decision.reasked):
        labels = (0.0, 0.0) if strong else (1.0, 0.0)
    elif vote == UP:
        labels = (1.0, 0.5) if strong else (1.0, 1.0)
    elif not strong and not decision.complete:
        labels = (1.0, 0.0)
    else:
        return None
    return OutcomeRow(decision.prompt, labels[0], labels[1], source=FEEDBACK_SOURCE)


@dataclass(frozen=True, slots=True)
class FeedbackOutcomes:
    """Outcome rows made from feedback (in decision order, oldest first), and what gave none.

    ``reasks`` counts the rows made from a re-ask; ``skipped_errors`` the routed turns
    with a provider error, left out whatever their other evidence.
    """

    rows: list[OutcomeRow]
    votes: int
    skipped_votes: int
    reasks: int = 0
    skipped_errors: int = 0


def feedback_outcomes(decisions: Sequence[Decision], votes: Sequence[Vote], *, strong_tier: str) -> FeedbackOutcomes:
    """Apply the rule to every decision (with its vote, if any); votes without a usable decision are skipped."""
    by_request: Mapping[str, str] = {vote.request_id: vote.vote for vote in votes}
    rows: list[OutcomeRow] = []
    used = reasks = errors = 0
    for decision in decisions:
        vote = by_request.get(decision.request_id)
        row = outcome_of(decision, vote, strong_tier=strong_tier)
        if row is None:
            if decision.provider_errors > 0 and decision.rule != "tier" and decision.prompt is not None:
                errors += 1
            continue
        rows.append(row)
        used += vote is not None
        reasks += vote is None and decision.reasked
    return FeedbackOutcomes(rows, len(votes), len(votes) - used, reasks, errors)
