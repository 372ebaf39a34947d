"""The cache's rows in the kernel's database (its own tables, its own MetaData).

The database is the source of truth: every entry with its answer, what it cost,
its expiry, hit count and its vector (float32 bytes, NULL when stored without an
embedder). The vector index is rebuilt from these rows whenever its file cannot
be trusted.

The change feed (``semantic_cache_changes``): every insert and delete of an entry
also appends, in the same transaction, one row per entry to a log whose ids only
grow (``stored`` or ``removed`` with the reason: ``replaced``, ``cleared``,
``expired``, ``entries``, ``memory``, and the entry's guild). Replicas on one
database poll the log past the last id they applied (:meth:`CacheStore.changes_after`).
On PostgreSQL the writing transactions take one advisory lock first, so change ids
become visible in the order they were drawn and a poller never skips a change that
commits late; on SQLite the kernel's write lock and SQLite's single writer do this.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, fields

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class CacheTable(DeclarativeBase):
    """Base of the semantic cache's tables."""

    metadata = MetaData()


class CacheRow(CacheTable):
    """One cached answer."""

    __tablename__ = "semantic_cache_entries"
    # Never reuse an id (SQLite would otherwise give a deleted maximum id to the next row); PostgreSQL
    # sequences never reuse ids anyway.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64), index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    prompt_key: Mapped[str] = mapped_column(String(64), unique=True)
    prompt: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[float] = mapped_column(Float)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    embedder: Mapped[str] = mapped_column(String(128), default="")


class ChangeRow(CacheTable):
    """One change of one entry, for the other replicas on the same database."""

    __tablename__ = "semantic_cache_changes"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "stored" or "removed"
    reason: Mapped[str] = mapped_column(String(16), default="")
    entry_id: Mapped[int] = mapped_column(Integer)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[float] = mapped_column(Float, index=True)


@dataclass(frozen=True, slots=True)
class Change:
    """A row of the change feed: ``kind`` is ``stored`` or ``removed``."""

    id: int
    kind: str
    reason: str
    entry_id: int
    guild_id: int | None


@dataclass(slots=True)
class CacheEntry:
    """An entry as the cache keeps it in memory (the vector lives in the index)."""

    id: int
    scope: str
    guild_id: int | None
    prompt_key: str
    prompt: str
    answer: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    created_at: float
    expires_at: float
    hits: int
    last_used_at: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def size_bytes(self) -> int:
        """Bytes of the texts it holds (the vector is counted by the index)."""
        return len(self.prompt.encode()) + len(self.answer.encode()) + 200


ENTRIES: Table = CacheRow.__table__  # type: ignore[assignment]
CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
# pg_advisory_xact_lock key of the cache's writers (any fixed 64-bit number; "semcache" in ASCII)
CHANGE_LOCK_KEY = 0x73656D6361636865 - (1 << 63)
_ENTRY_FIELDS = [item.name for item in fields(CacheEntry)]


def create_schema(connection: Connection) -> None:
    """Create the cache's tables (a migration step for ``Database.migrate``)."""
    CacheTable.metadata.create_all(connection)


def create_change_feed(connection: Connection) -> None:
    """Create the change feed's table (the second migration step: databases made before it lack it)."""
    CHANGES.create(connection, checkfirst=True)


