"""Checks made before any LLM call from Discord: question, per-user rate, per-guild daily spend.

Each check returns None when the call may go on, or the message to show the
user (ephemerally) when it may not. The rate limit is a sliding window kept in
this process. The spending cap is read from the usage ledger, so it holds across
restarts and replicas: a guild that has spent ``daily_guild_cap_usd`` or more
since 00:00 UTC is refused until the next UTC day.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from intelbot.discord.config import DiscordSettings

SpentSince = Callable[[int, datetime], Awaitable[float]]
"""``await spent(guild_id, since)``: USD spent by the guild since that instant."""


class SlidingWindowLimit:
    """At most ``limit`` events per key within any ``window`` seconds (``limit`` 0: no limit)."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[int, deque[float]] = {}

    def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""
        if self.limit <= 0:
            return None
        now = self.clock()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window - now
        events.append(now)
        return None


class Guards:
    """The checks of one Discord front end, configured from :class:`DiscordSettings`."""

    def __init__(
        self,
        config: DiscordSettings,
        spent_since: SpentSince,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.rate = SlidingWindowLimit(config.rate_limit_requests, config.rate_limit_window_seconds, clock=clock)
        self._spent_since = spent_since
        self._now = now

    def check_question(self, question: str) -> str | None:
        """Refuse empty, whitespace-only and over-long questions; any other Unicode is fine."""
        if not question or not question.strip():
            return "Please ask a question: it is empty."
        if len(question) > self.config.max_question_chars:
            return (
                f"That question is {len(question):,} characters long; "
                f"the limit is {self.config.max_question_chars:,}. Please shorten it."
            )
        return None

    def check_rate(self, user_id: int) -> str | None:
        """Count one request for ``user_id``; refuse when the sliding window is full."""
        wait = self.rate.acquire(user_id)
        if wait is None:
            return None
        return (
            f"You are sending requests too quickly (limit: {self.config.rate_limit_requests} per "
            f"{self.config.rate_limit_window_seconds:g} s). Try again in {max(1, round(wait))} s."
        )

    async def check_spending(self, guild_id: int | None) -> str | None:
        """Refuse when the guild's spend since 00:00 UTC has reached the daily cap (DMs are not capped)."""
        cap = self.config.daily_guild_cap_usd
        if guild_id is None or cap <= 0:
            return None
        now = self._now()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        spent = await self._spent_since(guild_id, midnight)
        if spent < cap:
            return None
        return (
            f"This server has reached its daily spending cap (${spent:.4f} of ${cap:.2f} today). "
            "It resets at 00:00 UTC."
        )
