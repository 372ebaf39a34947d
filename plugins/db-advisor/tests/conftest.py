"""Fixtures: a bot-shaped SQLite file with a planted missing index, and throwaway PostgreSQL databases."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from intelbot.testing.postgres import fresh_database

ROWS = 150_000  # large enough that a missing index costs far more than the client path (client_cost.py)


def bot_rows(seed: int = 7) -> tuple[list[tuple[int, str, int, float]], list[tuple[int, int, int, str]]]:
    """Ledger rows (guild, day, user, cost) and memory rows (guild, user, created, body), reproducible."""
    rng = random.Random(seed)
    ledger = [
        (rng.randrange(300), f"2026-01-{rng.randrange(1, 29):02d}", rng.randrange(3000), rng.random())
        for _ in range(ROWS)
    ]
    memories = [(rng.randrange(300), rng.randrange(3000), index, "remembered text") for index in range(ROWS)]
    return ledger, memories


@pytest.fixture
def bot_sqlite(tmp_path: Path) -> Path:
    """``ledger`` with no index but its key (the planted problem) and ``memories`` indexed on (guild_id, user_id)."""
    path = tmp_path / "bot.db"
    ledger, memories = bot_rows()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE ledger (id INTEGER PRIMARY KEY, guild_id INT, day TEXT, user_id INT, cost REAL)"
        )
        connection.execute(
            "CREATE TABLE memories (id INTEGER PRIMARY KEY, guild_id INT, user_id INT, created_at INT, body TEXT)"
        )
        connection.execute("CREATE INDEX ix_memories_guild_user ON memories (guild_id, user_id)")
        connection.executemany("INSERT INTO ledger (guild_id, day, user_id, cost) VALUES (?, ?, ?, ?)", ledger)
        connection.executemany(
            "INSERT INTO memories (guild_id, user_id, created_at, body) VALUES (?, ?, ?, ?)", memories
        )
    connection.close()
    return path


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database with HypoPG in the test PostgreSQL for one test (the kit's ``fresh_database``)."""
    async with fresh_database() as url:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text("CREATE EXTENSION hypopg"))
        await engine.dispose()
        yield url


async def fill_postgres(url: str) -> None:
    """The same bot-shaped tables and rows as :func:`bot_sqlite`, in PostgreSQL, analysed."""
    ledger, memories = bot_rows()
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE ledger (id bigserial PRIMARY KEY, guild_id int, day text, user_id int, cost float8)")
        )
        await connection.execute(
            text(
                "CREATE TABLE memories (id bigserial PRIMARY KEY, guild_id int, user_id int, created_at int, body text)"
            )
        )
        await connection.execute(text("CREATE INDEX ix_memories_guild_user ON memories (guild_id, user_id)"))
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        await driver.copy_records_to_table("ledger", records=ledger, columns=["guild_id", "day", "user_id", "cost"])
        await driver.copy_records_to_table(
            "memories", records=memories, columns=["guild_id", "user_id", "created_at", "body"]
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("ANALYZE"))
    await engine.dispose()
