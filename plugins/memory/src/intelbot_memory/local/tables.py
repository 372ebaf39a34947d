"""The memory rows in the kernel's database, and the migration that creates them and their keyword index.

The rows are the source of truth: text, scope, owner, kind, times and the float32
vector. The vector index is rebuilt from them whenever its files cannot be trusted.
Keyword search lives in the same database so a delete reaches it in the same
transaction: on SQLite an FTS5 table kept in step by triggers, on PostgreSQL a
generated ``tsvector`` column with a GIN index.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Connection, Float, Integer, LargeBinary, MetaData, String, Table, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

COMPONENT = "memory"


class MemoryTable(DeclarativeBase):
    """Base of the memory plugin's tables."""

    metadata = MetaData()


class MemoryRow(MemoryTable):
    """One memory. ``id`` keys the vector index; ``uid`` is the id the hooks hand out."""

    __tablename__ = "memory_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(32), index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    embedder: Mapped[str] = mapped_column(String(128))


MEMORIES: Table = MemoryRow.__table__  # type: ignore[assignment]


def create_rows(connection: Connection) -> None:
    """Migration 1: the rows."""
    MemoryTable.metadata.create_all(connection)


def create_keyword_index(connection: Connection) -> None:
    """Migration 2: the keyword index of the database's dialect, filled from the rows already there."""
    if connection.dialect.name == "sqlite":
        statements = [
            "CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5("
            "text, content='memory_entries', content_rowid='id', tokenize='porter unicode61')",
            "CREATE TRIGGER IF NOT EXISTS memory_fts_insert AFTER INSERT ON memory_entries BEGIN "
            "INSERT INTO memory_fts(rowid, text) VALUES (new.id, new.text); END",
            "CREATE TRIGGER IF NOT EXISTS memory_fts_delete AFTER DELETE ON memory_entries BEGIN "
            "INSERT INTO memory_fts(memory_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
            "CREATE TRIGGER IF NOT EXISTS memory_fts_update AFTER UPDATE OF text ON memory_entries BEGIN "
            "INSERT INTO memory_fts(memory_fts, rowid, text) VALUES ('delete', old.id, old.text); "
            "INSERT INTO memory_fts(rowid, text) VALUES (new.id, new.text); END",
            "INSERT INTO memory_fts(memory_fts) VALUES ('rebuild')",
        ]
    elif connection.dialect.name == "postgresql":
        statements = [
            "ALTER TABLE memory_entries ADD COLUMN IF NOT EXISTS text_search tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
            "CREATE INDEX IF NOT EXISTS memory_entries_text_search ON memory_entries USING GIN (text_search)",
        ]
    else:
        raise RuntimeError(
            f"the memory plugin's keyword search supports SQLite and PostgreSQL, not {connection.dialect.name}"
        )
    for statement in statements:
        connection.execute(text(statement))


MIGRATIONS = (create_rows, create_keyword_index)
