"""The cache's rows in the kernel's database (its own tables, its own MetaData).

The database is the source of truth: every entry with its answer, what it cost,
its expiry, hit count and its vector (float32 bytes, NULL when stored without an
embedder). The vector index is rebuilt from these rows whenever its file cannot
be trusted.
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
    insert,
    select,
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
_ENTRY_FIELDS = [item.name for item in fields(CacheEntry)]


def create_schema(connection: Connection) -> None:
    """Create the cache's tables (a migration step for ``Database.migrate``)."""
    CacheTable.metadata.create_all(connection)


class CacheStore:
    """Reads and writes cache rows. ``write_lock`` (the kernel's, on SQLite) serialises writers."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        self.engine = engine
        self.write_lock = write_lock or asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        async with self.write_lock, self.engine.begin() as connection:
            yield connection

    async def create_schema(self) -> None:
        async with self._writing() as connection:
            await connection.run_sync(create_schema)

    async def load_all(self) -> list[tuple[CacheEntry, bytes | None, str]]:
        """Every row, oldest first, with its vector bytes and the name of the embedder that made them."""
        table = ENTRIES
        async with self.engine.connect() as connection:
            result = await connection.execute(select(table).order_by(table.c.id))
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
        async with self._writing() as connection:
            keys = [entry.prompt_key for entry in entries]
            await connection.execute(delete(table).where(table.c.prompt_key.in_(keys)))
            for entry, vector in zip(entries, vectors, strict=True):
                values = {name: getattr(entry, name) for name in _ENTRY_FIELDS if name != "id"}
                result = await connection.execute(insert(table).values(**values, vector=vector, embedder=embedder))
                primary_key = result.inserted_primary_key
                assert primary_key is not None
                entry.id = int(primary_key[0])
                ids.append(entry.id)
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

    async def delete(self, ids: Iterable[int]) -> None:
        table = ENTRIES
        ids = list(ids)
        if not ids:
            return
        async with self._writing() as connection:
            for start in range(0, len(ids), 500):
                await connection.execute(delete(table).where(table.c.id.in_(ids[start : start + 500])))
