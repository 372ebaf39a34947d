"""Where breaker records live: in this process, or in Redis shared by every replica.

A store offers one atomic operation, ``update(name, create, change)``: read the
record (or ``create()`` it), apply ``change`` to it, save it when ``change`` says it
changed, and return what ``change`` returned. ``change`` may run more than once (Redis
retries it when another process wrote the record meanwhile), so it must only touch
the record it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, TypeVar

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
    """

    def __init__(self, url: str, *, prefix: str, ttl_seconds: int = 86_400, max_conflicts: int = 100) -> None:
        import redis.asyncio as redis_asyncio

        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.max_conflicts = max_conflicts
        self.client = redis_asyncio.Redis.from_url(url)

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
