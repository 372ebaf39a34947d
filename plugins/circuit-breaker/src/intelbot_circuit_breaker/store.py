"""Where breaker records live: in this process, or in Redis shared by every replica.

A store applies the breaker's three changes to a named record atomically, creating
a closed record first when the name is new: ``acquire`` (may I call?), ``record``
(how a call ended) and ``hold`` (a Retry-After). The rules are those of
:class:`~intelbot_circuit_breaker.state_machine.CircuitBreaker`, given with each call.

- :class:`MemoryBreakerStore` applies them to records in a dict of this process.
- :class:`RedisBreakerStore` applies them inside Redis: one Lua script per change,
  run atomically by Redis, so any number of replicas can change one breaker at the same
  time without a conflict or a retry. The scripts are the same state machine written
  in Lua (their equivalence with :mod:`state_machine` is tested on random sequences of changes).
- :class:`FailoverBreakerStore` is what the plugin uses with a ``redis_url``: Redis while
  it answers, this process's memory while it does not, and Redis again once it answers
  (:class:`intelbot.redis_failover.RedisFailover`; reported, never raised).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from intelbot.redis_failover import FailoverListener, RedisFailover, redis_client, redis_location
from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import (
    BreakerRecord,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
    Transition,
)

__all__ = [
    "BreakerStore",
    "FailoverBreakerStore",
    "MemoryBreakerStore",
    "RedisBreakerStore",
    "redis_location",
]


class BreakerStore(Protocol):
    """Atomic changes of breaker records by name (``provider/model``)."""

    async def acquire(
        self, name: str, rules: CircuitBreaker, now: float, *, past_hold: bool = False
    ) -> tuple[Permit, list[Transition]]:
        """Ask breaker ``name`` for one call at ``now`` (see :meth:`CircuitBreaker.acquire`)."""

    async def record(
        self, name: str, rules: CircuitBreaker, permit: Permit, outcome: Outcome, *, slow: bool, now: float
    ) -> list[Transition]:
        """Record how a call permitted by ``permit`` ended (see :meth:`CircuitBreaker.record`)."""

    async def hold(self, name: str, rules: CircuitBreaker, seconds: float, now: float) -> bool:
        """Reject calls for ``seconds`` (see :meth:`CircuitBreaker.hold`); True when the hold was extended."""

    async def read(self, name: str) -> BreakerRecord | None:
        """The record of ``name``, or None when it was never changed."""

    async def names(self) -> list[str]:
        """Every breaker name the store holds, sorted."""

    async def aclose(self) -> None:
        """Release what the store holds open."""


class MemoryBreakerStore:
    """Records in a dict of this process. Each change is synchronous, hence atomic on the event loop."""

    def __init__(self) -> None:
        self._records: dict[str, BreakerRecord] = {}

    def _record(self, name: str, rules: CircuitBreaker, now: float) -> BreakerRecord:
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = rules.new_record(now)
        return record

    async def acquire(
        self, name: str, rules: CircuitBreaker, now: float, *, past_hold: bool = False
    ) -> tuple[Permit, list[Transition]]:
        return rules.acquire(self._record(name, rules, now), now, past_hold=past_hold)

    async def record(
        self, name: str, rules: CircuitBreaker, permit: Permit, outcome: Outcome, *, slow: bool, now: float
    ) -> list[Transition]:
        return rules.record(self._record(name, rules, now), permit, outcome, slow=slow, now=now)

    async def hold(self, name: str, rules: CircuitBreaker, seconds: float, now: float) -> bool:
        return rules.hold(self._record(name, rules, now), seconds, now)

    async def read(self, name: str) -> BreakerRecord | None:
        return self._records.get(name)

    async def names(self) -> list[str]:
        return sorted(self._records)

    async def aclose(self) -> None:
        return None


# The state machine of state_machine.py, on the record's JSON (BreakerRecord.to_json), in Redis.
# KEYS[1] the record, KEYS[2] the set of names. ARGV[1] the config (JSON), ARGV[2] now,
# ARGV[3] the key TTL in seconds, ARGV[4] the name, then the change's own arguments.
_MACHINE = r"""
local key, names_key = KEYS[1], KEYS[2]
local config = cjson.decode(ARGV[1])
local now, ttl, name = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local transitions = {}

local function new_record()
  local window
  if config.window_type == 'count' then
    window = {kind = 'count', size = config.window_size, outcomes = {}}
  else
    window = {kind = 'time', size = config.window_size, buckets = {}}
  end
  return {window = window, state = 'closed', changed_at = now, open_until = 0, trips = 0,
          closed_at = cjson.null, generation = 0, probes_issued = 0, probe_outcomes = {}, hold_until = 0}
end

