"""The usage ledger is exact under concurrency, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from intelbot import LLMResponse, TurnContext, Usage
from intelbot.data.ledger import UsageLedger
from intelbot.data.tables import TurnRecord, UsageEntry
from intelbot.kernel import KERNEL_SCHEMA
from intelbot.testing.kernels import KernelFactory


async def _two_hundred_concurrent_turns(make_kernel: KernelFactory, database_url: str | None) -> None:
    settings = {"providers": {"echo": {"latency_ms": 2}}}
    if database_url:
        settings["database_url"] = database_url  # type: ignore[assignment]
    kernel = await make_kernel(settings=settings)
    questions = [f"question number {index} " + "word " * (index % 7) for index in range(200)]
    responses = await asyncio.gather(
        *(
            kernel.ask(question, TurnContext(guild_id=index % 3, user_id=index))
            for index, question in enumerate(questions)
        )
    )
    await kernel.ledger.flush()
    async with kernel.database.session() as session:
        rows, input_tokens, output_tokens = (
            await session.execute(
                select(func.count(UsageEntry.id), func.sum(UsageEntry.input_tokens), func.sum(UsageEntry.output_tokens))
            )
        ).one()
        turns = (await session.execute(select(func.count(TurnRecord.id)))).scalar_one()
        distinct_requests = (
            await session.execute(select(func.count(func.distinct(UsageEntry.request_id))))
        ).scalar_one()
    assert rows == 200 and turns == 200 and distinct_requests == 200
    assert input_tokens == sum(response.usage.input_tokens for response in responses)
    assert output_tokens == sum(response.usage.output_tokens for response in responses)
    guild_zero = await kernel.ledger.summary(guild_id=0, since=datetime.now(UTC) - timedelta(hours=1))
    expected = [response for index, response in enumerate(responses) if index % 3 == 0]
    assert guild_zero.calls == len(expected)
    assert guild_zero.tokens == sum(response.usage.total_tokens for response in expected)


async def test_ledger_is_exact_under_200_concurrent_turns_on_sqlite(make_kernel: KernelFactory) -> None:
    await _two_hundred_concurrent_turns(make_kernel, None)


async def test_ledger_is_exact_under_200_concurrent_turns_on_postgresql(
    make_kernel: KernelFactory, postgres_url: str
) -> None:
    await _two_hundred_concurrent_turns(make_kernel, postgres_url)


async def test_summary_counts_rows_not_yet_written(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    ledger = UsageLedger(kernel.database)  # never started: rows stay in its buffer until flush()
    response = LLMResponse(text="x", model="echo", provider="echo", usage=Usage(100, 50), cost_usd=0.25)
    ledger.record_call(response, TurnContext(guild_id=9))
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with kernel.database.session() as session:
        assert (await session.execute(select(func.count(UsageEntry.id)))).scalar_one() == 0
    assert await ledger.spent_usd(guild_id=9, since=since) == pytest.approx(0.25)
    assert await ledger.spent_usd(guild_id=8, since=since) == 0
    await ledger.flush()
    async with kernel.database.session() as session:
        assert (await session.execute(select(func.count(UsageEntry.id)))).scalar_one() == 1
    assert (await ledger.summary(guild_id=9, since=since)).tokens == 150  # counted once, not twice


async def test_schema_versions_are_recorded_and_migration_is_idempotent(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    # the kernel is at its schema version (3: KERNEL_SCHEMA's steps); a shorter list never moves it back
    assert await kernel.database.migrate("kernel", [lambda connection: None]) == len(KERNEL_SCHEMA) == 3
    calls: list[int] = []
    steps = [lambda connection: calls.append(1), lambda connection: calls.append(2)]
    assert await kernel.database.migrate("sample", steps) == 2
    assert await kernel.database.migrate("sample", steps) == 2
    assert calls == [1, 2]
