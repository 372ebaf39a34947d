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
A vote or a re-ask on an entry's answer logs ``retuned`` (with the voter's guild):
the other replicas then re-read that entry's outcomes.

The outcomes (``semantic_cache_outcomes``, one row per ``request_id``): every hit the
cache served and every answer it stored, while learning from feedback is on, with
the entry, the guild, channel and user of the turn, the cosine and score it was
served at, and later the asker's vote and whether it was re-asked
(:mod:`.outcomes` says what they decide). They go with their entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from intelbot_semantic_cache.outcomes import Outcome


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


class OutcomeRow(CacheTable):
    """One answer the cache is accountable for (a hit it served, an answer it stored), and what became of it."""

    __tablename__ = "semantic_cache_outcomes"
    __table_args__ = (Index("ix_semantic_cache_outcomes_asker", "user_id", "channel_id", "served_at"),)

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_id: Mapped[int] = mapped_column(Integer, index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # "exact", "semantic" or "stored"
    similarity: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    served_at: Mapped[float] = mapped_column(Float)
    vote: Mapped[str | None] = mapped_column(String(8), nullable=True)
    reasked: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass(frozen=True, slots=True)
class Asker:
    """Who a served answer went to, and when (for re-asks): guild, channel, user, clock time."""

    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    at: float


@dataclass(frozen=True, slots=True)
class Change:
    """A row of the change feed: ``kind`` is ``stored``, ``removed`` or ``retuned``."""

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
OUTCOMES: Table = OutcomeRow.__table__  # type: ignore[assignment]
# pg_advisory_xact_lock key of the cache's writers (any fixed 64-bit number; "semcache" in ASCII)
CHANGE_LOCK_KEY = 0x73656D6361636865 - (1 << 63)
_ENTRY_FIELDS = [item.name for item in fields(CacheEntry)]


def create_schema(connection: Connection) -> None:
    """Create the cache's tables (a migration step for ``Database.migrate``)."""
    CacheTable.metadata.create_all(connection)


def create_change_feed(connection: Connection) -> None:
    """Create the change feed's table (the second migration step: databases made before it lack it)."""
    CHANGES.create(connection, checkfirst=True)


def create_outcomes(connection: Connection) -> None:
    """Create the outcomes' table (the third migration step: per-entry thresholds learnt from feedback)."""
    OUTCOMES.create(connection, checkfirst=True)


CACHE_SCHEMA = (create_schema, create_change_feed, create_outcomes)
"""The cache's migration steps, in order (``Database.migrate`` records how many have run)."""


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
        self,
        entries: Sequence[CacheEntry],
        vectors: Sequence[bytes | None],
        embedder: str = "",
        *,
        request_ids: Sequence[str | None] | None = None,
    ) -> list[int]:
        """Insert rows (replacing rows with the same prompt key); returns their new ids and sets ``entry.id``.

        ``request_ids``: the turn that made each answer, recorded as its ``stored``
        outcome (None: none recorded).
        """
        table = ENTRIES
        ids: list[int] = []
        async with self._writing(logged=True) as connection:
            keys = [entry.prompt_key for entry in entries]
            replaced = (
                await connection.execute(select(table.c.id, table.c.guild_id).where(table.c.prompt_key.in_(keys)))
            ).all()
            changes = [("removed", "replaced", int(row.id), row.guild_id) for row in replaced]
            await connection.execute(delete(table).where(table.c.prompt_key.in_(keys)))
            await _delete_outcomes(connection, [int(row.id) for row in replaced])
            for position, (entry, vector) in enumerate(zip(entries, vectors, strict=True)):
                values = {name: getattr(entry, name) for name in _ENTRY_FIELDS if name != "id"}
                result = await connection.execute(insert(table).values(**values, vector=vector, embedder=embedder))
                primary_key = result.inserted_primary_key
                assert primary_key is not None
                entry.id = int(primary_key[0])
                ids.append(entry.id)
                changes.append(("stored", "", entry.id, entry.guild_id))
                request_id = request_ids[position] if request_ids is not None else None
                if request_id is not None:
                    outcome = Outcome(request_id, entry.id, entry.guild_id, "stored", 1.0, None)
                    await _insert_outcome(connection, outcome, Asker(entry.guild_id, None, None, entry.created_at))
            await _log_changes(connection, changes, at=max((entry.created_at for entry in entries), default=0.0))
        return ids

    async def record_hit(self, entry: CacheEntry, outcome: Outcome | None = None, asker: Asker | None = None) -> None:
        """Write the entry's hit count, expiry and last use, and the hit's ``outcome`` served to ``asker`` if given."""
        table = ENTRIES
        async with self._writing() as connection:
            await connection.execute(
                update(table)
                .where(table.c.id == entry.id)
                .values(hits=entry.hits, expires_at=entry.expires_at, last_used_at=entry.last_used_at)
            )
            if outcome is not None and asker is not None:
                await _insert_outcome(connection, outcome, asker)

    async def record_vote(self, request_id: str, vote: str, *, at: float) -> Outcome | None:
        """Set the vote of ``request_id``'s outcome, once; the outcome as voted, None when there is none to vote.

        Logs ``retuned`` for the entry in the same transaction (the other replicas re-read it).
        """
        return await self._mark(request_id, OUTCOMES.c.vote.is_(None), {"vote": vote}, at=at)

    async def mark_reasked(self, request_id: str, *, at: float) -> Outcome | None:
        """Mark ``request_id``'s (unvoted) outcome re-asked, once; the outcome as marked, or None."""
        condition = and_(OUTCOMES.c.vote.is_(None), OUTCOMES.c.reasked.is_(False))
        return await self._mark(request_id, condition, {"reasked": True}, at=at)

    async def _mark(self, request_id: str, condition: Any, values: dict[str, Any], *, at: float) -> Outcome | None:
        table = OUTCOMES
        async with self._writing(logged=True) as connection:
            changed = await connection.execute(
                update(table).where(table.c.request_id == request_id, condition).values(**values)
            )
            if changed.rowcount != 1:
                return None
            row = (await connection.execute(select(table).where(table.c.request_id == request_id))).one()
            outcome = _outcome_of(row)
            await _log_changes(connection, [("retuned", "", outcome.entry_id, outcome.guild_id)], at=at)
        return outcome

    async def evidence(self, entry_ids: Sequence[int] | None = None) -> list[Outcome]:
        """The outcomes with a vote or a re-ask (of ``entry_ids``; None: of every entry), oldest first."""
        table = OUTCOMES
        query = (
            select(table)
            .where((table.c.vote.is_not(None)) | (table.c.reasked.is_(True)))
            .order_by(table.c.served_at, table.c.request_id)
        )
        if entry_ids is not None:
            if not entry_ids:
                return []
            query = query.where(table.c.entry_id.in_(list(entry_ids)))
        async with self.engine.connect() as connection:
            return [_outcome_of(row) for row in await connection.execute(query)]

    async def last_hit_to(self, asker: Asker, since: float, *, excluding: str) -> Outcome | None:
        """The latest unvoted, not re-asked hit served to ``asker``'s user, channel and guild after ``since``."""
        table = OUTCOMES
        query = (
            select(table)
            .where(
                table.c.user_id == asker.user_id,
                table.c.channel_id == asker.channel_id,
                table.c.guild_id.is_(None) if asker.guild_id is None else table.c.guild_id == asker.guild_id,
                table.c.served_at >= since,
                table.c.kind != "stored",
                table.c.request_id != excluding,
                table.c.vote.is_(None),
                table.c.reasked.is_(False),
            )
            .order_by(table.c.served_at.desc())
            .limit(1)
        )
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _outcome_of(row)

    async def outcome(self, request_id: str) -> Outcome | None:
        """The outcome recorded for ``request_id``, or None."""
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(OUTCOMES).where(OUTCOMES.c.request_id == request_id))).first()
        return None if row is None else _outcome_of(row)

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
            await _delete_outcomes(connection, ids)
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


