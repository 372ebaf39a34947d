"""Redis is a side service: /ask never fails because of it, and only managers see where it is.

A Redis that hangs is a TCP server that accepts and never answers. A Redis that stops
mid-run is a private ``redis-server`` (``private_redis``) killed and started again:
the shared Redis of other tests is never touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import hikari
import pytest
import pytest_asyncio

from intelbot import LLMRequest, TurnContext, hookimpl
from intelbot.testing.discord import DiscordHarness, SlashResult
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.kernels import loaded_plugin
from intelbot.testing.redis_server import PrivateRedis
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin

pytestmark = pytest.mark.redis

PRICED_ECHO = {
    "models": {"echo": {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}},
    "llm": {"max_tokens": 8},
}


def answered(result: SlashResult) -> bool:
    return bool(result.contents) and result.contents[0].startswith("Echo:")


def metric(discord: DiscordHarness, name: str) -> float:
    return discord.kernel.metrics.get_sample_value(name, {}) or 0.0


@pytest_asyncio.fixture
async def hanging_redis() -> AsyncIterator[str]:
    """The URL of a "Redis" that accepts connections and never answers a command."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_ask_is_deferred_at_once_and_answered_while_the_rate_limit_redis_hangs(
    make_kernel, make_discord, hanging_redis: str
) -> None:
    discord = await make_discord(await make_kernel(), rate_limit_redis_url=hanging_redis, rate_limit_requests=2)

    first = await discord.slash("ask", question="is anyone there", within=10)
    second = await discord.slash("ask", question="still there")
    third = await discord.slash("ask", question="once more")

    assert first.deferred and first.ack_seconds is not None and first.ack_seconds < 1.0  # before any Redis wait
    assert answered(first) and answered(second)
    assert "too quickly" in third.text  # the window is kept in this process meanwhile: still enforced
    assert metric(discord, "intelbot_discord_rate_limit_store_degraded") == 1


class Gate:
    """Holds calls in ``before_llm_call`` (after the guards reserved their worst case) until ``opened``."""

    name = "gate"

    def __init__(self) -> None:
        self.waiting = 0
        self.expected = 0
        self.all_arrived = asyncio.Event()
        self.opened = asyncio.Event()
        self.opened.set()

    def hold(self, calls: int) -> None:
        """Hold the next ``calls`` calls; ``all_arrived`` is set once they all wait."""
        self.opened.clear()
        self.all_arrived.clear()
        self.expected = self.waiting + calls

    @hookimpl(tryfirst=True)
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        self.waiting += 1
        if self.waiting >= self.expected:
            self.all_arrived.set()
        await self.opened.wait()


def shared_state_settings(redis_url: str, **spending: Any) -> dict[str, Any]:
    return {
        **PRICED_ECHO,
        "spending": {"redis_url": redis_url, "redis_prefix": "intelbot-test:spend", **spending},
        "plugins": {"circuit_breaker": {"redis_url": redis_url, "redis_prefix": "intelbot-test:breaker"}},
    }


