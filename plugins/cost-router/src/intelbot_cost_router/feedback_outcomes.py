"""Outcome rows from live traffic: the asker's 👍 / 👎 joined with the router's decision for that turn.

``intelbot router train --from-feedback`` reads the kernel's ``answer_feedback``
table and the router's ``cost_router_decisions`` (joined on ``request_id``) and
turns each routed, voted turn whose prompt was kept (``store_prompts``) into an
outcome row (``strong_correct``, ``weak_correct`` on a 0-1 scale) by this rule:

=================  ======================  ==============  ==============================================
answered by        feedback                strong, weak    why
=================  ======================  ==============  ==============================================
weak tier          👎                      1, 0            the cheap answer failed: evidence for strong
weak tier          👍                      1, 1            the cheap answer was enough
weak tier          none, answer truncated  1, 0            a cut-off cheap answer counts as a failure
strong tier        👍                      1, 0.5          strong did it; the cheap tier is unknown, so
                                                           it counts as a coin flip
strong tier        👎                      0, 0            the strong tier did not help either
=================  ======================  ==============  ==============================================

Anything else is skipped and counted: votes on turns the router did not route
(a pinned model, a requested tier, a cache hit), decisions without a prompt, and
unvoted complete answers.
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
    if decision.prompt is None or decision.rule == "tier":
        return None
    strong = decision.tier == strong_tier
    if vote == DOWN:
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
    """Outcome rows made from feedback, and how many votes or decisions gave none."""

    rows: list[OutcomeRow]
    votes: int
    skipped_votes: int


def feedback_outcomes(decisions: Sequence[Decision], votes: Sequence[Vote], *, strong_tier: str) -> FeedbackOutcomes:
    """Apply the rule to every decision (with its vote, if any); votes without a usable decision are skipped."""
    by_request: Mapping[str, str] = {vote.request_id: vote.vote for vote in votes}
    rows: list[OutcomeRow] = []
    used = 0
    for decision in decisions:
        vote = by_request.get(decision.request_id)
        row = outcome_of(decision, vote, strong_tier=strong_tier)
        if row is None:
            continue
        rows.append(row)
        used += vote is not None
    return FeedbackOutcomes(rows, len(votes), len(votes) - used)
