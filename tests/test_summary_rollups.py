"""The summary read from ``ledger_rollups`` equals the one recomputed from every row, on SQLite and PostgreSQL.

Rows are written through the ledger's own writer (so the rollups are kept the way they
are in service), at instants chosen on both sides of the boundaries the summary cuts at:
midnight UTC, the hour, the minute, the first bucket of the hour and day series; with
and without a guild, from the provider and the cache.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

import intelbot.data.ledger as ledger_module
from intelbot import LLMResponse, TurnContext, Usage
from intelbot.contract import Source
from intelbot.data.rollups import BACKFILL
from intelbot.data.tables import LedgerRollup
from intelbot.kernel import Kernel
from intelbot.summary import build_summary, recomputed_ledger_figures
from intelbot.testing.kernels import KernelFactory

NOW = datetime(2026, 12, 3, 9, 30, 15, 500_000, tzinfo=UTC)
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
DURABLE = ("turns", "calls", "tokens", "cost_usd", "cache", "guilds", "series")
INSTANTS = (
    MIDNIGHT - timedelta(microseconds=1),  # yesterday: in the totals only
    MIDNIGHT,  # today's first instant
    MIDNIGHT - timedelta(hours=9),  # just before the day series' first hour (00:30 yesterday is inside)
    NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23, microseconds=1),
    NOW.replace(second=0, microsecond=0) - timedelta(minutes=59),  # the hour series' first minute
    NOW.replace(second=0, microsecond=0) - timedelta(minutes=59, microseconds=1),  # just before it
    NOW.replace(second=59, microsecond=999_999) - timedelta(minutes=1),
    NOW - timedelta(days=40),
    NOW,
)


class _Clock:
    """Stands in for ``datetime`` in the ledger module, so rows get chosen ``created_at`` instants."""

    at = NOW

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        return cls.at


def _record(kernel: Kernel, index: int) -> None:
    source = Source.CACHE if index % 4 == 0 else Source.PROVIDER
    response = LLMResponse(
        text="an answer",
        model="primary",
        provider="openai" if source is Source.PROVIDER else "semantic_cache",
        usage=Usage(input_tokens=10 + index % 17, output_tokens=20 + index % 5),
        source=source,
        cost_usd=0.0 if source is Source.CACHE else 0.000_137 * (1 + index % 7),
    )
    guild = None if index % 5 == 0 else 900_000_000_000_000_000 + index % 6
    ctx = TurnContext(guild_id=guild, user_id=index % 9, channel_id=7)
    kernel.ledger.record_call(response, ctx)
    if index % 3:  # some calls are not answered turns (a retry, a failed attempt)
        kernel.ledger.record_turn("a question", response, ctx)


async def _write_spread_rows(kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "datetime", _Clock)
    index = 0
    for instant in INSTANTS:
        for _ in range(7):
            _Clock.at = instant
            _record(kernel, index)
            index += 1
        await kernel.ledger.flush()  # several transactions, so rollup rows are added to, not only inserted
    monkeypatch.undo()


async def _check(make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch, database_url: str | None) -> None:
    kernel = await make_kernel(settings={"database_url": database_url} if database_url else {})
    await _write_spread_rows(kernel, monkeypatch)
    served = await build_summary(kernel, now=NOW, top_guilds=4)
    recomputed = await recomputed_ledger_figures(kernel, NOW, MIDNIGHT, 4)
    assert served["turns"]["total"] == sum(1 for index in range(len(INSTANTS) * 7) if index % 3)
    assert served["cost_usd"]["today"] > 0 and served["cost_usd"]["total"] > served["cost_usd"]["today"]
    assert any(point["turns"] for point in served["series"]["hour"])
    assert len(served["guilds"]) == 4
    for key in DURABLE:
        assert served[key] == recomputed[key], key

    # the backfill (migration step of a database written before the rollups) rebuilds the same rollups
    async with kernel.database.engine.begin() as connection:
        await connection.execute(delete(LedgerRollup))
    assert (await build_summary(kernel, now=NOW))["turns"]["total"] == 0
    async with kernel.database.engine.begin() as connection:
        await connection.run_sync(BACKFILL)
        rollup_rows = (await connection.execute(select(func.count(LedgerRollup.id)))).scalar_one()
    assert rollup_rows > 0
    rebuilt = await build_summary(kernel, now=NOW, top_guilds=4)
    for key in DURABLE:
        assert rebuilt[key] == recomputed[key], key


async def test_rollup_summary_equals_recomputed_on_sqlite(
    make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _check(make_kernel, monkeypatch, None)


async def test_rollup_summary_equals_recomputed_on_postgresql(
    make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    await _check(make_kernel, monkeypatch, postgres_url)