class CacheStore:
    """Reads and writes cache rows. ``write_lock`` (the kernel's, on SQLite) serialises writers."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        self.engine = engine
        self.write_lock = write_lock or asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _writing(self, *, logged: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction; ``logged`` ones append to the change feed (serialised on PostgreSQL)."""
        async with self.write_lock, self.engine.begin() as connection:
            if logged and connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGE_LOCK_KEY})
            yield connection

    async def create_schema(self) -> None:
        async with self._writing() as connection:
            await connection.run_sync(create_schema)

    async def load_all(self) -> list[tuple[CacheEntry, bytes | None, str]]:
        """Every row, oldest first, with its vector bytes and the name of the embedder that made them."""
        return await self.load(None)

    async def load(self, ids: Sequence[int] | None) -> list[tuple[CacheEntry, bytes | None, str]]:
        """The rows of ``ids`` that exist (None: every row), oldest first, as :meth:`load_all` returns them."""
        table = ENTRIES
        query = select(table).order_by(table.c.id)
        if ids is not None:
            if not ids:
                return []
            query = query.where(table.c.id.in_(list(ids)))
        async with self.engine.connect() as connection:
            result = await connection.execute(query)
            return [
                (
                    CacheEntry(**{name: row._mapping[name] for name in _ENTRY_FIELDS}),
                    row._mapping["vector"],
                    row._mapping["embedder"],
                )
                for row in result
            ]

    async def insert(
        self, entries: Sequence[CacheEntry], vectors: Sequence[bytes | None], embedder: str = ""
    ) -> list[int]:
        """Insert rows (replacing rows with the same prompt key); returns their new ids and sets ``entry.id``."""
        table = ENTRIES
        ids: list[int] = []
        async with self._writing(logged=True) as connection:
            keys = [entry.prompt_key for entry in entries]
            replaced = await connection.execute(
                select(table.c.id, table.c.guild_id).where(table.c.prompt_key.in_(keys))
            )
            changes = [("removed", "replaced", int(row.id), row.guild_id) for row in replaced]
            await connection.execute(delete(table).where(table.c.prompt_key.in_(keys)))
            for entry, vector in zip(entries, vectors, strict=True):
                values = {name: getattr(entry, name) for name in _ENTRY_FIELDS if name != "id"}
                result = await connection.execute(insert(table).values(**values, vector=vector, embedder=embedder))
                primary_key = result.inserted_primary_key
                assert primary_key is not None
                entry.id = int(primary_key[0])
                ids.append(entry.id)
                changes.append(("stored", "", entry.id, entry.guild_id))
            await _log_changes(connection, changes, at=max((entry.created_at for entry in entries), default=0.0))
        return ids

    async def record_hit(self, entry: CacheEntry) -> None:
        """Write the entry's hit count, expiry and last use."""
        table = ENTRIES
        async with self._writing() as connection:
            await connection.execute(
                update(table)
                .where(table.c.id == entry.id)
                .values(hits=entry.hits, expires_at=entry.expires_at, last_used_at=entry.last_used_at)
            )

    async def delete(
        self, ids: Iterable[int], *, reason: str = "", guilds: dict[int, int | None] | None = None, at: float = 0.0
    ) -> None:
        """Delete rows and log each as ``removed`` for ``reason`` (``guilds``: the guild of each id)."""
        table = ENTRIES
        ids = list(ids)
        if not ids:
            return
        guilds = guilds or {}
        async with self._writing(logged=True) as connection:
            for start in range(0, len(ids), 500):
                await connection.execute(delete(table).where(table.c.id.in_(ids[start : start + 500])))
            await _log_changes(
                connection, [("removed", reason, entry_id, guilds.get(entry_id)) for entry_id in ids], at=at
            )

    async def expiries(self, ids: Sequence[int]) -> dict[int, float]:
        """The stored ``expires_at`` of the rows of ``ids`` that exist (another replica's hits extend it)."""
        table = ENTRIES
        found: dict[int, float] = {}
        async with self.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                result = await connection.execute(select(table.c.id, table.c.expires_at).where(table.c.id.in_(chunk)))
                found.update({int(row.id): float(row.expires_at) for row in result})
        return found

    async def last_change_id(self) -> int:
        """The id of the newest change in the feed (0 when there is none)."""
        async with self.engine.connect() as connection:
            value = await connection.scalar(select(func.max(CHANGES.c.id)))
        return int(value or 0)

    async def changes_after(self, change_id: int, limit: int = 5000) -> list[Change]:
        """Up to ``limit`` changes with an id above ``change_id``, oldest first."""
        table = CHANGES
        async with self.engine.connect() as connection:
            result = await connection.execute(
                select(table).where(table.c.id > change_id).order_by(table.c.id).limit(limit)
            )
            return [Change(int(row.id), row.kind, row.reason, int(row.entry_id), row.guild_id) for row in result]

    async def prune_changes(self, before: float) -> None:
        """Drop changes logged before ``before`` (a replica that far behind reloads at its next start)."""
        async with self._writing() as connection:
            await connection.execute(delete(CHANGES).where(CHANGES.c.at < before))


async def _log_changes(
    connection: AsyncConnection, changes: Sequence[tuple[str, str, int, int | None]], *, at: float
) -> None:
    """Append ``(kind, reason, entry_id, guild_id)`` rows to the change feed in ``connection``'s transaction."""
    if changes:
        await connection.execute(
            insert(CHANGES),
            [
                {"kind": kind, "reason": reason, "entry_id": entry_id, "guild_id": guild_id, "at": at}
                for kind, reason, entry_id, guild_id in changes
            ],
        )
