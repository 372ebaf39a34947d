"""A row the database refuses never blocks the others (issue 9, item 3), shown on PostgreSQL."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from intelbot import LLMResponse, TurnContext, Usage
from intelbot.data.database import Database
from intelbot.data.ledger import UsageLedger, sanitised_text
from intelbot.data.tables import LedgerDeadLetter, TurnRecord, UsageEntry
from intelbot.errors import ErrorCategory, IntelbotError
from intelbot.kernel import Kernel
from intelbot.spending import SpendingCap, SpendScope, ask_within_cap, ledger_spent, worst_case_cost_of_ask
from intelbot.testing.kernels import KernelFactory

pytestmark = pytest.mark.postgres


def response(input_tokens: int = 10, text: str = "an answer") -> LLMResponse:
    return LLMResponse(text=text, model="echo", provider="echo", usage=Usage(input_tokens, 5), cost_usd=0.01)


async def count(kernel: Kernel, column: object) -> int:
    async with kernel.database.session() as session:
        return int((await session.execute(select(func.count(column)))).scalar_one())  # type: ignore[call-overload]


def dead_letter_metric(kernel: Kernel, table: str) -> float:
    return kernel.metrics.get_sample_value("intelbot_ledger_dead_letters_total", {"table": table}) or 0.0


async def test_a_row_postgresql_refuses_is_dead_lettered_and_every_other_row_is_written(
    make_kernel: KernelFactory, postgres_url: str
) -> None:
    kernel = await make_kernel(settings={"database_url": postgres_url})
    ledger = kernel.ledger
    contexts = [TurnContext(guild_id=3, user_id=index) for index in range(40)]
    for index, ctx in enumerate(contexts):
        # 2**31 tokens does not fit the column (int32): PostgreSQL refuses that row, whatever sanitising does
        ledger.record_call(response(input_tokens=2**31 if index == 17 else 10), ctx)
    await ledger.flush()
    assert await count(kernel, UsageEntry.id) == 39
    async with kernel.database.session() as session:
        (letter,) = (await session.execute(select(LedgerDeadLetter))).scalars().all()
    assert letter.kind == "usage_ledger"
    assert letter.request_id == contexts[17].request_id
    assert "int32" in letter.reason
    payload = json.loads(letter.payload)
    assert payload["input_tokens"] == 2**31 and payload["user_id"] == 17 and payload["cost_usd"] == 0.01
    assert dead_letter_metric(kernel, "usage_ledger") == 1
    assert any("1 rows refused" in line for line in await kernel.health())

    # the writer is not stuck: later rows are written, and the refused one is not retried
    ledger.record_call(response(), TurnContext(guild_id=3, user_id=99))
    await ledger.flush()
    assert await count(kernel, UsageEntry.id) == 40
    assert await count(kernel, LedgerDeadLetter.id) == 1
    since = datetime.now(UTC) - timedelta(hours=1)
    # 40 written + 1 dead-lettered (a paid call all the same), each counted once: nothing left in the buffer twice
    assert (await ledger.summary(guild_id=3, since=since)).calls == 41


async def test_text_postgresql_refuses_is_sanitised_and_the_turn_is_logged(
    make_kernel: KernelFactory, postgres_url: str
) -> None:
    kernel = await make_kernel(settings={"database_url": postgres_url})
    question = "print a NUL: \x00 and a lone surrogate: \ud800 please"
    answered = await kernel.ask(question, TurnContext(guild_id=4, frontend="discord"))
    await kernel.ledger.flush()
    async with kernel.database.session() as session:
        (turn,) = (await session.execute(select(TurnRecord))).scalars().all()
    assert turn.question == "print a NUL: \ufffd and a lone surrogate: \ufffd please"
    assert "\x00" not in turn.answer and "\ufffd" in turn.answer and answered.text  # the echo repeats it
    assert await count(kernel, UsageEntry.id) == 1
    assert await count(kernel, LedgerDeadLetter.id) == 0


def test_sanitised_text_cuts_to_the_column_and_leaves_clean_text_alone() -> None:
    assert sanitised_text("a\x00b", 10) == "a\ufffdb"
    assert sanitised_text("x" * 200, 128) == "x" * 128
    assert sanitised_text("ordinary text, émoji 🎉") == "ordinary text, émoji 🎉"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_database_keeps_rows_buffered_up_to_the_bound_and_says_so() -> None:
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nowhere")
    ledger = UsageLedger(database, max_buffered=10)  # never started: only flush() writes
    try:
        for index in range(15):
            ledger.record_call(response(), TurnContext(guild_id=1, user_id=index))
        with pytest.raises(OSError):
            await ledger.flush()
        assert ledger.dead_letters == 0  # a database that cannot be reached refuses no row
        assert ledger.dropped == 5
        assert (
            ledger.metrics.registry.get_sample_value("intelbot_ledger_dropped_rows_total", {"table": "usage_ledger"})
            == 5
        )
        assert (
            ledger.metrics.registry.get_sample_value("intelbot_ledger_buffered_rows", {"table": "usage_ledger"}) == 10
        )
        (line,) = ledger.health_lines()
        assert "buffer FULL" in line and "5 rows dropped" in line
    finally:
        await database.dispose()


async def test_a_dead_lettered_call_still_counts_toward_the_daily_caps(
    make_kernel: KernelFactory, postgres_url: str
) -> None:
    """A paid call whose ledger row PostgreSQL refused is still spend: every cap (guild, user) counts it."""
    prices = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}
    settings = {"database_url": postgres_url, "models": {"echo": prices}, "llm": {"max_tokens": 8}}
    probe = await make_kernel(settings=settings)
    worst = await worst_case_cost_of_ask(probe, "how much")
    kernel = await make_kernel(settings=settings)
    spent = ledger_spent(kernel.ledger)
    cap = SpendingCap(1.5 * worst, spent, user_cap_usd=1.5 * worst, settle=kernel.ledger.flush)
    paid = LLMResponse(text="x", model="echo", provider="echo", usage=Usage(2**31, 5), cost_usd=worst)
    kernel.ledger.record_call(paid, TurnContext(guild_id=5, user_id=7))
    await kernel.ledger.flush()
    assert await count(kernel, LedgerDeadLetter.id) == 1 and await count(kernel, UsageEntry.id) == 0

    since = datetime.now(UTC) - timedelta(hours=1)
    assert await spent(SpendScope("guild", 5), since) == pytest.approx(worst)
    assert await spent(SpendScope("user", 7), since) == pytest.approx(worst)
    assert await spent(SpendScope("guild", 6), since) == 0.0
    assert await spent(SpendScope("user", 7), datetime.now(UTC) + timedelta(seconds=1)) == 0.0
    refused = await kernel.ledger.summary(guild_id=5, since=since)
    assert (refused.calls, refused.input_tokens, refused.output_tokens) == (1, 2**31, 5)

    for ctx in (TurnContext(guild_id=5, user_id=8), TurnContext(guild_id=None, user_id=7)):  # each cap alone
        with pytest.raises(IntelbotError) as refusal:
            await ask_within_cap(kernel, cap, "how much", ctx)
        assert refusal.value.category is ErrorCategory.BUDGET_EXCEEDED
    assert (await ask_within_cap(kernel, cap, "how much", TurnContext(guild_id=6, user_id=9))).text  # others answer