local raw = redis.call('GET', key)
local created = not raw
local record = raw and cjson.decode(raw) or new_record()
if type(record.hold_until) ~= 'number' then record.hold_until = 0 end

local function save()
  redis.call('SET', key, cjson.encode(record), 'EX', ttl)
  redis.call('SADD', names_key, name)
  redis.call('EXPIRE', names_key, ttl)
end

local function count_totals(outcomes)
  local calls, failures, slow = 0, 0, 0
  for _, item in ipairs(outcomes) do
    calls = calls + 1
    if item % 2 == 1 then failures = failures + 1 end
    if item >= 2 then slow = slow + 1 end
  end
  return calls, failures, slow
end

local function window_totals(window)
  if window.kind == 'count' then return count_totals(window.outcomes) end
  local oldest = math.floor(now) - window.size + 1
  local calls, failures, slow = 0, 0, 0
  for second, bucket in pairs(window.buckets) do
    if tonumber(second) >= oldest then
      calls, failures, slow = calls + bucket[1], failures + bucket[2], slow + bucket[3]
    end
  end
  return calls, failures, slow
end

local function window_record(window, failed, slow)
  if window.kind == 'count' then
    local outcomes = window.outcomes
    outcomes[#outcomes + 1] = (failed and 1 or 0) + (slow and 2 or 0)
    while #outcomes > window.size do table.remove(outcomes, 1) end
    return
  end
  local oldest = math.floor(now) - window.size + 1
  local kept = {}
  for second, bucket in pairs(window.buckets) do
    if tonumber(second) >= oldest then kept[second] = bucket end
  end
  local second = string.format('%d', math.floor(now))
  local bucket = kept[second] or {0, 0, 0}
  bucket[1] = bucket[1] + 1
  bucket[2] = bucket[2] + (failed and 1 or 0)
  bucket[3] = bucket[3] + (slow and 1 or 0)
  kept[second] = bucket
  window.buckets = kept
end

local function window_clear(window)
  if window.kind == 'count' then window.outcomes = {} else window.buckets = {} end
end

local function capacity(window)
  if window.kind == 'count' then return window.size end
  return 1073741824
end

local function percent(rate)
  return string.format('%.0f%%', rate * 100)
end

local function trip_reason(calls, failures, slow)
  if calls > 0 and failures / calls >= config.failure_rate_threshold then
    return string.format('failure rate %s >= %s over %d calls',
      percent(failures / calls), percent(config.failure_rate_threshold), calls)
  end
  if calls > 0 and slow / calls >= config.slow_call_rate_threshold then
    return string.format('slow-call rate %s >= %s over %d calls',
      percent(slow / calls), percent(config.slow_call_rate_threshold), calls)
  end
  return nil
end

local function wait_for_trip(trips)
  local base = config.wait_in_open_seconds
  local longest = math.max(config.max_wait_in_open_seconds, base)
  local growths = math.max(0, trips - 1)
  local factor = config.wait_growth_factor
  if base <= 0 or growths == 0 or factor <= 1 then return base end
  if growths * math.log(factor) >= math.log(longest / base) then return longest end
  return math.min(base * factor ^ growths, longest)
end

local function shown(number)
  local text = string.format('%g', number)
  return text
end

local function to_open(reason, grow)
  local before = record.state
  local trips = 1
  if grow and record.trips > 0 then trips = record.trips + 1 end
  local wait = wait_for_trip(trips)
  record.trips = trips
  record.state = 'open'
  record.changed_at = now
  record.open_until = now + wait
  window_clear(record.window)
  record.probes_issued = 0
  record.probe_outcomes = {}
  transitions[#transitions + 1] = {before, 'open', now, reason .. '; open for ' .. shown(wait) .. 's'}
end

local function to_half_open()
  record.state = 'half_open'
  record.changed_at = now
  record.generation = record.generation + 1
  record.probes_issued = 0
  record.probe_outcomes = {}
  transitions[#transitions + 1] = {'open', 'half_open', now, 'wait in open state elapsed'}
end

local function to_closed(reason)
  record.state = 'closed'
  record.changed_at = now
  record.closed_at = now
  window_clear(record.window)
  record.probes_issued = 0
  record.probe_outcomes = {}
  transitions[#transitions + 1] = {'half_open', 'closed', now, reason}
end

local function expire_half_open()
  if record.state == 'half_open' and now - record.changed_at >= config.max_wait_in_half_open_seconds then
    to_open('probe(s) did not report in time', true)
  end
end

local function probe_totals()
  local calls, failures, slow = 0, 0, 0
  for _, item in ipairs(record.probe_outcomes) do
    calls = calls + 1
    if item[1] then failures = failures + 1 end
    if item[2] then slow = slow + 1 end
  end
  return calls, failures, slow
end
"""

_ACQUIRE = r"""
local past_hold = ARGV[5] == '1'
local before_state, before_probes = record.state, record.probes_issued
local granted, probe, generation = false, false, 0
local function decide()
  if now < record.hold_until and not past_hold then return end
  if record.state == 'closed' then granted = true; return end
  expire_half_open()
  if record.state == 'open' then
    if now < record.open_until then return end
    to_half_open()
  end
  if record.probes_issued < config.half_open_probes then
    record.probes_issued = record.probes_issued + 1
    granted, probe, generation = true, true, record.generation
  end
end
decide()
if created or record.state ~= before_state or record.probes_issued ~= before_probes or #transitions > 0 then
  save()
end
return cjson.encode({granted = granted, probe = probe, generation = generation, transitions = transitions})
"""

_RECORD = r"""
local probe, generation, outcome, slow = ARGV[5] == '1', tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1'
local function apply()
  expire_half_open()
  if probe then
    if record.state ~= 'half_open' or generation ~= record.generation then return end
    if outcome == 'ignored' then
      record.probes_issued = math.max(0, record.probes_issued - 1)
      return
    end
    local outcomes = record.probe_outcomes
    outcomes[#outcomes + 1] = {outcome == 'failure', slow}
    if #outcomes >= config.half_open_probes then
      local calls, failures, slows = probe_totals()
      local reason = trip_reason(calls, failures, slows)
      if reason == nil then
        to_closed(string.format('%d probe(s) passed', calls))
      else
        to_open('probe(s) failed: ' .. reason, true)
      end
    end
    return
  end
  if record.state ~= 'closed' or outcome == 'ignored' then return end
  window_record(record.window, outcome == 'failure', slow)
  local calls, failures, slows = window_totals(record.window)
  if calls >= math.min(config.minimum_calls, capacity(record.window)) then
    local reason = trip_reason(calls, failures, slows)
    if reason ~= nil then
      local recent = record.closed_at ~= cjson.null and now - record.closed_at <= config.growth_memory_seconds
      to_open(reason, recent)
    end
  end
end
apply()
save()
return cjson.encode({transitions = transitions})
"""

_HOLD = r"""
local seconds = tonumber(ARGV[5])
local untill = now + math.min(seconds, config.max_wait_in_open_seconds)
local extended = untill > record.hold_until
if extended then record.hold_until = untill end
if extended or created then save() end
return extended and 1 or 0
"""


def _config_json(config: BreakerSettings) -> str:
    """The parameters the Lua state machine reads (categories are decided in Python, before a change)."""
    return json.dumps(
        {
            "window_type": config.window_type,
            "window_size": config.window_size,
            "minimum_calls": config.minimum_calls,
            "failure_rate_threshold": config.failure_rate_threshold,
            "slow_call_rate_threshold": config.slow_call_rate_threshold,
            "wait_in_open_seconds": config.wait_in_open_seconds,
            "wait_growth_factor": config.wait_growth_factor,
            "max_wait_in_open_seconds": config.max_wait_in_open_seconds,
            "growth_memory_seconds": config.growth_memory_seconds,
            "half_open_probes": config.half_open_probes,
            "max_wait_in_half_open_seconds": config.max_wait_in_half_open_seconds,
        },
        separators=(",", ":"),
    )


def _transitions(raw: Any, now: float) -> list[Transition]:
    """The transitions a script returned (every one happens at ``now``; Lua's empty table comes back as {})."""
    items = raw if isinstance(raw, list) else []
    return [
        Transition(BreakerState(before), BreakerState(after), now, str(reason)) for before, after, _at, reason in items
    ]


class RedisBreakerStore:
    """Records as JSON strings in Redis under ``<prefix>:<name>``, changed by one Lua script per change.

    Every process that uses the same URL and prefix sees the same breakers. Keys
    expire ``ttl_seconds`` after their last write so that abandoned breakers go away.
    Connecting and each command time out after ``timeout_seconds``; Redis errors are
    raised (``redis.exceptions.RedisError``): :class:`FailoverBreakerStore` handles them.
    """

    def __init__(self, url: str, *, prefix: str, ttl_seconds: int = 86_400, timeout_seconds: float = 1.0) -> None:
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.timeout_seconds = timeout_seconds
        self.location = redis_location(url)
        self.client = redis_client(url, timeout_seconds=timeout_seconds)
        self._acquire = self.client.register_script(_MACHINE + _ACQUIRE)
        self._record = self.client.register_script(_MACHINE + _RECORD)
        self._hold = self.client.register_script(_MACHINE + _HOLD)

    async def ping(self) -> None:
        """Check that Redis answers; raises ``redis.exceptions.RedisError`` when it does not."""
        await self.client.ping()

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def _names_key(self) -> str:
        return f"{self.prefix}::names"

    def _args(self, name: str, rules: CircuitBreaker, now: float, *extra: str) -> dict[str, list[str]]:
        return {
            "keys": [self._key(name), self._names_key],
            "args": [_config_json(rules.config), repr(now), str(self.ttl_seconds), name, *extra],
        }

    async def acquire(
        self, name: str, rules: CircuitBreaker, now: float, *, past_hold: bool = False
    ) -> tuple[Permit, list[Transition]]:
        raw = json.loads(await self._acquire(**self._args(name, rules, now, "1" if past_hold else "0")))
        permit = Permit(granted=bool(raw["granted"]), probe=bool(raw["probe"]), generation=int(raw["generation"]))
        return permit, _transitions(raw["transitions"], now)

    async def record(
        self, name: str, rules: CircuitBreaker, permit: Permit, outcome: Outcome, *, slow: bool, now: float
    ) -> list[Transition]:
        extra = ("1" if permit.probe else "0", str(permit.generation), outcome.value, "1" if slow else "0")
        raw = json.loads(await self._record(**self._args(name, rules, now, *extra)))
        return _transitions(raw["transitions"], now)

    async def hold(self, name: str, rules: CircuitBreaker, seconds: float, now: float) -> bool:
        return bool(await self._hold(**self._args(name, rules, now, repr(float(seconds)))))

    async def read(self, name: str) -> BreakerRecord | None:
        raw = await self.client.get(self._key(name))
        return None if raw is None else BreakerRecord.from_json(json.loads(raw))

    async def names(self) -> list[str]:
        members = await self.client.smembers(self._names_key)
        return sorted(member.decode() if isinstance(member, bytes) else str(member) for member in members)

    async def delete_all(self) -> None:
        """Remove every key under this prefix (tests and the CLI's reset)."""
        names = await self.names()
        keys = [self._key(name) for name in names] + [self._names_key]
        await self.client.delete(*keys)

    async def aclose(self) -> None:
        await self.client.aclose()


class FailoverBreakerStore:
    """Redis while it answers; this process's memory while it does not; Redis again once it answers.

    Every change goes to ``shared`` through a :class:`RedisFailover`; a Redis error or
    timeout moves it to a :class:`MemoryBreakerStore` (the caller never sees the error),
    ``listeners`` are told the reason (no secrets: the Redis location and the error's
    type), and every ``retry_seconds`` one change tries Redis again; when it answers,
    ``listeners`` are told None and changes go to Redis again. Breakers kept in memory
    meanwhile are left there: replicas resume from what Redis holds.
    """

    def __init__(
        self,
        shared: RedisBreakerStore,
        *,
        retry_seconds: float = 5.0,
        clock: Any = None,
    ) -> None:
        self.redis = shared
        self.local = MemoryBreakerStore()
        self.location = shared.location
        options: dict[str, Any] = {} if clock is None else {"clock": clock}
        self.failover = RedisFailover(
            shared.client,
            location=shared.location,
            purpose="circuit breakers",
            timeout_seconds=shared.timeout_seconds,
            retry_seconds=retry_seconds,
            **options,
        )

    @property
    def degraded(self) -> str | None:
        """Why breakers are in this process now (None: in Redis)."""
        return self.failover.degraded

    @property
    def listeners(self) -> list[FailoverListener]:
        return self.failover.listeners

    async def check(self) -> bool:
        """Ping Redis (start-up); on failure move to memory now. True when Redis answered."""
        return await self.failover.check()

    async def acquire(
        self, name: str, rules: CircuitBreaker, now: float, *, past_hold: bool = False
    ) -> tuple[Permit, list[Transition]]:
        return await self.failover.run(
            lambda: self.redis.acquire(name, rules, now, past_hold=past_hold),
            lambda: self.local.acquire(name, rules, now, past_hold=past_hold),
        )

    async def record(
        self, name: str, rules: CircuitBreaker, permit: Permit, outcome: Outcome, *, slow: bool, now: float
    ) -> list[Transition]:
        return await self.failover.run(
            lambda: self.redis.record(name, rules, permit, outcome, slow=slow, now=now),
            lambda: self.local.record(name, rules, permit, outcome, slow=slow, now=now),
        )

    async def hold(self, name: str, rules: CircuitBreaker, seconds: float, now: float) -> bool:
        return await self.failover.run(
            lambda: self.redis.hold(name, rules, seconds, now), lambda: self.local.hold(name, rules, seconds, now)
        )

    async def read(self, name: str) -> BreakerRecord | None:
        return await self.failover.run(lambda: self.redis.read(name), lambda: self.local.read(name))

    async def names(self) -> list[str]:
        return await self.failover.run(self.redis.names, self.local.names)

    async def aclose(self) -> None:
        await self.failover.aclose()
