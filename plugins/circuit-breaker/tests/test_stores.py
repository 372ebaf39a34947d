"""Breaker stores: in process and in the test Redis (``INTELBOT_TEST_REDIS_URL``), with unique key prefixes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from intelbot.testing.clock import ManualClock
from intelbot_circuit_breaker.breakers import Breakers
from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import BreakerState, Outcome, Permit
from intelbot_circuit_breaker.store import BreakerStore, FailoverBreakerStore, MemoryBreakerStore, RedisBreakerStore

CONFIG = BreakerSettings(window_size=100, minimum_calls=100, wait_in_open_seconds=30.0, half_open_probes=1)


@pytest_asyncio.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_url: str, redis_prefix: str) -> AsyncIterator[BreakerStore]:
    made: BreakerStore = (
        MemoryBreakerStore() if request.param == "memory" else RedisBreakerStore(redis_url, prefix=redis_prefix)
    )
    yield made
    await made.aclose()


async def test_concurrent_records_are_all_counted(store: BreakerStore, clock: ManualClock) -> None:
    breakers = Breakers(CONFIG, store, clock=clock)
    permit = Permit(granted=True)
    await asyncio.gather(*(breakers.record("openai/gpt", permit, Outcome.FAILURE) for _ in range(40)))
    view = await breakers.view("openai/gpt")
    assert (view.totals.calls, view.totals.failures) == (40, 40)
    assert await store.names() == ["openai/gpt"]


async def test_only_one_probe_is_granted_among_concurrent_callers(store: BreakerStore, clock: ManualClock) -> None:
    breakers = Breakers(BreakerSettings(window_size=4, minimum_calls=4, wait_in_open_seconds=30.0), store, clock=clock)
    for _ in range(4):
        await breakers.record("openai/gpt", Permit(granted=True), Outcome.FAILURE)
    assert (await breakers.view("openai/gpt")).state is BreakerState.OPEN
    clock.advance(30)
    permits = await asyncio.gather(*(breakers.acquire("openai/gpt") for _ in range(10)))
    assert sum(permit.granted for permit in permits) == 1
    assert (await breakers.view("openai/gpt")).state is BreakerState.HALF_OPEN


async def test_two_processes_share_one_breaker_through_redis(
    redis_url: str, redis_prefix: str, clock: ManualClock
) -> None:
    config = BreakerSettings(window_size=4, minimum_calls=4, wait_in_open_seconds=30.0)
    first = RedisBreakerStore(redis_url, prefix=redis_prefix)
    second = RedisBreakerStore(redis_url, prefix=redis_prefix)
    elsewhere = RedisBreakerStore(redis_url, prefix=f"{redis_prefix}-other")
    try:
        one, two, other = (Breakers(config, item, clock=clock) for item in (first, second, elsewhere))
        for breakers in (one, two, one, two):  # failures from both replicas fill one window
            await breakers.record("anthropic/haiku", Permit(granted=True), Outcome.FAILURE)
        assert await two.is_rejecting("anthropic/haiku")
        assert not (await two.acquire("anthropic/haiku")).granted
        assert not await other.is_rejecting("anthropic/haiku")  # another prefix is another deployment
        clock.advance(30)
        assert (await one.acquire("anthropic/haiku")).probe
        assert not (await two.acquire("anthropic/haiku")).granted  # the one probe is out
    finally:
        for item in (first, second, elsewhere):
            await item.aclose()


async def test_failover_store_moves_to_memory_when_redis_is_unreachable(closed_port: int, clock: ManualClock) -> None:
    store = FailoverBreakerStore(RedisBreakerStore(f"redis://127.0.0.1:{closed_port}/0", prefix="unused"))
    reasons: list[str] = []
    store.listeners.append(reasons.append)
    try:
        breakers = Breakers(BreakerSettings(window_size=2, minimum_calls=2), store, clock=clock)
        for _ in range(2):  # no check() first: the errors come at run time and are not raised
            await breakers.record("openai/gpt", Permit(granted=True), Outcome.FAILURE)
        assert (await breakers.view("openai/gpt")).state is BreakerState.OPEN
        assert await store.names() == ["openai/gpt"]
        assert reasons == [f"Redis at 127.0.0.1:{closed_port}/0 unreachable (ConnectionError)"]
        assert store.degraded == reasons[0]
        assert not await store.check()
    finally:
        await store.aclose()


async def test_failover_store_uses_redis_while_it_answers(redis_url: str, redis_prefix: str) -> None:
    store = FailoverBreakerStore(RedisBreakerStore(redis_url, prefix=redis_prefix))
    other = RedisBreakerStore(redis_url, prefix=redis_prefix)
    try:
        assert await store.check()
        breakers = Breakers(BreakerSettings(window_size=2, minimum_calls=2), store)
        await breakers.record("openai/gpt", Permit(granted=True), Outcome.FAILURE)
        assert await other.names() == ["openai/gpt"]  # written to Redis, visible to another process
        assert store.degraded is None
    finally:
        await store.aclose()
        await other.aclose()
