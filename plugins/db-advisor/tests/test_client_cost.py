"""Speed-ups are judged by what the caller waits for: the client path's per-call cost is measured and counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from intelbot_db_advisor.advisor import analyse
from intelbot_db_advisor.client_cost import cost_per_call
from intelbot_db_advisor.selection import Measure, median_speedup
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.sqlite_analysis import analyse_sqlite
from intelbot_db_advisor.suggestion import Analysis
from intelbot_db_advisor.workload import statements_from_file

from .conftest import fill_postgres

PLANTED = "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03'"
DELETE = "DELETE FROM ledger WHERE guild_id = 7"


def test_a_saving_the_client_path_swamps_is_not_a_2x_speedup() -> None:
    """The benchmark's ORDER BY ... LIMIT case: 6x on the database, 1.4x for the caller."""
    before, after = Measure.timed([216e-6, 230e-6]), Measure.timed([36e-6, 40e-6])
    through_client = Measure.timed([619e-6, 640e-6])
    per_call = cost_per_call(through_client, before)
    assert per_call.samples == pytest.approx((403e-6, 410e-6))
    assert median_speedup(before, after) >= 5
    assert median_speedup(before.plus(per_call), after.plus(per_call)) == pytest.approx(1.43, abs=0.02)
    # a client path faster than the trial (noise) adds nothing rather than a negative cost
    assert cost_per_call(Measure.timed([100e-6]), Measure.timed([150e-6])).seconds == 0.0
    assert before.plus(None) is before


def _check_counted(analysis: Analysis) -> None:
    [baseline] = [b for b in analysis.baselines if b.statement == 0]
    # measured (a client path timed faster than the trial, which noise can give, counts as 0, never negative)
    assert baseline.client_cost_seconds is not None and baseline.client_cost_seconds >= 0, analysis.as_dict()
    assert any("client path's measured cost per call" in note for note in analysis.notes)
    [evidence] = [e for s in analysis.suggestions for e in s.evidence if e.statement == 0]
    assert evidence.seconds_after is not None and evidence.seconds_before is not None
    # an index lookup is microseconds on the database; the caller still pays the whole client path
    assert evidence.seconds_after >= baseline.client_cost_seconds
    assert evidence.seconds_before >= evidence.seconds_after * 2


def test_sqlite_speedups_count_the_aiosqlite_path(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file(PLANTED, "sqlite")
    _check_counted(analyse_sqlite(bot_sqlite, statements, DbAdvisorSettings(repeats=3), target="test"))
    raw = analyse_sqlite(bot_sqlite, statements, DbAdvisorSettings(repeats=3, count_client_cost=False), target="t")
    assert [b.client_cost_seconds for b in raw.baselines] == [None]
    assert not any("client path" in note for note in raw.notes)


def test_sqlite_client_path_never_writes_the_source(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file(f"{PLANTED};\n{DELETE}", "sqlite")
    analysis = analyse_sqlite(bot_sqlite, statements, DbAdvisorSettings(repeats=3), target="test")
    assert [b.client_cost_seconds is not None for b in analysis.baselines] == [True, True]
    with sqlite3.connect(bot_sqlite) as connection:
        assert connection.execute("SELECT count(*) FROM ledger WHERE guild_id = 7").fetchone()[0] > 0
    connection.close()


@pytest.mark.postgres
async def test_postgres_speedups_count_the_sqlalchemy_path_and_write_nothing(postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    statements, _ = statements_from_file(f"{PLANTED};\n{DELETE}", "postgresql")
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT count(*) FROM ledger WHERE guild_id = 7"))).scalar_one()
        analysis = await analyse(engine, statements, DbAdvisorSettings(repeats=3))
        async with engine.connect() as connection:
            after = (await connection.execute(text("SELECT count(*) FROM ledger WHERE guild_id = 7"))).scalar_one()
    finally:
        await engine.dispose()
    assert rows > 0 and after == rows
    _check_counted(analysis)