async def _insert_outcome(connection: AsyncConnection, outcome: Outcome, asker: Asker) -> None:
    """Insert ``outcome`` unless its ``request_id`` already has one (a turn is accountable once)."""
    found = await connection.execute(select(OUTCOMES.c.request_id).where(OUTCOMES.c.request_id == outcome.request_id))
    if found.first() is not None:
        return
    await connection.execute(
        insert(OUTCOMES).values(
            request_id=outcome.request_id,
            entry_id=outcome.entry_id,
            guild_id=asker.guild_id,
            channel_id=asker.channel_id,
            user_id=asker.user_id,
            kind=outcome.kind,
            similarity=outcome.similarity,
            score=outcome.score,
            served_at=asker.at,
            vote=None,
            reasked=False,
        )
    )


async def _delete_outcomes(connection: AsyncConnection, entry_ids: Sequence[int]) -> None:
    """Delete the outcomes of ``entry_ids`` (they go with their entry)."""
    for start in range(0, len(entry_ids), 500):
        await connection.execute(delete(OUTCOMES).where(OUTCOMES.c.entry_id.in_(list(entry_ids[start : start + 500]))))


def _outcome_of(row: Row[Any]) -> Outcome:
    return Outcome(
        request_id=row.request_id,
        entry_id=int(row.entry_id),
        guild_id=row.guild_id,
        kind=row.kind,
        similarity=float(row.similarity),
        score=None if row.score is None else float(row.score),
        vote=row.vote,
        reasked=bool(row.reasked),
    )
