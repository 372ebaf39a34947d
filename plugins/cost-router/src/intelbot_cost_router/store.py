"""The router's decision records in the kernel's database (its own table, its own MetaData).

One row per routed turn that got an answer: which tier and model were chosen, the
estimate and threshold, what the answer cost and what the strong tier would have
cost for the same tokens, whether the answer was complete, and (with
``store_prompts``) the prompt. Rows are per guild (``guild_id``; NULL for direct
messages and the console).

Schema 2 (added in place to older databases) adds the turn's evidence beyond votes:
``provider_errors`` (failed attempts before the answer, told by ``on_error``),
``error_category`` (the last one's category) and ``reasked`` (the same asker asked
the same question again within ``reask_window_seconds``, by :mod:`intelbot.reask`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class RouterTable(DeclarativeBase):
    """Base of the cost router's tables."""

    metadata = MetaData()


class DecisionRow(RouterTable):
    """One routing decision and what came of it."""

    __tablename__ = "cost_router_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    tier: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(32))
    content_type: Mapped[str] = mapped_column(String(16))
    estimate: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Float)
    strong_cost_usd: Mapped[float] = mapped_column(Float)
    saved_usd: Mapped[float] = mapped_column(Float)
    complete: Mapped[bool] = mapped_column(Boolean)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reasked: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


DECISIONS: Table = DecisionRow.__table__  # type: ignore[assignment]


def create_schema(connection: Connection) -> None:
    """Schema 1: create the router's tables (a fresh database gets every column at once)."""
    RouterTable.metadata.create_all(connection)


NEW_COLUMNS = (
    ("provider_errors", "INTEGER NOT NULL DEFAULT 0"),
    ("error_category", "VARCHAR(32)"),
    ("reasked", "BOOLEAN NOT NULL DEFAULT FALSE"),
)


def add_evidence_columns(connection: Connection) -> None:
    """Schema 2: ``provider_errors``, ``error_category`` and ``reasked`` on a table made by schema 1."""
    present = {column["name"] for column in inspect(connection).get_columns("cost_router_decisions")}
    for name, kind in NEW_COLUMNS:
        if name not in present:
            connection.execute(text(f"ALTER TABLE cost_router_decisions ADD COLUMN {name} {kind}"))


SCHEMA = (create_schema, add_evidence_columns)
"""The router's migration steps for ``Database.migrate`` (one per schema version)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision record as written."""

    request_id: str
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    created_at: float
    tier: str
    model: str
    rule: str
    content_type: str
    estimate: float
    threshold: float
    cost_usd: float
    strong_cost_usd: float
    saved_usd: float
    complete: bool
    prompt: str | None
    provider_errors: int = 0
    error_category: str | None = None
    reasked: bool = False


@dataclass(frozen=True, slots=True)
class Savings:
    """Totals over decision records: how many turns went to each tier and the money saved."""

    decisions: int
    weak: int
    strong: int
    cost_usd: float
    strong_cost_usd: float
    saved_usd: float


class DecisionStore:
    """Writes and sums decision rows. ``write_lock`` (the kernel's, on SQLite) serialises writers."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock, *, strong_tier: str) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self.strong_tier = strong_tier

    async def record(self, decision: Decision) -> None:
        async with self.write_lock, self.engine.begin() as connection:
            await connection.execute(
                insert(DECISIONS).values(**{name: getattr(decision, name) for name in Decision.__slots__})
            )

    async def mark_reasked(self, request_id: str) -> bool:
        """Mark the decision of ``request_id`` as re-asked; False when there is none (or it was marked already)."""
        table = DECISIONS
        statement = (
            update(table).where(table.c.request_id == request_id, table.c.reasked.is_(False)).values(reasked=True)
        )
        async with self.write_lock, self.engine.begin() as connection:
            result = await connection.execute(statement)
        return bool(result.rowcount)

    async def savings(
        self, *, guild_id: int | None = None, since: float | None = None, every_guild: bool = False
    ) -> Savings:
        """Totals for one guild (``guild_id`` None: direct messages and the console), or ``every_guild``."""
        table = DECISIONS
        strong = func.sum(func.cast(table.c.tier == self.strong_tier, Integer))
        query = select(
            func.count(table.c.id),
            strong,
            func.sum(table.c.cost_usd),
            func.sum(table.c.strong_cost_usd),
            func.sum(table.c.saved_usd),
        )
        if not every_guild:
            query = query.where(table.c.guild_id.is_(None) if guild_id is None else table.c.guild_id == guild_id)
        if since is not None:
            query = query.where(table.c.created_at >= since)
        async with self.engine.connect() as connection:
            count, strong_count, cost, strong_cost, saved = (await connection.execute(query)).one()
        count = int(count or 0)
        strong_count = int(strong_count or 0)
        return Savings(
            count,
            count - strong_count,
            strong_count,
            float(cost or 0.0),
            float(strong_cost or 0.0),
            float(saved or 0.0),
        )

    async def decisions(self, *, guild_id: int | None = None, every_guild: bool = True) -> list[Decision]:
        """Decision rows, oldest first (of one guild unless ``every_guild``)."""
        table = DECISIONS
        query = select(table).order_by(table.c.id)
        if not every_guild:
            query = query.where(table.c.guild_id.is_(None) if guild_id is None else table.c.guild_id == guild_id)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Decision(**{name: row._mapping[name] for name in Decision.__slots__}) for row in rows]