async def test_no_ask_fails_when_redis_stops_mid_run_and_state_returns_to_it(
    make_kernel, make_discord, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    kernel = await make_kernel(
        plugins=[gate, CircuitBreakerPlugin.configured()],
        settings=shared_state_settings(private_redis.url, daily_user_cap_usd=1000.0),
    )
    breaker = loaded_plugin(kernel, CircuitBreakerPlugin)
    discord = await make_discord(
        kernel, rate_limit_redis_url=private_redis.url, rate_limit_requests=100, daily_guild_cap_usd=1000.0
    )
    assert breaker.breakers is not None
    failovers = {
        "discord rate limits": discord.frontend.rate_failover,
        "spend reservations": discord.frontend.guards.spending.failover,
        "circuit breakers": breaker.breakers.store.failover,  # type: ignore[attr-defined]
    }
    users = [discord.member(900 + n) for n in range(4)]
    results: list[SlashResult] = []

    async def asks(question: str) -> list[SlashResult]:
        done = await asyncio.gather(*(discord.slash("ask", question=question, user=user) for user in users))
        results.extend(done)
        return list(done)

    with caplog.at_level(logging.INFO, logger="intelbot.redis_failover"):
        assert all(answered(result) for result in await asks("while Redis answers"))
        assert all(failover is not None and failover.degraded is None for failover in failovers.values())

        gate.hold(len(users))  # calls in flight, their reservations and permits taken in Redis...
        in_flight = asyncio.create_task(asks("in flight when Redis stops"))
        await asyncio.wait_for(gate.all_arrived.wait(), 10)
        await private_redis.stop()  # ...when Redis goes away
        gate.opened.set()
        assert all(answered(result) for result in await in_flight)
        assert all(answered(result) for result in await asks("while Redis is gone"))
        assert all(failover is not None and failover.degraded is not None for failover in failovers.values())
        assert metric(discord, "intelbot_discord_rate_limit_store_degraded") == 1
        assert metric(discord, "intelbot_spending_store_degraded") == 1
        assert metric(discord, "intelbot_breaker_store_degraded") == 1

        owner = discord.member(1, permissions=hikari.Permissions.MANAGE_GUILD)
        member_health = (await discord.slash("health", user=users[0])).text
        manager_health = (await discord.slash("health", user=owner)).text
        assert f"127.0.0.1:{private_redis.port}" not in member_health and "rate limits" not in member_health
        assert f"rate limits: IN-PROCESS, Redis at 127.0.0.1:{private_redis.port}/0 unreachable" in manager_health
        assert f"spend reservations: IN-PROCESS, Redis at 127.0.0.1:{private_redis.port}/0" in manager_health
        assert "breaker store: IN-PROCESS" in member_health

        await private_redis.start()
        for failover in failovers.values():
            assert failover is not None
            failover.retry_seconds = 0.0  # try Redis again at the next operation
        assert all(answered(result) for result in await asks("Redis is back"))
        assert all(failover is not None and failover.degraded is None for failover in failovers.values())
        assert metric(discord, "intelbot_spending_store_degraded") == 0

    lines = [record.getMessage() for record in caplog.records if record.name == "intelbot.redis_failover"]
    for purpose in failovers:
        assert sum(line.startswith(f"{purpose}: ") and "unreachable" in line for line in lines) == 1, lines
        assert sum(line.startswith(f"{purpose}: ") and "answers again" in line for line in lines) == 1, lines
    assert len(results) == 4 * len(users) and all(answered(result) for result in results)
    await kernel.ledger.flush()
    assert (await kernel.ledger.summary(guild_id=DEFAULT_GUILD)).calls == len(results)  # every answer recorded
    assert all(count == 0 for count in (await kernel.stats())["kernel"]["plugin_failures"].values())


async def test_health_shows_the_breakers_redis_location_only_to_managers(
    make_kernel, make_discord, private_redis: PrivateRedis
) -> None:
    kernel = await make_kernel(
        plugins=[CircuitBreakerPlugin.configured()], settings=shared_state_settings(private_redis.url)
    )
    discord = await make_discord(kernel)
    await discord.slash("ask", question="so the breaker exists")

    member = (await discord.slash("health", user=discord.member(950))).text
    admin = discord.member(951, permissions=hikari.Permissions.MANAGE_GUILD)
    manager = (await discord.slash("health", user=admin)).text

    assert "breaker store: Redis (shared with replicas)" in member
    for detail in (f"127.0.0.1:{private_redis.port}", f":{private_redis.port}", "/0"):
        assert detail not in member
    assert f"breaker store: Redis at 127.0.0.1:{private_redis.port}/0 (shared with replicas)" in manager
    assert f"spend reservations: Redis at 127.0.0.1:{private_redis.port}/0" in manager
