"""Where the worst cases of running calls are held: this process, or Redis shared by every replica.

A *reservation* holds a running call's worst-case cost against one or more *scopes*
(``guild:<id>``, ``user:<id>``) until the call ends. Deciding whether a call fits takes
two steps around a read of the usage ledger (:class:`intelbot.spending.SpendingCap`):

1. ``start = await begin(keys)`` notes how many reservations each scope has released;
2. the ledger is read (what each scope spent today);
3. ``await finish(keys, start, ...)`` counts, per scope, the reservations held now
   plus those released since ``start`` (a call that ended during the read may or may
   not be in what the read returned, so it still counts for that read), and holds the
   new reservation in every scope only when it fits in all of them, atomically.

:class:`MemoryReservations` does this for the calls of this process.
:class:`RedisReservations` does it in Redis, one Lua script per step, so that replicas
see each other's running calls: concurrent replicas near a cap cannot both take the
last place. A reservation held in Redis carries an expiry (``expires_at``): one whose
replica died is dropped then. Released reservations are remembered for
``retention_seconds`` (longer than any ledger read takes).

:class:`FailoverReservations` is what replicas use: Redis while it answers, this
process's memory while it does not (:class:`intelbot.redis_failover.RedisFailover`);
each reservation is released where it was made.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from intelbot.redis_failover import RedisFailover


@dataclass(frozen=True, slots=True)
class ScopeLimit:
    """One scope a call must fit in: its key, its cap, and what it spent today (from the ledger)."""

    key: str
    cap_usd: float
    spent_usd: float


@dataclass(frozen=True, slots=True)
class Overrun:
    """Why a call did not fit: the scope (index into the limits given) and what running calls hold there."""

    index: int
    committed_usd: float


@dataclass(frozen=True, slots=True)
class Reservation:
    """A held reservation: release it with the store that made it (``where``)."""

    token: str
    keys: tuple[str, ...]
    amount_usd: float
    where: str


class ReservationStore(Protocol):
    """The two steps around the ledger read, and the release."""

    async def begin(self, keys: Sequence[str]) -> Any:
        """Note each scope's releases so far (and, in memory, that a read is running)."""

    async def abandon(self, start: Any) -> None:
        """End a read begun with :meth:`begin` without reserving (the ledger read failed, say)."""

    async def finish(
        self, start: Any, limits: Sequence[ScopeLimit], amount_usd: float, *, now: float, expires_at: float
    ) -> Reservation | Overrun:
        """Hold ``amount_usd`` in every scope when ``spent + committed + amount <= cap`` in each; else say where not."""

    async def release(self, reservation: Reservation, *, now: float) -> None:
        """End a reservation made by :meth:`finish` (it then counts for reads begun before this)."""


@dataclass(slots=True)
class _ScopeState:
    held: dict[str, float] = field(default_factory=dict)
    readers: list[int] = field(default_factory=list)
    released: list[tuple[int, float]] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return not self.held and not self.readers


@dataclass(frozen=True, slots=True)
class _MemoryStart:
    keys: tuple[str, ...]
    sequence: int


