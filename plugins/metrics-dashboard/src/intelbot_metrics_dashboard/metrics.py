"""The plugin's own metrics on ``kernel.metrics``: how close guilds are to the daily spending cap.

No guild label (guilds are unbounded): the alert says that some guild is near the cap,
and ``/api/summary`` (or the page, or Discord ``/stats`` for owners) says which.

- ``intelbot_dashboard_guild_cap_usd``: ``discord.daily_guild_cap_usd`` (0: no cap).
- ``intelbot_dashboard_guild_spend_max_usd``: the highest spend of any guild today (UTC).
- ``intelbot_dashboard_guilds_near_cap``: guilds whose spend today is at least
  ``near_cap_ratio`` of the cap (0 without a cap).

Refreshed from the ledger in the background when ``/metrics`` is scraped and the last
refresh is older than ``spend_check_seconds`` (that scrape serves the previous values).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from intelbot.settings import lookup
from intelbot.summary import guild_spend

if TYPE_CHECKING:
    from intelbot.kernel import Kernel


class SpendingMetrics:
    """The three gauges and their lazy refresh."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        near_cap_ratio: float,
        every_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.near_cap_ratio = near_cap_ratio
        self.every_seconds = every_seconds
        self.clock = clock
        self._checked_at: float | None = None
        self.cap = Gauge(
            "intelbot_dashboard_guild_cap_usd", "Daily per-guild spending cap in USD (0: none)", registry=registry
        )
        self.spend_max = Gauge(
            "intelbot_dashboard_guild_spend_max_usd", "Highest spend of any guild today (UTC), USD", registry=registry
        )
        self.near_cap = Gauge(
            "intelbot_dashboard_guilds_near_cap",
            "Guilds whose spend today reached near_cap_ratio of the cap",
            registry=registry,
        )

    def due(self) -> bool:
        """True when the last refresh began ``every_seconds`` ago or more (or never did)."""
        return self._checked_at is None or self.clock() - self._checked_at >= self.every_seconds

    async def refresh(self, kernel: Kernel) -> None:
        """Read today's spend per guild from the ledger and set the gauges."""
        self._checked_at = self.clock()
        cap = float(lookup(kernel.settings, "discord.daily_guild_cap_usd", 0.0) or 0.0)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        spends = [usd for _guild, usd, _calls in await guild_spend(kernel, midnight)]
        self.cap.set(cap)
        self.spend_max.set(max(spends, default=0.0))
        self.near_cap.set(sum(1 for usd in spends if usd >= cap * self.near_cap_ratio) if cap > 0 else 0)
