"""One rule orders the columns of a multi-column index, on SQLite and PostgreSQL alike.

The leading column is the one the most workload time filters or sorts on (so the
index's prefix serves the other statements too); columns the workload cannot tell
apart keep the order the statement writes them in.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from intelbot_db_advisor.advisor import analyse
from intelbot_db_advisor.candidates import ColumnUse, candidate_columns, column_uses, lead_columns, parse
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.sqlite_analysis import analyse_sqlite
from intelbot_db_advisor.suggestion import Analysis
from intelbot_db_advisor.workload import statements_from_file

from .conftest import fill_postgres

SETTINGS = DbAdvisorSettings(repeats=3)
# user_id alone is filtered by the second statement too: an index led by user_id serves both
SHARED_LEAD = (
    "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND user_id = 42;\nSELECT count(*) FROM ledger WHERE user_id = 42;"
)
# nothing in the workload tells guild_id and day apart: the written order stands (as in sqlite3's .expert)
WRITTEN_ORDER = "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03'"
LEDGER = {"ledger": ["id", "guild_id", "day", "user_id", "cost"]}


def _ledger_indexes(analysis: Analysis) -> list[tuple[tuple[str, ...], list[int]]]:
    return [(s.columns, [e.statement for e in s.evidence]) for s in analysis.suggestions if s.table == "ledger"]


def _check_shared_lead(analysis: Analysis) -> None:
    [(columns, statements)] = _ledger_indexes(analysis)  # one index, not one per statement
    assert columns[0] == "user_id", analysis.as_dict()
    assert statements == [0, 1]


def _check_written_order(analysis: Analysis) -> None:
    assert [columns for columns, _ in _ledger_indexes(analysis)] == [("guild_id", "day")], analysis.as_dict()


def test_equality_columns_are_ordered_by_the_workload_time_that_uses_them() -> None:
    """Deterministic half of the rule: no candidate is led by the lighter column, singles included."""
    use = column_uses(parse("SELECT * FROM ledger WHERE guild_id = ? AND user_id = ?", "sqlite"), LEDGER)["ledger"]
    assert use.equality == ["guild_id", "user_id"]  # order of appearance
    weighed = candidate_columns(use, {"guild_id": 0.3, "user_id": 0.9})
    assert weighed == [("user_id",), ("user_id", "guild_id")]
    assert candidate_columns(use, {"guild_id": 0.3, "user_id": 0.3}) == [("guild_id",), ("guild_id", "user_id")]
    ranged = ColumnUse(equality=["a", "b"], range=["r"])
    assert candidate_columns(ranged, {"b": 1.0, "a": 0.5}) == [("b",), ("r",), ("b", "a"), ("b", "r"), ("b", "a", "r")]
    joined = column_uses(parse("SELECT * FROM ledger l JOIN ledger m ON m.id = l.id WHERE l.day = ?", "sqlite"), LEDGER)
    assert lead_columns(joined["ledger"], {"id": 5.0, "day": 1.0}) == ["day", "id"]  # join keys after values


def test_sqlite_two_statements_sharing_a_column_get_one_index_led_by_it(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file(SHARED_LEAD, "sqlite")
    _check_shared_lead(analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test"))


def test_sqlite_columns_the_workload_cannot_tell_apart_keep_the_written_order(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file(WRITTEN_ORDER, "sqlite")
    _check_written_order(analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test"))
    with sqlite3.connect(bot_sqlite) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0] == 1
    connection.close()


@pytest.mark.postgres
async def test_postgres_two_statements_sharing_a_column_get_one_index_led_by_it(postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    statements, _ = statements_from_file(SHARED_LEAD, "postgresql")
    engine = create_async_engine(postgres_url)
    try:
        _check_shared_lead(await analyse(engine, statements, SETTINGS))
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_columns_the_workload_cannot_tell_apart_keep_the_written_order(postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    statements, _ = statements_from_file(WRITTEN_ORDER, "postgresql")
    engine = create_async_engine(postgres_url)
    try:
        _check_written_order(await analyse(engine, statements, SETTINGS))
    finally:
        await engine.dispose()