class MemoryReservations:
    """Reservations of this process's running calls; a scope with none (and no read running) is forgotten."""

    where = "memory"

    def __init__(self) -> None:
        self._scopes: dict[str, _ScopeState] = {}
        self._sequence = 0

    def held(self, key: str) -> float:
        """USD held in scope ``key`` by running calls."""
        state = self._scopes.get(key)
        return sum(state.held.values()) if state is not None else 0.0

    @property
    def scopes_tracked(self) -> int:
        """Scopes with a running call or a running read (the others are forgotten)."""
        return len(self._scopes)

    async def begin(self, keys: Sequence[str]) -> _MemoryStart:
        for key in keys:
            self._scopes.setdefault(key, _ScopeState()).readers.append(self._sequence)
        return _MemoryStart(tuple(keys), self._sequence)

    async def abandon(self, start: _MemoryStart) -> None:
        """End a read begun with :meth:`begin` without reserving (the ledger read failed, say)."""
        self._end_read(start)

    async def finish(
        self, start: _MemoryStart, limits: Sequence[ScopeLimit], amount_usd: float, *, now: float, expires_at: float
    ) -> Reservation | Overrun:
        committed = [
            sum(self._scopes[limit.key].held.values())
            + sum(amount for sequence, amount in self._scopes[limit.key].released if sequence > start.sequence)
            for limit in limits
        ]
        self._end_read(start)
        for index, limit in enumerate(limits):
            if limit.spent_usd + committed[index] + amount_usd > limit.cap_usd:
                return Overrun(index, committed[index])
        token = uuid.uuid4().hex
        for limit in limits:
            self._scopes.setdefault(limit.key, _ScopeState()).held[token] = amount_usd
        return Reservation(token, tuple(limit.key for limit in limits), amount_usd, self.where)

    async def release(self, reservation: Reservation, *, now: float) -> None:
        self._sequence += 1
        for key in reservation.keys:
            state = self._scopes.get(key)
            if state is None or state.held.pop(reservation.token, None) is None:
                continue
            if state.readers:
                state.released.append((self._sequence, reservation.amount_usd))
            self._forget_if_idle(key, state)

    def _end_read(self, start: _MemoryStart) -> None:
        for key in start.keys:
            state = self._scopes[key]
            state.readers.remove(start.sequence)
            oldest = min(state.readers, default=self._sequence)
            state.released = [(sequence, amount) for sequence, amount in state.released if sequence > oldest]
            self._forget_if_idle(key, state)

    def _forget_if_idle(self, key: str, state: _ScopeState) -> None:
        if state.idle and self._scopes.get(key) is state:
            del self._scopes[key]


# KEYS: per scope 4 keys (held: zset token -> expires_at; amounts: hash token -> usd;
#       released: zset "token|usd|released_at" -> sequence; sequence: counter).
# ARGV: now, amount, token, expires_at, ttl_ms, then per scope: cap, spent, start sequence.
# Returns nil when held in every scope, else {index (0-based), committed usd as a string}.
_RESERVE_SCRIPT = """
local now, amount, token, expires_at, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local scopes = #KEYS / 4
for i = 0, scopes - 1 do
  local held, amounts, released = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3]
  local cap, spent, start = tonumber(ARGV[6 + 3 * i]), tonumber(ARGV[7 + 3 * i]), ARGV[8 + 3 * i]
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', held, '-inf', now)) do
    redis.call('HDEL', amounts, gone)
  end
  redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
  local committed = 0
  for _, value in ipairs(redis.call('HVALS', amounts)) do
    committed = committed + tonumber(value)
  end
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', released, '(' .. start, '+inf')) do
    local first = string.find(entry, '|', 1, true)
    local second = string.find(entry, '|', first + 1, true)
    committed = committed + tonumber(string.sub(entry, first + 1, second - 1))
  end
  if spent + committed + amount > cap then
    return {i, string.format('%.17g', committed)}
  end
end
for i = 0, scopes - 1 do
  local held, amounts = KEYS[4 * i + 1], KEYS[4 * i + 2]
  redis.call('ZADD', held, expires_at, token)
  redis.call('HSET', amounts, token, ARGV[2])
  redis.call('PEXPIRE', held, ttl)
  redis.call('PEXPIRE', amounts, ttl)
end
return false
"""

# KEYS: as above. ARGV: now, token, retention seconds, ttl_ms.
_RELEASE_SCRIPT = """
local now, token, retention, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
for i = 0, #KEYS / 4 - 1 do
  local held, amounts, released, sequence = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
  local amount = redis.call('HGET', amounts, token)
  if amount then
    redis.call('HDEL', amounts, token)
    redis.call('ZREM', held, token)
    local number = redis.call('INCR', sequence)
    redis.call('ZADD', released, number, token .. '|' .. amount .. '|' .. ARGV[1])
    for _, entry in ipairs(redis.call('ZRANGE', released, 0, 99)) do
      local last = string.match(entry, '|([^|]*)$')
      if tonumber(last) >= now - retention then break end
      redis.call('ZREM', released, entry)
    end
    redis.call('PEXPIRE', released, ttl)
    redis.call('PEXPIRE', sequence, ttl)
  end
end
return false
"""


@dataclass(frozen=True, slots=True)
class _RedisStart:
    keys: tuple[str, ...]
    sequences: tuple[int, ...]


