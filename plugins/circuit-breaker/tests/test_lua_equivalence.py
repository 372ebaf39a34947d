"""The Redis store's Lua scripts and state_machine.py are one state machine: random sequences of changes agree.

Each sequence runs the same changes, at the same times, on a :class:`MemoryBreakerStore`
(state_machine.py) and a :class:`RedisBreakerStore` (the Lua scripts, in the test Redis under
a unique prefix); after every change the results, the transitions and the records must match.
"""

from __future__ import annotations

import random

import pytest

from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import BreakerRecord, CircuitBreaker, Outcome, Permit
from intelbot_circuit_breaker.store import MemoryBreakerStore, RedisBreakerStore

pytestmark = pytest.mark.redis

CONFIGS = {
    "count": BreakerSettings(
        window_size=6, minimum_calls=4, failure_rate_threshold=0.5, slow_call_rate_threshold=0.75,
        wait_in_open_seconds=5.0, wait_growth_factor=2.0, max_wait_in_open_seconds=40.0,
        growth_memory_seconds=60.0, half_open_probes=2, max_wait_in_half_open_seconds=8.0,
    ),
    "time": BreakerSettings(
        window_type="time", window_size=10, minimum_calls=3, failure_rate_threshold=0.34,
        wait_in_open_seconds=3.0, wait_growth_factor=3.0, max_wait_in_open_seconds=50.0,
        half_open_probes=1, max_wait_in_half_open_seconds=4.0,
    ),
}  # fmt: skip


def comparable(record: BreakerRecord | None) -> object:
    """A record as plain data with empty containers normalised (Lua writes an empty list as {})."""
    if record is None:
        return None
    data = BreakerRecord.from_json(record.to_json()).to_json()
    for key in ("outcomes", "buckets"):
        if key in data["window"] and not data["window"][key]:
            data["window"][key] = None
    return data


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize("seed", range(4))
async def test_lua_and_python_agree_on_random_changes(kind: str, seed: int, redis_url: str, redis_prefix: str) -> None:
    rules = CircuitBreaker(CONFIGS[kind])
    memory, redis = MemoryBreakerStore(), RedisBreakerStore(redis_url, prefix=redis_prefix)
    rng = random.Random(seed)
    now = 1_000_000.0
    permits: list[Permit] = [Permit(granted=True)]
    transitions_seen = 0
    try:
        for step in range(250):
            now += rng.choice([0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 7.0])
            name = rng.choice(["openai/a", "anthropic/b"])
            action = rng.random()
            if action < 0.35:
                past_hold = rng.random() < 0.1
                expected = await memory.acquire(name, rules, now, past_hold=past_hold)
                got = await redis.acquire(name, rules, now, past_hold=past_hold)
                if expected[0].granted:
                    permits.append(expected[0])
            elif action < 0.9:
                permit = rng.choice(permits[-4:])
                outcome = rng.choice([Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE, Outcome.IGNORED])
                slow = rng.random() < 0.3
                expected = await memory.record(name, rules, permit, outcome, slow=slow, now=now)
                got = await redis.record(name, rules, permit, outcome, slow=slow, now=now)
            else:
                seconds = rng.choice([0.5, 2.0, 100.0])
                expected = await memory.hold(name, rules, seconds, now)
                got = await redis.hold(name, rules, seconds, now)
            assert got == expected, f"step {step}"
            transitions_seen += (
                len(expected[1])
                if isinstance(expected, tuple)
                else (len(expected) if isinstance(expected, list) else 0)
            )
            for each in ("openai/a", "anthropic/b"):
                assert comparable(await redis.read(each)) == comparable(await memory.read(each)), f"step {step}"
        assert await redis.names() == await memory.names()
        assert transitions_seen >= 10  # the sequences did go through the states
    finally:
        await redis.aclose()
