"""Where breaker records live: in this process, or in Redis shared by every replica.

A store offers one atomic operation, ``update(name, create, change)``: read the
record (or ``create()`` it), apply ``change`` to it, save it when ``change`` says it
changed, and return what ``change`` returned. ``change`` may run more than once (Redis
retries it when another process wrote the record meanwhile), so it must only touch
the record it is given.

:class:`FailoverBreakerStore` is what the plugin uses with a ``redis_url``: Redis while it
answers, and this process's memory once Redis fails (reported, never raised).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from intelbot_circuit_breaker.breaker import BreakerRecord

T = TypeVar("T")
Change = Callable[[BreakerRecord], tuple[T, bool]]


class BreakerStore(Protocol):
    """Atomic read-modify-write of breaker records by name (``provider/model``)."""

    async def update(self, name: str, create: Callable[[], BreakerRecord], change: Change[T]) -> T: ...

    async def read(self, name: str) -> BreakerRecord | None: ...

    async def names(self) -> list[str]: ...

    async def aclose(self) -> None: ...


class MemoryBreakerStore:
    """Records in a dict of this process. ``change`` is synchronous, so each update is atomic on the event loop."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}

    async def update(self, name: str, create: Callable[[], BreakerRecord], change: Change[T]) -> T:
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = create()
        result, _changed = change(record)
        return result

    async def read(self, name: str) -> BreakerRecord | None:
        return self._records.get(name)

    async def names(self) -> list[str]:
        return sorted(self._records)

    async def aclose(self) -> None:
        return None


class StoreConflictError(RuntimeError):
    """Another writer kept changing a record; the update gave up after ``attempts`` tries."""


class RedisBreakerStore:
    """Records as JSON strings in Redis under ``<prefix>:<name>``, updated with WATCH/MULTI.

    Every process that uses the same URL and prefix sees the same breakers. Keys
    expire ``ttl_seconds`` after their last write so that abandoned breakers go away.
    Connecting and each command time out after ``timeout_seconds``; Redis errors are
    raised (``redis.exceptions.RedisError``): :class:`FailoverBreakerStore` handles them.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        ttl_seconds: int = 86_400,
        max_conflicts: int = 100,
        timeout_seconds: float = 2.0,
    ) -> None:
        import redis.asyncio as redis_asyncio

        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.max_conflicts = max_conflicts
        self.location = redis_location(url)
        self.client = redis_asyncio.Redis.from_url(
            url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
        )

    async def ping(self) -> None:
        """Check that Redis answers; raises ``redis.exceptions.RedisError`` when it does not."""
        await self.client.ping()  # type: ignore[misc]

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def _names_key(self) -> str:
        return f"{self.prefix}::names"

    async def update(self, name: str, create: Callable[[], BreakerRecord], change: Change[T]) -> T:
        from redis.exceptions import WatchError

        key = self._key(name)
        for _ in range(self.max_conflicts):
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    record = BreakerRecord.from_json(json.loads(raw)) if raw is not None else create()
                    result, changed = change(record)
                    if not changed and raw is not None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return result
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, json.dumps(record.to_json(), separators=(",", ":")), ex=self.ttl_seconds)
                    pipe.sadd(self._names_key, name)
                    pipe.expire(self._names_key, self.ttl_seconds)
                    await pipe.execute()
                    return result
                except WatchError:
                    continue
        raise StoreConflictError(f"breaker {name!r}: gave up after {self.max_conflicts} conflicting writes")

    async def read(self, name: str) -> BreakerRecord | None:
        raw = await self.client.get(self._key(name))
        return None if raw is None else BreakerRecord.from_json(json.loads(raw))

    async def names(self) -> list[str]:
        members = await self.client.smembers(self._names_key)  # type: ignore[misc]
        return sorted(member.decode() if isinstance(member, bytes) else str(member) for member in members)

    async def delete_all(self) -> None:
        """Remove every key under this prefix (tests and the CLI's reset)."""
        names = await self.names()
        keys = [self._key(name) for name in names] + [self._names_key]
        await self.client.delete(*keys)

    async def aclose(self) -> None:
        await self.client.aclose()


def redis_location(url: str) -> str:
    """``host:port/db`` of a Redis URL, for logs and /health: never the user name or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    db = parts.path.lstrip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


FailoverListener = Callable[[str], None]


class FailoverBreakerStore:
    """Redis while it answers; after its first error, this process's memory for good (until a restart).

    Every operation goes to ``shared``; when it raises a ``RedisError`` (Redis down,
    unreachable, timing out), the store switches to a :class:`MemoryBreakerStore`, calls each
    of ``listeners`` once with the reason (no secrets: the Redis location and the error's
    type), and carries on there: the caller never sees the error. Breakers then start
    closed and are no longer shared with replicas; ``degraded`` says why.
    """

    def __init__(self, shared: RedisBreakerStore) -> None:
        self.redis = shared
        self.shared: RedisBreakerStore | None = shared  # None once failed over
        self.local = MemoryBreakerStore()
        self.location = shared.location
        self.degraded: str | None = None
        self.listeners: list[FailoverListener] = []

    async def check(self) -> bool:
        """Ping Redis (start-up); on failure switch to memory now. True when Redis answered."""
        if self.shared is None:
            return False
        from redis.exceptions import RedisError

        try:
            await self.shared.ping()
        except RedisError as error:
            await self._fail_over(error)
            return False
        return True

    async def update(self, name: str, create: Callable[[], BreakerRecord], change: Change[T]) -> T:
        from redis.exceptions import RedisError

        if self.shared is not None:
            try:
                return await self.shared.update(name, create, change)
            except RedisError as error:
                await self._fail_over(error)
        return await self.local.update(name, create, change)

    async def read(self, name: str) -> BreakerRecord | None:
        from redis.exceptions import RedisError

        if self.shared is not None:
            try:
                return await self.shared.read(name)
            except RedisError as error:
                await self._fail_over(error)
        return await self.local.read(name)

    async def names(self) -> list[str]:
        from redis.exceptions import RedisError

        if self.shared is not None:
            try:
                return await self.shared.names()
            except RedisError as error:
                await self._fail_over(error)
        return await self.local.names()

    async def aclose(self) -> None:
        from redis.exceptions import RedisError

        self.shared = None
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()

    async def _fail_over(self, error: Exception) -> None:
        """Switch to memory (once: concurrent callers that failed too just carry on there)."""
        if self.shared is None:
            return
        self.shared = None  # the client is closed in aclose: other calls may still be using it
        self.degraded = f"Redis at {self.location} unreachable ({type(error).__name__})"
        for listener in self.listeners:
            listener(self.degraded)
