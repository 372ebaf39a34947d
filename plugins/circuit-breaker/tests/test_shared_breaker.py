"""One breaker shared by replicas through Redis: concurrent writers never conflict, and Redis may come and go.

The hammering tests use the test Redis (``INTELBOT_TEST_REDIS_URL``) under a unique
prefix; the tests that stop Redis use a private ``redis-server`` (``private_redis``).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from intelbot.contract import TurnContext
from intelbot.testing.anthropic_server import AnthropicServer
from intelbot.testing.clock import ManualClock
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.openai_server import OpenAIServer
from intelbot.testing.redis_server import PrivateRedis
from intelbot_circuit_breaker.breakers import Breakers
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import BreakerState, Outcome, Permit
from intelbot_circuit_breaker.store import FailoverBreakerStore, RedisBreakerStore

pytestmark = pytest.mark.redis

NAME = "openai/gpt"


async def test_two_replicas_hammering_one_breaker_count_every_call_without_an_error(
    redis_url: str, redis_prefix: str, clock: ManualClock
) -> None:
    config = BreakerSettings(window_size=1000, minimum_calls=1000)
    stores = [RedisBreakerStore(redis_url, prefix=redis_prefix) for _ in range(2)]
    try:
        replicas = [Breakers(config, store, clock=clock) for store in stores]
        calls = [
            replica.record(NAME, Permit(granted=True), Outcome.FAILURE if n % 2 else Outcome.SUCCESS)
            for n in range(200)
            for replica in replicas
        ]
        await asyncio.gather(*calls)  # raises on the first error
        view = await replicas[0].view(NAME)
        assert (view.totals.calls, view.totals.failures) == (400, 200)
    finally:
        for store in stores:
            await store.aclose()


async def test_two_kernels_hammering_one_breaker_answer_every_turn_and_count_every_call(
    make_kernel: KernelFactory,
    clock: ManualClock,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    breaker = {"window_size": 500, "minimum_calls": 500}
    settings = {
        "llm": {"default_model": "primary", "timeout_seconds": 10.0, "turn_timeout_seconds": 60.0},
        "providers": {"openai": openai_server.provider_settings(), "anthropic": anthropic_server.provider_settings()},
        "models": {"primary": {"provider": "openai", "api_model": "gpt-4o-mini", "tier": "small"}},
        "plugins": {"circuit_breaker": {"breaker": breaker, "redis_url": redis_url, "redis_prefix": redis_prefix}},
    }
    kernels = [
        await make_kernel(plugins=[CircuitBreakerPlugin.configured(clock=clock)], settings=settings) for _ in range(2)
    ]
    plugins = [loaded_plugin(kernel, CircuitBreakerPlugin) for kernel in kernels]
    turns = 60
    answers = await asyncio.gather(
        *(kernel.ask(f"question {n}", TurnContext()) for n in range(turns) for kernel in kernels)
    )
    assert len(answers) == 2 * turns
    for kernel in kernels:
        assert all(count == 0 for count in (await kernel.stats())["kernel"]["plugin_failures"].values())
    assert plugins[0].breakers is not None
    view = await plugins[0].breakers.view("openai/primary")
    assert view.totals.calls == 2 * turns  # every call of both kernels, none lost to a conflict
    assert all(plugin.store_problem is None for plugin in plugins)


async def test_the_failover_store_returns_to_redis_when_it_answers_again(
    private_redis: PrivateRedis, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    monotonic = ManualClock(start=0.0)
    store = FailoverBreakerStore(
        RedisBreakerStore(private_redis.url, prefix="intelbot-test:breaker", timeout_seconds=0.5),
        retry_seconds=5.0,
        clock=monotonic,
    )
    changes: list[str | None] = []
    store.listeners.append(changes.append)
    breakers = Breakers(BreakerSettings(window_size=10, minimum_calls=10), store, clock=clock)
    try:
        assert await store.check()
        await breakers.record(NAME, Permit(granted=True), Outcome.FAILURE)
        with caplog.at_level(logging.INFO, logger="intelbot.redis_failover"):
            await private_redis.stop()
            await breakers.record(NAME, Permit(granted=True), Outcome.FAILURE)  # not raised: kept in memory
            await breakers.record(NAME, Permit(granted=True), Outcome.FAILURE)
            assert store.degraded is not None and (await breakers.view(NAME)).totals.calls == 2

            await private_redis.start()  # back, and empty
            await breakers.record(NAME, Permit(granted=True), Outcome.FAILURE)
            assert store.degraded is not None  # not tried again before retry_seconds
            monotonic.advance(5.0)
            await breakers.record(NAME, Permit(granted=True), Outcome.FAILURE)
        assert store.degraded is None
        assert changes == [f"Redis at 127.0.0.1:{private_redis.port}/0 unreachable (ConnectionError)", None]
        shared = RedisBreakerStore(private_redis.url, prefix="intelbot-test:breaker")
        try:
            record = await shared.read(NAME)
            assert record is not None and record.window.totals(clock()).calls == 1  # written to Redis again
        finally:
            await shared.aclose()
        lines = [record.getMessage() for record in caplog.records]
        assert len(lines) == 2  # one line when it left Redis, one when it came back
        assert "unreachable" in lines[0] and "answers again" in lines[1]
    finally:
        await store.aclose()


async def test_a_breaker_opened_in_redis_is_seen_by_a_replica_that_just_returned(
    private_redis: PrivateRedis, clock: ManualClock
) -> None:
    monotonic = ManualClock(start=0.0)
    config = BreakerSettings(window_size=2, minimum_calls=2, wait_in_open_seconds=30.0)
    returning = FailoverBreakerStore(
        RedisBreakerStore(private_redis.url, prefix="intelbot-test:breaker", timeout_seconds=0.5),
        retry_seconds=1.0,
        clock=monotonic,
    )
    other = RedisBreakerStore(private_redis.url, prefix="intelbot-test:breaker")
    try:
        await private_redis.stop()
        assert not await returning.check()
        await private_redis.start()
        opener = Breakers(config, other, clock=clock)
        for _ in range(2):
            await opener.record(NAME, Permit(granted=True), Outcome.FAILURE)
        monotonic.advance(1.0)
        replica = Breakers(config, returning, clock=clock)
        assert (await replica.acquire(NAME)).granted is False  # it reads the shared, open breaker
        assert (await replica.view(NAME)).state is BreakerState.OPEN
    finally:
        await returning.aclose()
        await other.aclose()
