"""Checks made before any LLM call from Discord: question, per-user rate, per-guild daily spend.

Each check gives None when the call may go on, or the message to show the
user (ephemerally) when it may not. The rate limit is a sliding window, kept in
this process, or in Redis (``discord.rate_limit_redis_url``) so that replicas
behind a load balancer share each user's window. The spending cap
(:mod:`intelbot.discord.spending`) refuses the call whose worst-case cost would
take the guild over ``daily_guild_cap_usd`` today, counting the usage ledger and
the calls still running.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from intelbot.discord.config import DiscordSettings
from intelbot.discord.spending import SpendingCap, SpentSince


class SlidingWindowLimit:
    """At most ``limit`` events per key within any ``window`` seconds (``limit`` 0: no limit).

    Only keys with an event inside the window are kept: a key whose events have all
    left the window is dropped, so memory is bounded by the keys active in one window.
    ``clock`` must never go back.
    """

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: OrderedDict[int, deque[float]] = OrderedDict()  # ordered by each key's latest event

    def __len__(self) -> int:
        """How many keys are kept (those with an event in the window at the last ``acquire``)."""
        return len(self._events)

    async def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""
        if self.limit <= 0:
            return None
        now = self.clock()
        self._drop_idle_keys(now - self.window)
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:  # refused: nothing counted, the key's latest event is unchanged
            return events[0] + self.window - now
        events.append(now)
        self._events.move_to_end(key)
        return None

    def _drop_idle_keys(self, horizon: float) -> None:
        """Drop keys whose latest event is at or before ``horizon`` (oldest first: they lead the order)."""
        while self._events:
            key, events = next(iter(self._events.items()))
            if events[-1] > horizon:
                return
            del self._events[key]


class RateWindow(Protocol):
    """A per-key sliding window, in this process or in Redis."""

    async def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""


_ACQUIRE_SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return false
"""


class RedisSlidingWindowLimit:
    """The same window as :class:`SlidingWindowLimit`, kept in Redis and shared by every replica.

    One sorted set per key (event time as score), trimmed, counted and added to in one
    Lua script, so concurrent replicas never both take the last place. ``clock`` is wall
    time (``time.time``): replicas must agree on it.
    """

    def __init__(
        self,
        client: Any,
        limit: int,
        window: float,
        *,
        prefix: str = "intelbot:discord:rate",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.limit = limit
        self.window = window
        self.prefix = prefix
        self.clock = clock
        self._script = client.register_script(_ACQUIRE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, limit: int, window: float, **options: Any) -> RedisSlidingWindowLimit:
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url), limit, window, **options)

    async def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""
        if self.limit <= 0:
            return None
        wait = await self._script(
            keys=[f"{self.prefix}:{key}"], args=[self.clock(), self.window, self.limit, uuid.uuid4().hex]
        )
        return None if wait is None else float(wait)

    async def aclose(self) -> None:
        await self.client.aclose()


class Guards:
    """The checks of one Discord front end, configured from :class:`DiscordSettings`."""

    def __init__(
        self,
        config: DiscordSettings,
        spent_since: SpentSince,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        rate: RateWindow | None = None,
    ) -> None:
        self.config = config
        self.rate: RateWindow = rate or SlidingWindowLimit(
            config.rate_limit_requests, config.rate_limit_window_seconds, clock=clock
        )
        self.spending = SpendingCap(config.daily_guild_cap_usd, spent_since, now=now)

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

    async def check_rate(self, user_id: int) -> str | None:
        """Count one request for ``user_id``; refuse when the sliding window is full."""
        wait = await self.rate.acquire(user_id)
        if wait is None:
            return None
        return (
            f"You are sending requests too quickly (limit: {self.config.rate_limit_requests} per "
            f"{self.config.rate_limit_window_seconds:g} s). Try again in {max(1, round(wait))} s."
        )
