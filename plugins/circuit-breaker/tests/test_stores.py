"""Breaker stores: in process and in the local Redis (127.0.0.1:6379), with unique key prefixes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from intelbot_circuit_breaker.breaker import BreakerState, Outcome, Permit
from intelbot_circuit_breaker.breakers import Breakers
from intelbot_circuit_breaker.config import BreakerConfig
from intelbot_circuit_breaker.manual_clock import ManualClock
from intelbot_circuit_breaker.store import BreakerStore, MemoryBreakerStore, RedisBreakerStore

REDIS_URL = "redis://127.0.0.1:6379/0"

CONFIG = BreakerConfig(window_size=100, minimum_calls=100, wait_in_open_seconds=30.0, half_open_probes=1)


@pytest_asyncio.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[BreakerStore]:
    made: BreakerStore = (
        MemoryBreakerStore() if request.param == "memory" else RedisBreakerStore(REDIS_URL, prefix=redis_prefix)
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
    breakers = Breakers(BreakerConfig(window_size=4, minimum_calls=4, wait_in_open_seconds=30.0), store, clock=clock)
    for _ in range(4):
        await breakers.record("openai/gpt", Permit(granted=True), Outcome.FAILURE)
    assert (await breakers.view("openai/gpt")).state is BreakerState.OPEN
    clock.advance(30)
    permits = await asyncio.gather(*(breakers.acquire("openai/gpt") for _ in range(10)))
    assert sum(permit.granted for permit in permits) == 1
    assert (await breakers.view("openai/gpt")).state is BreakerState.HALF_OPEN


async def test_two_processes_share_one_breaker_through_redis(redis_prefix: str, clock: ManualClock) -> None:
    config = BreakerConfig(window_size=4, minimum_calls=4, wait_in_open_seconds=30.0)
    first = RedisBreakerStore(REDIS_URL, prefix=redis_prefix)
    second = RedisBreakerStore(REDIS_URL, prefix=redis_prefix)
    elsewhere = RedisBreakerStore(REDIS_URL, prefix=f"{redis_prefix}-other")
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
