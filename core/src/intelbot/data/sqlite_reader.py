"""A synchronous, read-only connection to the SQLite file of a :class:`~intelbot.data.database.Database`.

For hot read paths only (a memory search reads a few dozen rows by key). Through the
async engine every call is handed to aiosqlite's thread and back several times (cursor,
execute, fetch, reset), which on a busy 2-core machine costs milliseconds; this
connection answers on the caller's thread in a fraction of that (``benchmarks/memory.py``).

The contract:

- SQLite file databases only (:meth:`SQLiteReader.open` returns None for PostgreSQL
  and for in-memory SQLite, whose data another connection cannot see);
- read-only (``PRAGMA query_only``) and never waits long for a lock: in WAL mode a
  reader does not wait for writers, and ``busy_timeout`` is short so the event loop is
  never blocked behind a checkpoint; any SQLite error is raised as
  :class:`ReaderUnavailable`, and the caller falls back to the async engine;
- each statement sees every transaction committed before it started (no statement is
  left open between calls);
- the file is memory-mapped (:data:`~intelbot.data.database.SQLITE_MMAP_BYTES`), so rows
  already in the OS page cache are read without a system call per page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Executable, create_engine, event
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from intelbot.data.database import SQLITE_MMAP_BYTES

READER_BUSY_TIMEOUT_MS: Final = 50


class ReaderUnavailable(Exception):
    """The reader could not answer (locked, closed, schema missing): use the async engine instead."""


def _reader_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={READER_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


class SQLiteReader:
    """One held connection (SQLAlchemy over the standard ``sqlite3`` driver) answering plain SQL reads."""

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection

    @classmethod
    def open(cls, url: str) -> SQLiteReader | None:
        """A reader on the SQLite file of ``url`` (an async or sync SQLAlchemy URL); None if there is no such file."""
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        if str(parsed.query.get("mode", "")) == "memory":
            return None
        engine = create_engine(
            parsed.set(drivername="sqlite"), poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        event.listen(engine, "connect", _reader_pragmas)
        try:
            return cls(engine.connect())
        except SQLAlchemyError:
            engine.dispose()
            return None

    def rows(self, statement: str | Executable, parameters: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row[Any]]:
        """Every row of the read ``statement``, fetched before returning.

        ``statement`` is plain SQL with ``?`` placeholders and a sequence of ``parameters``,
        or a SQLAlchemy statement (``select``, ``text``) with a mapping of them.
        """
        connection = self._connection
        if connection is None:
            raise ReaderUnavailable("the reader is closed")
        try:
            if isinstance(statement, str):
                return list(connection.exec_driver_sql(statement, tuple(parameters)).all())
            return list(connection.execute(statement, dict(parameters)).all())
        except SQLAlchemyError as error:
            raise ReaderUnavailable(type(error).__name__) from error
        finally:
            try:
                connection.rollback()  # ends SQLAlchemy's implicit transaction; no read snapshot is kept
            except SQLAlchemyError:
                pass

    def close(self) -> None:
        """Close the connection and its engine; later reads raise :class:`ReaderUnavailable`."""
        connection, self._connection = self._connection, None
        if connection is not None:
            engine = connection.engine
            connection.close()
            engine.dispose()