class RedisReservations:
    """Reservations in Redis under ``<prefix>:<scope>:*``, shared by every replica (see the module docstring).

    Redis errors are raised (:class:`FailoverReservations` handles them). Keys expire
    ``ttl_seconds`` after their last write.
    """

    where = "redis"

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "intelbot:spend",
        retention_seconds: float = 300.0,
        ttl_seconds: int = 172_800,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.retention_seconds = retention_seconds
        self.ttl_ms = ttl_seconds * 1000
        self._reserve = client.register_script(_RESERVE_SCRIPT)
        self._release = client.register_script(_RELEASE_SCRIPT)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [f"{self.prefix}:{key}:{part}" for key in keys for part in ("held", "amounts", "released", "sequence")]

    async def begin(self, keys: Sequence[str]) -> _RedisStart:
        values = await self.client.mget([f"{self.prefix}:{key}:sequence" for key in keys]) if keys else []
        return _RedisStart(tuple(keys), tuple(int(value) if value is not None else 0 for value in values))

    async def finish(
        self, start: _RedisStart, limits: Sequence[ScopeLimit], amount_usd: float, *, now: float, expires_at: float
    ) -> Reservation | Overrun:
        token = uuid.uuid4().hex
        args: list[str] = [repr(now), repr(amount_usd), token, repr(expires_at), str(self.ttl_ms)]
        for limit, sequence in zip(limits, start.sequences, strict=True):
            args += [repr(limit.cap_usd), repr(limit.spent_usd), str(sequence)]
        result = await self._reserve(keys=self._keys([limit.key for limit in limits]), args=args)
        if result is not None:
            index, committed = result
            return Overrun(int(index), float(committed))
        return Reservation(token, tuple(limit.key for limit in limits), amount_usd, self.where)

    async def release(self, reservation: Reservation, *, now: float) -> None:
        args = [repr(now), reservation.token, repr(self.retention_seconds), str(self.ttl_ms)]
        await self._release(keys=self._keys(reservation.keys), args=args)

    async def held(self, key: str, *, now: float) -> float:
        """USD held in scope ``key`` by running calls of every replica (expired ones excluded)."""
        live = await self.client.zrangebyscore(f"{self.prefix}:{key}:held", f"({now!r}", "+inf")
        if not live:
            return 0.0
        values = await self.client.hmget(f"{self.prefix}:{key}:amounts", live)
        return sum(float(value) for value in values if value is not None)


@dataclass(frozen=True, slots=True)
class _FailoverStart:
    local: _MemoryStart
    shared: _RedisStart | None


class FailoverReservations:
    """Reservations in Redis while it answers, else in this process (see :class:`RedisFailover`).

    Every read is noted in memory too, so that a call can move to memory between the
    two steps. A reservation is released where it was made; one made in Redis that
    cannot be released (Redis gone) expires there at its ``expires_at``.
    """

    def __init__(self, shared: RedisReservations, failover: RedisFailover) -> None:
        self.shared = shared
        self.local = MemoryReservations()
        self.failover = failover

    async def begin(self, keys: Sequence[str]) -> _FailoverStart:
        local = await self.local.begin(keys)

        async def no_shared() -> _RedisStart | None:
            return None

        shared: _RedisStart | None = await self.failover.run(lambda: self.shared.begin(keys), no_shared)
        return _FailoverStart(local, shared)

    async def abandon(self, start: _FailoverStart) -> None:
        await self.local.abandon(start.local)

    async def finish(
        self, start: _FailoverStart, limits: Sequence[ScopeLimit], amount_usd: float, *, now: float, expires_at: float
    ) -> Reservation | Overrun:
        shared_start = start.shared
        if shared_start is None:
            return await self.local.finish(start.local, limits, amount_usd, now=now, expires_at=expires_at)

        async def in_redis() -> Reservation | Overrun:
            result = await self.shared.finish(shared_start, limits, amount_usd, now=now, expires_at=expires_at)
            await self.local.abandon(start.local)  # only now: should Redis fail, the read goes on in memory
            return result

        async def in_memory() -> Reservation | Overrun:
            return await self.local.finish(start.local, limits, amount_usd, now=now, expires_at=expires_at)

        return await self.failover.run(in_redis, in_memory)

    async def release(self, reservation: Reservation, *, now: float) -> None:
        if reservation.where == self.local.where:
            await self.local.release(reservation, now=now)
            return

        async def expires_later() -> None:
            return None

        await self.failover.run(lambda: self.shared.release(reservation, now=now), expires_later)
