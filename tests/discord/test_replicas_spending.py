"""Two replicas on one PostgreSQL and one Redis near a guild's cap: only the calls that fit are answered.

The database is a fresh one in the local PostgreSQL (``INTELBOT_TEST_POSTGRES_URL``),
dropped afterwards; Redis is a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from intelbot import LLMRequest, TurnContext, hookimpl
from intelbot.spending import worst_case_cost_of_ask
from intelbot.testing.discord import SlashResult
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

POSTGRES_URL = os.environ.get("INTELBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
QUESTION = "how much is this"


@pytest_asyncio.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A new database in the local PostgreSQL for this test only, dropped afterwards."""
    name = f"intelbot_test_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class Gate:
    """Holds every call that got past the guards until ``opened``; ``arrived`` counts them."""

    name = "gate"

    def __init__(self, progress: asyncio.Event) -> None:
        self.arrived = 0
        self.opened = asyncio.Event()
        self.progress = progress

    @hookimpl(tryfirst=True)
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        self.arrived += 1
        self.progress.set()
        await self.opened.wait()


def answered(result: SlashResult) -> bool:
    return bool(result.contents) and result.contents[0].startswith("Echo:")


def refused_for_spending(result: SlashResult) -> bool:
    return [m.ephemeral for m in result.messages] == [True] and "daily spending cap" in result.messages[0].content


@pytest.mark.parametrize("discord_mode", ["interactions"])
async def test_two_replicas_near_the_cap_answer_only_the_calls_that_fit(
    make_kernel, make_discord, fresh_database: str, private_redis: PrivateRedis
) -> None:
    settings = {
        "database_url": fresh_database,
        "models": {"echo": {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}},
        "llm": {"max_tokens": 8},
        "spending": {"redis_url": private_redis.url},
    }
    progress = asyncio.Event()  # set when a call reaches a gate or a command finishes
    gates = [Gate(progress), Gate(progress)]
    kernels = [await make_kernel(plugins=[gate], settings=settings) for gate in gates]
    worst = await worst_case_cost_of_ask(kernels[0], QUESTION)
    fit = 3
    cap = fit * worst + worst / 2
    replicas = [await make_discord(kernel, daily_guild_cap_usd=cap, rate_limit_requests=0) for kernel in kernels]
    callers = 8

    async def ask(n: int) -> SlashResult:
        try:
            return await replicas[n % 2].slash("ask", question=QUESTION, user=replicas[n % 2].member(600 + n))
        finally:
            progress.set()

    tasks = [asyncio.create_task(ask(n)) for n in range(callers)]
    try:
        async with asyncio.timeout(20):
            while sum(gate.arrived for gate in gates) + sum(task.done() for task in tasks) < callers:
                await progress.wait()
                progress.clear()
        held = sum(gate.arrived for gate in gates)
    finally:
        for gate in gates:
            gate.opened.set()
    results = await asyncio.gather(*tasks)

    assert held == fit  # with reservations in each process, each replica would have let `fit` through
    assert sum(answered(result) for result in results) == fit
    assert sum(refused_for_spending(result) for result in results) == callers - fit
    for kernel in kernels:
        await kernel.ledger.flush()
    seen = [await kernel.ledger.summary(guild_id=DEFAULT_GUILD) for kernel in kernels]
    assert [summary.calls for summary in seen] == [fit, fit]  # one ledger: both replicas see every call
    assert seen[0].cost_usd <= cap
