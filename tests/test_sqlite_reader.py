"""The synchronous SQLite reader: same file, sees every commit, read-only, and it says when it cannot answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from intelbot.data.database import SQLITE_MMAP_BYTES, Database
from intelbot.data.sqlite_reader import ReaderUnavailable, SQLiteReader


async def _database_with_notes(path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(text("INSERT INTO notes (id, body) VALUES (1, 'first')"))
    return database


async def test_the_reader_sees_rows_committed_after_it_opened(tmp_path: Path) -> None:
    database = await _database_with_notes(tmp_path / "notes.db")
    reader = SQLiteReader.open(database.url)
    assert reader is not None
    try:
        assert [tuple(row) for row in reader.rows("SELECT id, body FROM notes ORDER BY id", ())] == [(1, "first")]
        async with database.engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (id, body) VALUES (2, 'second')"))
            await connection.execute(text("DELETE FROM notes WHERE id = 1"))
        rows = reader.rows("SELECT id, body FROM notes WHERE id IN (?, ?) ORDER BY id", (1, 2))
        assert [tuple(row) for row in rows] == [(2, "second")]
        assert rows[0]._mapping["body"] == "second"
    finally:
        reader.close()
        await database.dispose()


async def test_the_reader_cannot_write_and_reports_errors_as_unavailable(tmp_path: Path) -> None:
    database = await _database_with_notes(tmp_path / "notes.db")
    reader = SQLiteReader.open(database.url)
    assert reader is not None
    try:
        with pytest.raises(ReaderUnavailable):
            reader.rows("DELETE FROM notes", ())
        with pytest.raises(ReaderUnavailable):
            reader.rows("SELECT * FROM no_such_table", ())
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar_one() == 1
        assert [tuple(row) for row in reader.rows("SELECT id FROM notes", ())] == [(1,)]  # still usable
        reader.close()
        with pytest.raises(ReaderUnavailable):
            reader.rows("SELECT id FROM notes", ())
    finally:
        reader.close()
        await database.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite://",
        "sqlite+aiosqlite:///:memory:",
        "sqlite+aiosqlite:///file:shared?mode=memory&cache=shared&uri=true",
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    ],
)
def test_there_is_no_reader_without_a_sqlite_file(url: str) -> None:
    assert SQLiteReader.open(url) is None


async def test_every_sqlite_connection_is_memory_mapped(tmp_path: Path) -> None:
    database = await _database_with_notes(tmp_path / "notes.db")
    reader = SQLiteReader.open(database.url)
    assert reader is not None
    try:
        async with database.engine.connect() as connection:
            engine_mmap = (await connection.execute(text("PRAGMA mmap_size"))).scalar_one()
        reader_mmap = reader.rows("PRAGMA mmap_size", ())[0][0]
        # SQLite lowers the request to its build's ceiling; either way it is on, and the same for both
        assert engine_mmap == reader_mmap and 0 < engine_mmap <= SQLITE_MMAP_BYTES
    finally:
        reader.close()
        await database.dispose()
