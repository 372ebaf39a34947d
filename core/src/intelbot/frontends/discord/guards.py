"""Checks made before any LLM call from Discord: question, per-user rate, per-guild daily spend.

Each check gives None when the call may go on, or the message to show the
user (ephemerally) when it may not. The rate limit is a sliding window, kept in
this process, or in Redis (``discord.redis_url``) so that replicas behind a load
balancer share each user's window; when Redis fails, the window is kept in this
process until Redis answers again (:class:`FailoverSlidingWindowLimit`). The
spending cap (:mod:`intelbot.spending`) refuses the call whose worst-case cost would
take the guild or the user over their daily cap, counting the usage ledger and
the calls still running.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from intelbot.frontends.discord.config import DiscordSettings
from intelbot.redis_failover import RedisFailover
from intelbot.spending import SpendingCap


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

    async def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""
        if self.limit <= 0:
            return None
        wait = await self._script(
            keys=[f"{self.prefix}:{key}"], args=[self.clock(), self.window, self.limit, uuid.uuid4().hex]
        )
        return None if wait is None else float(wait)


class FailoverSlidingWindowLimit:
    """Each user's window in Redis while it answers, else in this process (see :class:`RedisFailover`).

    While Redis is away a replica counts only the requests it sees itself; the windows
    kept in memory then are dropped when Redis answers again.
    """

    def __init__(self, shared: RedisSlidingWindowLimit, local: SlidingWindowLimit, failover: RedisFailover) -> None:
        self.shared = shared
        self.local = local
        self.failover = failover

    async def acquire(self, key: int) -> float | None:
        """Count one event for ``key``; return None when allowed, else seconds until one would be."""
        return await self.failover.run(lambda: self.shared.acquire(key), lambda: self.local.acquire(key))


class Guards:
    """The checks of one Discord front end, configured from :class:`DiscordSettings`."""

    def __init__(
        self,
        config: DiscordSettings,
        spending: SpendingCap,
        *,
        clock: Callable[[], float] = time.monotonic,
        rate: RateWindow | None = None,
    ) -> None:
        self.config = config
        self.rate: RateWindow = rate or SlidingWindowLimit(
            config.rate_limit_requests, config.rate_limit_window_seconds, clock=clock
        )
        self.spending = spending

    def shared_state_lines(self) -> list[str]:
        """For managers' /health only: where rate-limit windows and spend reservations are kept (Redis location too)."""
        lines = []
        if isinstance(self.rate, FailoverSlidingWindowLimit):
            lines.append(f"rate limits: {self.rate.failover.status()}")
        if self.spending.failover is not None:
            lines.append(f"spend reservations: {self.spending.failover.status()}")
        return lines

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
