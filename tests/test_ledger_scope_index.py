"""Kernel schema 3: a spending cap's read of a scope's spend today is bounded by the day, not the whole ledger.

Before every capped call, ``SpendingCap.reserve`` reads the guild's and the user's spend
since midnight (``UsageLedger.summary``). With lone ``guild_id`` / ``user_id`` indexes
SQLite searched by the scope alone and read every row the scope ever made, so each
capped turn cost more as the ledger grew; ``(guild_id, created_at)`` and
``(user_id, created_at)`` make it read the scope's rows since midnight only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, inspect, text

from intelbot.data.database import Database
from intelbot.data.ledger import LEDGER_SCHEMA, UsageLedger
from intelbot.kernel import KERNEL_SCHEMA
from intelbot.spending import SpendScope, ledger_spent

COMPOSITE = {
    "ix_usage_ledger_guild_id_created_at": ("guild_id", "created_at"),
    "ix_usage_ledger_user_id_created_at": ("user_id", "created_at"),
}
LONE = {"ix_usage_ledger_guild_id": ("guild_id",), "ix_usage_ledger_user_id": ("user_id",)}


def _ledger_indexes(connection: Connection) -> dict[str, tuple[str, ...]]:
    return {
        str(index["name"]): tuple(str(column) for column in index["column_names"])
        for index in inspect(connection).get_indexes("usage_ledger")
    }


async def _migrated(database: Database) -> int:
    """Migrate the kernel's and the ledger's schemas; the kernel's version."""
    version = await database.migrate("kernel", KERNEL_SCHEMA)
    await database.migrate("ledger", LEDGER_SCHEMA)
    return version


async def _statements_of_a_cap_read(database: Database, scope: SpendScope) -> list[tuple[str, Any]]:
    """The SELECTs on ``usage_ledger`` that a spending cap's read of ``scope``'s spend today runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM usage_ledger" in statement:
            seen.append((statement, parameters))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        await ledger_spent(UsageLedger(database))(scope, midnight)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen, "the cap read no usage_ledger rows"
    return seen


async def _sqlite_plans(database: Database, scope: SpendScope) -> list[str]:
    plans: list[str] = []
    for statement, parameters in await _statements_of_a_cap_read(database, scope):
        async with database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            cursor = await raw.driver_connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)  # type: ignore[union-attr]
            plans.extend(str(row[3]) for row in await cursor.fetchall())
    return plans


@pytest.mark.parametrize(("kind", "column"), [("guild", "guild_id"), ("user", "user_id")])
async def test_a_cap_read_searches_the_scope_since_midnight_by_index(tmp_path: Path, kind: str, column: str) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}")
    try:
        await _migrated(database)
        plans = await _sqlite_plans(database, SpendScope(kind, 1234))
    finally:
        await database.dispose()
    wanted = f"SEARCH usage_ledger USING INDEX ix_usage_ledger_{column}_created_at ({column}=? AND created_at>?)"
    assert plans == [wanted], plans


async def _schema_2_database(database: Database) -> None:
    """A database as kernel schema 2 left it: the ledger's lone guild_id and user_id indexes, no composite ones."""
    assert await database.migrate("kernel", KERNEL_SCHEMA[:2]) == 2
    async with database.engine.begin() as connection:
        for name in COMPOSITE:
            await connection.execute(text(f"DROP INDEX {name}"))
        for name, columns in LONE.items():
            await connection.execute(text(f"CREATE INDEX {name} ON usage_ledger ({', '.join(columns)})"))
        assert await connection.run_sync(_ledger_indexes) == {"ix_usage_ledger_request_id": ("request_id",)} | {
            "ix_usage_ledger_created_at": ("created_at",),
            **LONE,
        }


async def _upgraded_indexes(database: Database) -> dict[str, tuple[str, ...]]:
    await _schema_2_database(database)
    assert await _migrated(database) == 3
    async with database.engine.connect() as connection:
        return await connection.run_sync(_ledger_indexes)


EXPECTED = {"ix_usage_ledger_request_id": ("request_id",), "ix_usage_ledger_created_at": ("created_at",), **COMPOSITE}


async def test_a_fresh_sqlite_database_has_the_composite_indexes_only(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await _migrated(database) == len(KERNEL_SCHEMA) == 3
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_ledger_indexes) == EXPECTED
    finally:
        await database.dispose()


async def test_sqlite_upgrade_from_schema_2_replaces_the_lone_indexes(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        assert await _upgraded_indexes(database) == EXPECTED
        plans = await _sqlite_plans(database, SpendScope("guild", 1234))
        assert plans == [
            "SEARCH usage_ledger USING INDEX ix_usage_ledger_guild_id_created_at (guild_id=? AND created_at>?)"
        ]
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_postgres_upgrade_from_schema_2_replaces_the_lone_indexes(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        assert await _upgraded_indexes(database) == EXPECTED
    finally:
        await database.dispose()
