"""Capture on the kernel's engine: timings per fingerprint, own statements never recorded, figures persisted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from intelbot_db_advisor.health import health
from intelbot_db_advisor.plugin import DbAdvisorPlugin
from intelbot_db_advisor.settings import DbAdvisorSettings

from .conftest import fill_postgres

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("guild_id", Integer))


async def _workload(kernel: Any) -> None:
    engine = kernel.database.engine
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(items), [{"guild_id": n % 5} for n in range(50)])
    async with engine.connect() as connection:
        await connection.execute(select(items).where(items.c.guild_id.in_([1, 2])))
        await connection.execute(select(items).where(items.c.guild_id.in_([1, 2, 3])))


def _items_selects(figures: dict[str, Any]) -> list[Any]:
    return [f for f in figures.values() if f.tables == ("items",) and f.kind == "select"]


async def test_statements_are_timed_per_fingerprint_and_in_lists_fold_together(make_kernel: Any) -> None:
    advisor = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0))
    kernel = await make_kernel(plugins=[advisor])
    await _workload(kernel)
    assert advisor.capture is not None
    selects = _items_selects(advisor.capture.fold())
    assert len(selects) == 1
    figures = selects[0]
    assert figures.calls == 2
    assert 0 < figures.max_seconds <= figures.total_seconds
    assert "IN (?)" in figures.text
    inserts = [f for f in advisor.capture.fold().values() if f.kind == "insert" and f.tables == ("items",)]
    assert inserts and inserts[0].rows == 50
    count = kernel.metrics.get_sample_value("intelbot_db_statement_seconds_count", {"kind": "select"})
    assert count is not None and count >= 2


async def test_the_advisors_own_statements_are_never_recorded(make_kernel: Any) -> None:
    advisor = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0))
    kernel = await make_kernel(plugins=[advisor])
    await _workload(kernel)
    assert advisor.capture is not None
    await advisor.flush()  # writes db_advisor_statements through the kernel's engine
    findings = await health(kernel.database.engine)  # PRAGMAs and sqlite_master reads
    assert {finding.check for finding in findings} >= {"analyze", "wal", "busy_timeout", "cache_size"}
    stored = await advisor.figures()
    assert _items_selects({f.fingerprint: f for f in stored})[0].calls == 2
    recorded = advisor.capture.fold()
    tables = {table for figures in recorded.values() for table in figures.tables}
    assert "db_advisor_statements" not in tables and "sqlite_master" not in tables
    assert not any("PRAGMA" in figures.text for figures in recorded.values())
    assert not any("db_advisor_statements" in figures.text for figures in stored)


async def test_captured_figures_outlive_the_process_that_captured_them(make_kernel: Any, tmp_path: Path) -> None:
    shared = {"data_dir": str(tmp_path / "shared")}
    first = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0))
    kernel = await make_kernel(plugins=[first], settings=shared)
    await _workload(kernel)
    await kernel.stop()  # shutdown writes what was captured
    second = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0))
    await make_kernel(plugins=[second], settings=shared)
    selects = _items_selects({f.fingerprint: f for f in await second.figures()})
    assert len(selects) == 1 and selects[0].calls == 2
    assert selects[0].sample_sql.startswith("SELECT")


async def test_report_on_sqlite_suggests_the_missing_index_for_captured_statements(make_kernel: Any) -> None:
    advisor = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0, repeats=3, min_total_ms=0))
    kernel = await make_kernel(plugins=[advisor])
    engine = kernel.database.engine
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(items), [{"guild_id": n % 1000} for n in range(150_000)])
    async with engine.connect() as connection:
        for guild in range(30):
            await connection.execute(select(items).where(items.c.guild_id == guild))
    report = await advisor.report()
    suggested = [(s.table, s.columns) for s in report.analysis.suggestions]
    assert ("items", ("guild_id",)) in suggested
    data = report.as_dict()
    assert data["pool"]["recommendation"] and data["health"]
    assert all("guild_id = 7" not in s["text"] for s in data["slow_statements"])


@pytest.mark.postgres
async def test_capture_and_report_on_postgresql(make_kernel: Any, postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    advisor = DbAdvisorPlugin(DbAdvisorSettings(flush_seconds=0, repeats=3, min_total_ms=0))
    kernel = await make_kernel(plugins=[advisor], settings={"database_url": postgres_url})
    async with kernel.database.engine.begin() as connection:
        await connection.execute(text("CREATE INDEX ix_memories_guild ON memories (guild_id)"))  # led by another
    async with kernel.database.engine.connect() as connection:
        for user in range(20):
            await connection.execute(text("SELECT * FROM ledger WHERE user_id = :user"), {"user": user})
    report = await advisor.report()
    assert [s.columns for s in report.analysis.suggestions if s.table == "ledger"] == [("user_id",)]
    assert report.analysis.suggestions[0].measured
    assert report.pool.max_connections is not None and report.pool.size == 10
    duplicates = [finding.message for finding in report.findings if finding.check == "duplicate_index"]
    planted = "index ix_memories_guild on memories (guild_id) is covered by ix_memories_guild_user (guild_id, user_id)"
    assert planted in duplicates
    assert not any("ix_memories_guild_user on" in message for message in duplicates)
