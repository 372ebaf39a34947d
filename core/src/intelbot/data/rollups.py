"""The ledger's rollups: per-minute and per-hour totals kept beside the rows they count.

:func:`rollup_deltas` turns a batch of usage-ledger and conversation-log rows into
increments of :class:`~intelbot.data.tables.LedgerRollup` rows; :func:`add_rollups`
applies them with one ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL),
inside the caller's transaction, so a rollup never counts a row that was not written
nor misses one that was. :data:`BACKFILL` is the migration step that builds the
rollups of a database whose rows were written before they existed.

Buckets are the UTC start of the row's minute and hour, so any range that starts and
ends on those boundaries (today since midnight, the last hour by minute, the last day
by hour) sums to exactly what the rows themselves give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection

from intelbot.data.tables import LedgerRollup, TurnRecord, UsageEntry

GRAINS = ("minute", "hour")
NO_GUILD = 0
"""``guild_key`` of rows without a guild."""
COUNTERS = ("turns", "calls", "input_tokens", "output_tokens", "cost_usd")
RollupKey = tuple[str, datetime, int, str]
BACKFILL_BATCH = 10_000
UPSERT_ROWS = 1_000
"""Rollup rows per statement: 10 parameters each stays under SQLite's and asyncpg's limits."""


def bucket_start(moment: datetime, grain: str) -> datetime:
    """The UTC start of ``moment``'s minute or hour (a naive ``moment`` is taken as UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    moment = moment.replace(second=0, microsecond=0)
    return moment.replace(minute=0) if grain == "hour" else moment


def rollup_deltas(
    usage: Iterable[Mapping[Any, Any]], turns: Iterable[Mapping[Any, Any]]
) -> dict[RollupKey, dict[str, float]]:
    """The increments that ``usage`` (ledger rows) and ``turns`` (log rows) add, by rollup key."""
    deltas: dict[RollupKey, dict[str, float]] = {}

    def add(row: Mapping[str, Any], counters: dict[str, float]) -> None:
        guild = row.get("guild_id")
        for grain in GRAINS:
            key = (
                grain,
                bucket_start(row["created_at"], grain),
                NO_GUILD if guild is None else int(guild),
                row["source"],
            )
            totals = deltas.setdefault(key, dict.fromkeys(COUNTERS, 0))
            for name, value in counters.items():
                totals[name] += value

    for row in usage:
        add(
            row,
            {
                "calls": 1,
                "input_tokens": int(row["input_tokens"]),
                "output_tokens": int(row["output_tokens"]),
                "cost_usd": float(row["cost_usd"]),
            },
        )
    for row in turns:
        add(row, {"turns": 1})
    return deltas


def _upsert(dialect: str, deltas: Mapping[RollupKey, Mapping[str, float]]) -> Any:
    values = [
        {"grain": grain, "bucket": bucket, "guild_key": guild, "source": source, **counters}
        for (grain, bucket, guild, source), counters in deltas.items()
    ]
    # the dialect's own module only: importing the PostgreSQL dialect costs a SQLite start about 30 ms
    statement: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(LedgerRollup).values(values)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(LedgerRollup).values(values)
    table = LedgerRollup.__table__.c
    return statement.on_conflict_do_update(
        index_elements=["grain", "bucket", "guild_key", "source"],
        set_={name: table[name] + statement.excluded[name] for name in COUNTERS},
    )


async def add_rollups(
    connection: AsyncConnection, usage: Iterable[Mapping[Any, Any]], turns: Iterable[Mapping[Any, Any]]
) -> None:
    """Add what ``usage`` and ``turns`` count to the rollups, in ``connection``'s transaction."""
    deltas = rollup_deltas(usage, turns)
    for chunk in _chunks(deltas):
        await connection.execute(_upsert(connection.dialect.name, chunk))


def _chunks(deltas: dict[RollupKey, dict[str, float]]) -> list[dict[RollupKey, dict[str, float]]]:
    keys = list(deltas)
    return [
        {key: deltas[key] for key in keys[start : start + UPSERT_ROWS]} for start in range(0, len(keys), UPSERT_ROWS)
    ]


def _backfill(connection: Connection) -> None:
    """Rebuild every rollup from the rows already in ``usage_ledger`` and ``turns`` (none yet: nothing to do)."""
    connection.execute(delete(LedgerRollup))
    tables = inspect(connection)
    if not (tables.has_table(UsageEntry.__tablename__) and tables.has_table(TurnRecord.__tablename__)):
        return
    deltas: dict[RollupKey, dict[str, float]] = {}
    usage_columns = (
        UsageEntry.created_at,
        UsageEntry.guild_id,
        UsageEntry.source,
        UsageEntry.input_tokens,
        UsageEntry.output_tokens,
        UsageEntry.cost_usd,
    )
    turn_columns = (TurnRecord.created_at, TurnRecord.guild_id, TurnRecord.source)
    for columns, kind in ((usage_columns, "usage"), (turn_columns, "turns")):
        result = connection.execute(select(*columns).execution_options(yield_per=BACKFILL_BATCH))
        for rows in result.mappings().partitions():
            batch = rollup_deltas(rows, ()) if kind == "usage" else rollup_deltas((), rows)
            for key, counters in batch.items():
                totals = deltas.setdefault(key, dict.fromkeys(COUNTERS, 0))
                for name, value in counters.items():
                    totals[name] += value
    for chunk in _chunks(deltas):
        connection.execute(_upsert(connection.dialect.name, chunk))


BACKFILL = _backfill
"""Migration step 2 of the ``ledger`` component: rollups of the rows written before them."""
