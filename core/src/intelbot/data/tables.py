"""The kernel's tables. Plugins keep their own tables in their own ``MetaData``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class KernelTable(DeclarativeBase):
    """Base of the kernel's own tables."""

    metadata = MetaData()


class TurnRecord(KernelTable):
    """The conversation log: one row per answered turn."""

    __tablename__ = "turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    frontend: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


SCOPE_COLUMNS = ("guild_id", "user_id")
"""The usage ledger's columns a spending cap reads by, each indexed with ``created_at``."""
SCOPE_INDEXES = tuple(Index(f"ix_usage_ledger_{column}_created_at", column, "created_at") for column in SCOPE_COLUMNS)
"""``(guild_id, created_at)`` and ``(user_id, created_at)`` on ``usage_ledger`` (kernel schema 3)."""


class UsageEntry(KernelTable):
    """The usage ledger: one row per LLM call (provider or cache), with what it cost.

    A spending cap reads a guild's or a user's spend since midnight before every capped
    call, so ``guild_id`` and ``user_id`` are indexed together with ``created_at``
    (:data:`SCOPE_INDEXES`): that read visits the scope's rows of the day, not every row
    the scope ever made. The same indexes serve lookups by ``guild_id`` or ``user_id``
    alone (their leading column).
    """

    __tablename__ = "usage_ledger"
    __table_args__ = SCOPE_INDEXES

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(128))
    provider: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class GuildPluginSwitch(KernelTable):
    """A per-guild plugin switch set with ``/plugins enable|disable``; absent means the global flag decides."""

    __tablename__ = "guild_plugin_switches"
    __table_args__ = (UniqueConstraint("guild_id", "plugin"),)  # also serves lookups by guild_id alone

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    guild_id: Mapped[int] = mapped_column(BigInteger)
    plugin: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class LedgerTable(DeclarativeBase):
    """Base of the ledger's own tables (schema component ``ledger``, versioned apart from the kernel's)."""

    metadata = MetaData()


class LedgerDeadLetter(LedgerTable):
    """A ledger or conversation-log row the database refused, kept with the reason instead of being lost.

    ``payload`` is the row as JSON (ASCII, so it can always be stored); ``kind`` names
    the table it was meant for (``usage_ledger`` or ``turns``).
    """

    __tablename__ = "ledger_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class LedgerRollup(LedgerTable):
    """Running totals of the ledger and the conversation log per minute or hour, guild and source.

    Kept by the ledger's writer in the transaction that inserts the rows it counts
    (:mod:`intelbot.data.rollups`), so a summary reads a few hundred rows instead of
    every call ever made. ``grain`` is ``minute`` or ``hour``; ``bucket`` is the UTC
    start of that minute or hour; ``guild_key`` is the guild id, 0 for none (DMs,
    console, CLI: a unique key cannot hold NULL); ``source`` is the row's source
    (``provider``, ``cache``...). ``turns`` counts conversation-log rows, the other
    counters usage-ledger rows.
    """

    __tablename__ = "ledger_rollups"
    __table_args__ = (UniqueConstraint("grain", "bucket", "guild_key", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grain: Mapped[str] = mapped_column(String(8))
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    guild_key: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))
    turns: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
