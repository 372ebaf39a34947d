"""Shared state in Redis while Redis answers, in this process while it does not, and back again.

Replicas share rate-limit windows, spend reservations and circuit breakers through
Redis. Redis is a side service: when it refuses connections, hangs or errs, the bot
must keep answering. :class:`RedisFailover` runs each operation twice over, in a
sense: ``await failover.run(shared, local)`` runs ``shared()`` (the Redis version)
within ``timeout_seconds``; when that raises a Redis error, an ``OSError`` or times
out, it runs ``local()`` (the in-process version) instead and the caller never sees
the error. From then on every operation goes to ``local`` at once (no waiting on a
dead Redis), and at most every ``retry_seconds`` one caller pings Redis; when the ping
answers, operations go back to Redis.

Each change is reported once: one log line (the Redis location ``host:port/db`` and
the error's type, never a password), the ``listeners`` (called with the reason when
moving to memory, with None when back), and :attr:`degraded`, which /health and the
metrics read. What was kept in memory while Redis was away stays there: shared
state resumes from what Redis holds.

Every Redis client made by :func:`redis_client` has connect and socket timeouts too, so
a hanging server cannot hold a connection beyond them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from intelbot.health import for_managers

log = logging.getLogger("intelbot.redis_failover")

T = TypeVar("T")
FailoverListener = Callable[[str | None], None]
"""``listener(reason)``: Redis was left for memory (``reason``), or came back (None)."""

DEFAULT_TIMEOUT_SECONDS = 1.0
DEFAULT_RETRY_SECONDS = 5.0
DEFAULT_MAX_CONNECTIONS = 32


def redis_location(url: str) -> str:
    """``host:port/db`` of a Redis URL, for logs and managers: never the user name or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    db = parts.path.lstrip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


def redis_client(
    url: str, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> Any:
    """A ``redis.asyncio.Redis`` for ``url`` whose connects and commands give up after ``timeout_seconds``.

    Its pool holds at most ``max_connections``; a burst of more concurrent commands
    waits for a free connection (up to ``timeout_seconds``) instead of failing, as
    redis-py's default pool does (``MaxConnectionsError`` past 100), which would look
    like Redis going away.
    """
    import redis.asyncio

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
    )
    return redis.asyncio.Redis.from_pool(pool)


def _redis_failures() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


class RedisFailover:
    """Where one client's operations run: Redis while it answers, else this process, until Redis is back.

    ``purpose`` names what the state is for ("discord rate limits and spend
    reservations", "circuit breakers") in the log line. ``clock`` (monotonic) paces the
    retries. ``client`` is closed by :meth:`aclose`.
    """

    def __init__(
        self,
        client: Any,
        *,
        location: str,
        purpose: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.location = location
        self.purpose = purpose
        self.timeout_seconds = timeout_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.degraded: str | None = None
        self.listeners: list[FailoverListener] = []
        self.failovers = 0
        self.recoveries = 0
        self._last_try = 0.0
        self._probing = False
        self._failures = _redis_failures()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        purpose: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> RedisFailover:
        """A failover over a new client for ``url`` (see :func:`redis_client`)."""
        return cls(
            redis_client(url, timeout_seconds=timeout_seconds),
            location=redis_location(url),
            purpose=purpose,
            timeout_seconds=timeout_seconds,
            retry_seconds=retry_seconds,
            clock=clock,
        )

    @property
    def shared(self) -> bool:
        """True while operations go to Redis."""
        return self.degraded is None

    def status(self) -> str:
        """Where the state is kept now, for /health; the Redis location is marked for managers only."""
        where = for_managers(f" at {self.location}")
        if self.degraded is None:
            return f"Redis{where} (shared with replicas)"
        reason = self.degraded.removeprefix(f"Redis at {self.location} ")
        return f"IN-PROCESS, Redis{where} {reason}; not shared with replicas until Redis answers"

    async def run(self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        """``await shared()`` on Redis; on a Redis failure or timeout (or while Redis is away) ``await local()``."""
        if self.degraded is not None and not await self._back():
            return await local()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await shared()
        except self._failures as error:
            self._fail_over(error)
        return await local()

    async def check(self) -> bool:
        """Ping Redis now (start-up); on failure move to memory. True when Redis answered."""
        try:
            await self._ping()
        except self._failures as error:
            self._fail_over(error)
            return False
        if self.degraded is not None:
            self._come_back()
        return True

    async def aclose(self) -> None:
        """Close the client (errors of a Redis that is gone are ignored)."""
        try:
            await self.client.aclose()
        except self._failures:
            pass

    async def _ping(self) -> None:
        async with asyncio.timeout(self.timeout_seconds):
            await self.client.ping()

    async def _back(self) -> bool:
        """While degraded: True when Redis answers again (one caller pings per ``retry_seconds``)."""
        if self._probing or self.clock() - self._last_try < self.retry_seconds:
            return False
        self._probing = True
        try:
            await self._forget_idle_connections()  # connections to the Redis that went away are dead
            await self._ping()
        except self._failures:
            self._last_try = self.clock()
            return False
        finally:
            self._probing = False
        if self.degraded is not None:
            self._come_back()
        return True

    async def _forget_idle_connections(self) -> None:
        pool = getattr(self.client, "connection_pool", None)
        if pool is not None:
            await pool.disconnect(inuse_connections=False)

    def _fail_over(self, error: BaseException) -> None:
        """Move to memory; reported once (callers failing together while it happens just carry on)."""
        self._last_try = self.clock()
        if self.degraded is not None:
            return
        self.degraded = f"Redis at {self.location} unreachable ({type(error).__name__})"
        self.failovers += 1
        log.error("%s: %s; kept in this process until Redis answers", self.purpose, self.degraded)
        for listener in self.listeners:
            listener(self.degraded)

    def _come_back(self) -> None:
        self.degraded = None
        self.recoveries += 1
        log.warning("%s: Redis at %s answers again; shared through it again", self.purpose, self.location)
        for listener in self.listeners:
            listener(None)
