"""SQLite analysis on a copy: planted index found with evidence, covered ones suppressed, writes never run."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.sqlite_analysis import analyse_sqlite
from intelbot_db_advisor.workload import statements_from_file

SETTINGS = DbAdvisorSettings(
    repeats=3, count_client_cost=False
)  # database time only: test_client_cost.py covers the other


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_planted_missing_index_is_suggested_with_measured_evidence(bot_sqlite: Path) -> None:
    source = (
        "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03';\n"
        "SELECT count(*) FROM ledger;\n"
        "SELECT * FROM ledger WHERE cost >= 0.0;\n"
    )
    statements, problems = statements_from_file(source, "sqlite")
    analysis = analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test")
    assert problems == [] and analysis.problems == []
    assert len(analysis.suggestions) == 1, analysis.as_dict()
    suggestion = analysis.suggestions[0]
    assert suggestion.table == "ledger"
    assert set(suggestion.columns) == {"guild_id", "day"}
    assert [e.statement for e in suggestion.evidence] == [0]
    evidence = suggestion.evidence[0]
    assert evidence.seconds_before is not None and evidence.seconds_after is not None
    assert evidence.seconds_before >= 2 * evidence.seconds_after
    assert suggestion.speedup >= 2 and suggestion.measured
    assert 0 < evidence.share < 1
    assert suggestion.sql.startswith("CREATE INDEX IF NOT EXISTS") and '"ledger"' in suggestion.sql
    # the full scans that no index can help are not suggested anything
    assert all(e.statement == 0 for s in analysis.suggestions for e in s.evidence)


def test_an_existing_index_with_the_same_leading_columns_suppresses_the_suggestion(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file("SELECT * FROM memories WHERE guild_id = 3 AND user_id = 10", "sqlite")
    analysis = analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test")
    assert analysis.suggestions == []
    assert any("ix_memories_guild_user" in note for note in analysis.covered)
    with sqlite3.connect(bot_sqlite) as connection:
        connection.execute("CREATE INDEX ix_ledger_guild_day_user ON ledger (guild_id, day, user_id)")
    connection.close()
    statements, _ = statements_from_file(
        "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03'", "sqlite"
    )
    analysis = analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test")
    assert analysis.suggestions == []
    assert any(
        "ledger(guild_id, day) is covered by the existing index ix_ledger_guild_day_user" in n for n in analysis.covered
    )


def test_writing_statements_are_timed_on_the_copy_only_and_never_change_the_database(bot_sqlite: Path) -> None:
    with sqlite3.connect(bot_sqlite) as connection:
        before_rows = connection.execute("SELECT count(*) FROM ledger WHERE user_id = 78").fetchone()[0]
    connection.close()
    digest = _digest(bot_sqlite)
    statements, _ = statements_from_file(
        "UPDATE ledger SET cost = -1 WHERE user_id = 77;\nDELETE FROM ledger WHERE user_id = 78;", "sqlite"
    )
    analysis = analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test")
    assert _digest(bot_sqlite) == digest
    with sqlite3.connect(bot_sqlite) as connection:
        assert connection.execute("SELECT count(*) FROM ledger WHERE cost = -1").fetchone()[0] == 0
        assert connection.execute("SELECT count(*) FROM ledger WHERE user_id = 78").fetchone()[0] == before_rows > 0
        assert connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone()[0] == 1
    connection.close()
    # the writes are slow without an index on user_id, and the analysis says so
    assert [s.columns for s in analysis.suggestions] == [("user_id",)]
    assert [e.statement for e in analysis.suggestions[0].evidence] == [0, 1]


def test_order_by_with_limit_gets_an_index_that_serves_the_order(bot_sqlite: Path) -> None:
    statements, _ = statements_from_file(
        "SELECT * FROM memories WHERE guild_id = 5 ORDER BY created_at DESC LIMIT 5;\n"
        "SELECT * FROM ledger WHERE user_id = 9 ORDER BY day DESC LIMIT 10;",
        "sqlite",
    )
    analysis = analyse_sqlite(bot_sqlite, statements, SETTINGS, target="test")
    by_table = {s.table: s for s in analysis.suggestions}
    assert by_table["ledger"].columns[0] == "user_id"
    # memories(guild_id) leads an existing index; only an index that also serves the ORDER BY may be suggested
    if "memories" in by_table:
        assert by_table["memories"].columns == ("guild_id", "created_at")
        assert by_table["memories"].speedup >= 2
