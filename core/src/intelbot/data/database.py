"""The async SQLAlchemy engine, shared by the kernel and every plugin.

SQLite (aiosqlite, WAL mode) in the data directory by default; any SQLAlchemy
async URL (``postgresql+asyncpg://...``) through ``database_url``. Schemas are
versioned per component in ``schema_versions`` and upgraded at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, MetaData, String, event, insert, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from intelbot.errors import ConfigurationError, DatabaseError
from intelbot.redaction import redacted_url
from intelbot.settings import data_directory

MigrationStep = Callable[[Connection], None]
MIGRATION_LOCK = 0x1E7B07_5C4E3A
"""The PostgreSQL advisory lock key every intelbot process takes around its schema migrations."""
SQLITE_MMAP_BYTES = 2_147_418_112
"""``PRAGMA mmap_size`` of every SQLite connection (SQLite lowers it to its build's ``SQLITE_MAX_MMAP_SIZE``).

Reads of pages in the OS page cache then need no system call each; SQLite's default page
cache (2 MB per connection) cannot even hold the B-tree's inner pages of a large table
(a million memories: a 2 GB file). Address space only: pages are loaded when read, are
shared with the OS page cache, and the kernel may drop them under memory pressure."""


class _SchemaTable(DeclarativeBase):
    metadata = MetaData()


class SchemaVersion(_SchemaTable):
    """Which schema version each component (the kernel, a plugin) has applied."""

    __tablename__ = "schema_versions"

    component: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


def database_url(settings: Any) -> str:
    """``database_url`` from settings, else a SQLite file in ``data_dir``."""
    url = str(settings.get("database_url") or "")
    if url:
        return url
    data_dir = data_directory(settings)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the data directory {data_dir}: {error.strerror or type(error).__name__}", key="data_dir"
        ) from None
    return f"sqlite+aiosqlite:///{data_dir / 'intelbot.db'}"


class Database:
    """Owns the engine and a session factory. ``write_lock`` serialises writers on SQLite."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write_lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self, component: str, steps: Sequence[MigrationStep]) -> int:
        """Apply ``steps[v:]`` where ``v`` is the component's recorded version; return the new version.

        Each step runs in the same transaction as the version update, so a failed
        step leaves the schema at the last good version. On PostgreSQL the transaction
        first takes an advisory lock (:data:`MIGRATION_LOCK`, released at commit), so
        replicas starting together on a fresh database migrate one after the other
        instead of racing on ``CREATE TABLE`` and the ``schema_versions`` insert.
        """
        try:
            async with self.write_lock, self.engine.begin() as connection:
                if self.dialect == "postgresql":
                    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                await connection.run_sync(_SchemaTable.metadata.create_all)
                current = (
                    await connection.execute(select(SchemaVersion.version).where(SchemaVersion.component == component))
                ).scalar_one_or_none() or 0
                for step in steps[current:]:
                    await connection.run_sync(step)
                if len(steps) > current:
                    await connection.run_sync(_record_version, component, len(steps), current == 0)
                return max(current, len(steps))
        except SQLAlchemyError as error:
            raise DatabaseError(f"schema upgrade of {component} failed: {type(error).__name__}") from error
        except OSError as error:
            raise DatabaseError(
                f"cannot reach the database at {redacted_url(self.url)}: {error.strerror or error}"
            ) from None

    async def dispose(self) -> None:
        await self.engine.dispose()


def _record_version(connection: Connection, component: str, version: int, new: bool) -> None:
    if new:
        connection.execute(insert(SchemaVersion).values(component=component, version=version))
    else:
        connection.execute(update(SchemaVersion).where(SchemaVersion.component == component).values(version=version))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()
