"""Kernel schema 2: the duplicate guild_id index on guild_plugin_switches is dropped, the unique index stays."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from intelbot.data.database import Database
from intelbot.kernel import KERNEL_SCHEMA

DUPLICATE = "ix_guild_plugin_switches_guild_id"


def _switch_indexes(connection: Connection) -> list[tuple[str, tuple[str, ...]]]:
    inspector = inspect(connection)
    found = [
        (str(i["name"]), tuple(str(c) for c in i["column_names"]))
        for i in inspector.get_indexes("guild_plugin_switches")
    ]
    found += [
        (str(u["name"]), tuple(str(c) for c in u["column_names"]))
        for u in inspector.get_unique_constraints("guild_plugin_switches")
    ]
    return found


async def _upgrade_from_schema_1(database: Database) -> list[tuple[str, tuple[str, ...]]]:
    """A database left at kernel schema 1 (with the duplicate index), then migrated to the current schema."""
    assert await database.migrate("kernel", KERNEL_SCHEMA[:1]) == 1
    async with database.engine.begin() as connection:
        await connection.execute(text(f"CREATE INDEX IF NOT EXISTS {DUPLICATE} ON guild_plugin_switches (guild_id)"))
    assert await database.migrate("kernel", KERNEL_SCHEMA) == len(KERNEL_SCHEMA) == 3
    async with database.engine.connect() as connection:
        return await connection.run_sync(_switch_indexes)


async def test_a_fresh_sqlite_database_has_only_the_unique_switch_index(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await database.migrate("kernel", KERNEL_SCHEMA) == 3
        async with database.engine.connect() as connection:
            indexes = await connection.run_sync(_switch_indexes)
        assert DUPLICATE not in {name for name, _ in indexes}
        assert ("guild_id", "plugin") in {columns for _, columns in indexes}
    finally:
        await database.dispose()


async def test_sqlite_upgrade_from_schema_1_drops_the_duplicate_index(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        indexes = await _upgrade_from_schema_1(database)
        assert DUPLICATE not in {name for name, _ in indexes}
        assert ("guild_id", "plugin") in {columns for _, columns in indexes}
    finally:
        await database.dispose()


@pytest.mark.postgres
async def test_postgres_upgrade_from_schema_1_drops_the_duplicate_index(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        indexes = await _upgrade_from_schema_1(database)
        assert DUPLICATE not in {name for name, _ in indexes}
        assert ("guild_id", "plugin") in {columns for _, columns in indexes}
    finally:
        await database.dispose()
