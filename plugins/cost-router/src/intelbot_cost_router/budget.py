"""Budget-aware lowering of the quality target as a guild's spend approaches its daily cap.

Off by default (``budget_lowering = false``). With it on, a guild with a daily cap
(``[default.discord] daily_guild_cap_usd`` > 0) that has spent the share ``s`` of
its cap today (UTC, from the usage ledger) is routed with the quality target

=========================  =============================================================
``s <= budget_start``      ``quality_target`` (unchanged)
``budget_start < s < 1``   linear from ``quality_target`` down to ``budget_floor``
``s >= 1``                 ``budget_floor``
=========================  =============================================================

The learned router turns the lowered target into a threshold through the grid of
thresholds calibrated at training (``TrainedRouter.threshold_at``, rounded up to the
next 0.01 of target). Per-content-type targets and the untrained default rule are
not lowered (they have no such grid).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BudgetCurve:
    """``quality_target`` at or below ``start`` of the cap, ``floor`` at the cap, linear in between."""

    quality_target: float
    start: float
    floor: float

    def target_at(self, spent_share: float) -> float:
        """The quality target for a guild that has spent ``spent_share`` of its daily cap (1.0 = all of it)."""
        if spent_share <= self.start:
            return self.quality_target
        if spent_share >= 1.0:
            return self.floor
        progress = (spent_share - self.start) / (1.0 - self.start)
        return self.quality_target - (self.quality_target - self.floor) * progress
