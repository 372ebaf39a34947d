"""The advisor's two tables in the kernel's database: captured figures and suggestions.

Captured figures are merged per fingerprint, so ``intelbot db report`` in another process
sees what the bot captured. The sample statement and its parameters are kept for the
analysis only (they may hold user data, like every other table in this database); the
report, metrics and Discord show the normalised text alone. Every statement here runs on
a connection tagged as the advisor's own, so it is never captured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, Text, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from intelbot.data.database import Database
from intelbot_db_advisor.capture import MAX_SAMPLES, StatementFigures, own

if TYPE_CHECKING:
    from intelbot_db_advisor.suggestion import Suggestion  # suggestion imports the sqlglot-based workload parser

metadata = MetaData()
statements_table = Table(
    "db_advisor_statements",
    metadata,
    Column("fingerprint", String(12), primary_key=True),
    Column("text", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tables", Text, nullable=False),
    Column("calls", Integer, nullable=False),
    Column("total_seconds", Float, nullable=False),
    Column("max_seconds", Float, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("sample_sql", Text, nullable=False),
    Column("sample_parameters", Text, nullable=True),
    Column("last_seen", Float, nullable=False),
    Column("parameter_samples", Text, nullable=True),
)
suggestions_table = Table(
    "db_advisor_suggestions",
    metadata,
    Column("id", String(10), primary_key=True),
    Column("target", Text, nullable=False),
    Column("dialect", String(16), nullable=False),
    Column("table_name", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("sql", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("applied_at", Float, nullable=True),
)


def _add_parameter_samples(connection: Connection) -> None:
    """Schema 2: ``parameter_samples``, varied parameter sets of ``sample_sql`` (a JSON list), for trials."""
    if "parameter_samples" not in {c["name"] for c in inspect(connection).get_columns("db_advisor_statements")}:
        connection.execute(text("ALTER TABLE db_advisor_statements ADD COLUMN parameter_samples TEXT"))


SCHEMA = (lambda connection: metadata.create_all(connection), _add_parameter_samples)


@dataclass(frozen=True, slots=True)
class StoredSuggestion:
    """A suggestion as stored: where it applies, the statement ``apply`` runs, its evidence as JSON."""

    id: str
    target: str
    dialect: str
    table: str
    columns: tuple[str, ...]
    sql: str
    details: dict[str, Any]
    applied_at: float | None


def _parameters_json(parameters: Any) -> str | None:
    if parameters is None:
        return None
    try:
        return json.dumps(list(parameters) if isinstance(parameters, tuple) else parameters, allow_nan=False)
    except (TypeError, ValueError):
        return None  # not plain JSON (dates, bytes): the statement is planned, not timed


def _samples_json(samples: tuple[Any, ...]) -> str | None:
    """The samples as a JSON list; None when any is not plain JSON (then the single sample is used)."""
    try:
        return json.dumps([list(p) if isinstance(p, tuple) else p for p in samples], allow_nan=False)
    except (TypeError, ValueError):
        return None


def _samples_from_json(raw: str | None) -> tuple[Any, ...]:
    if raw is None:
        return ()
    return tuple(tuple(p) if isinstance(p, list) else p for p in json.loads(raw))


class AdvisorStore:
    """Reads and writes the advisor's tables through the kernel's :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def migrate(self) -> None:
        await self.database.migrate("db_advisor", SCHEMA)

    async def _own(self, connection: AsyncConnection) -> None:
        await own(connection)

    async def add_figures(self, figures: Iterable[StatementFigures]) -> None:
        """Merge captured figures into the stored ones (calls and times add up)."""
        items = list(figures)
        if not items:
            return
        async with self.database.write_lock, self.database.engine.begin() as connection:
            await self._own(connection)
            await connection.run_sync(_merge_figures, items, time.time())

    async def figures(self) -> list[StatementFigures]:
        async with self.database.engine.connect() as connection:
            await self._own(connection)
            rows = (await connection.execute(select(statements_table))).mappings().all()
        result: list[StatementFigures] = []
        for row in rows:
            parameters = json.loads(row["sample_parameters"]) if row["sample_parameters"] is not None else None
            result.append(
                StatementFigures(
                    fingerprint=row["fingerprint"],
                    text=row["text"],
                    kind=row["kind"],
                    tables=tuple(json.loads(row["tables"])),
                    sample_sql=row["sample_sql"],
                    sample_parameters=tuple(parameters) if isinstance(parameters, list) else parameters,
                    parameter_samples=_samples_from_json(row["parameter_samples"]),
                    calls=row["calls"],
                    total_seconds=row["total_seconds"],
                    max_seconds=row["max_seconds"],
                    rows=row["rows"],
                )
            )
        return result

    async def save_suggestions(self, target: str, suggestions: Iterable[Suggestion]) -> None:
        """Store (or refresh) suggestions for ``target``, keeping when each was applied."""
        items = list(suggestions)
        if not items:
            return
        async with self.database.write_lock, self.database.engine.begin() as connection:
            await self._own(connection)
            await connection.run_sync(_save_suggestions, target, items, time.time())

    async def suggestions(self, target: str | None = None) -> list[StoredSuggestion]:
        query = select(suggestions_table).order_by(suggestions_table.c.created_at.desc())
        if target is not None:
            query = query.where(suggestions_table.c.target == target)
        async with self.database.engine.connect() as connection:
            await self._own(connection)
            rows = (await connection.execute(query)).mappings().all()
        return [
            StoredSuggestion(
                row["id"],
                row["target"],
                row["dialect"],
                row["table_name"],
                tuple(json.loads(row["columns"])),
                row["sql"],
                json.loads(row["details"]),
                row["applied_at"],
            )
            for row in rows
        ]

    async def mark_applied(self, suggestion_id: str) -> None:
        async with self.database.write_lock, self.database.engine.begin() as connection:
            await self._own(connection)
            await connection.execute(
                update(suggestions_table).where(suggestions_table.c.id == suggestion_id).values(applied_at=time.time())
            )


def _merge_figures(connection: Connection, items: list[StatementFigures], now: float) -> None:
    table = statements_table
    known = {
        row.fingerprint: row
        for row in connection.execute(
            select(
                table.c.fingerprint,
                table.c.calls,
                table.c.total_seconds,
                table.c.max_seconds,
                table.c.rows,
                table.c.sample_sql,
                table.c.parameter_samples,
            ).where(table.c.fingerprint.in_([item.fingerprint for item in items]))
        )
    }
    for item in items:
        row = known.get(item.fingerprint)
        if row is None:
            connection.execute(
                table.insert().values(
                    fingerprint=item.fingerprint,
                    text=item.text,
                    kind=item.kind,
                    tables=json.dumps(list(item.tables)),
                    calls=item.calls,
                    total_seconds=item.total_seconds,
                    max_seconds=item.max_seconds,
                    rows=item.rows,
                    sample_sql=item.sample_sql,
                    sample_parameters=_parameters_json(item.sample_parameters),
                    parameter_samples=_samples_json(item.parameter_samples),
                    last_seen=now,
                )
            )
        else:
            samples = _samples_from_json(row.parameter_samples)
            if row.sample_sql == item.sample_sql and len(samples) < MAX_SAMPLES:
                samples = (*samples, *item.parameter_samples)[:MAX_SAMPLES]
            connection.execute(
                update(table)
                .where(table.c.fingerprint == item.fingerprint)
                .values(
                    parameter_samples=_samples_json(samples),
                    calls=row.calls + item.calls,
                    total_seconds=row.total_seconds + item.total_seconds,
                    max_seconds=max(row.max_seconds, item.max_seconds),
                    rows=row.rows + item.rows,
                    last_seen=now,
                )
            )


def _save_suggestions(connection: Connection, target: str, items: list[Suggestion], now: float) -> None:
    table = suggestions_table
    known = {
        row.id for row in connection.execute(select(table.c.id).where(table.c.id.in_([item.id for item in items])))
    }
    for item in items:
        values = {
            "target": target,
            "dialect": item.dialect,
            "table_name": item.table,
            "columns": json.dumps(list(item.columns)),
            "sql": item.sql,
            "details": json.dumps(item.as_dict(), allow_nan=False, default=str),
            "created_at": now,
        }
        if item.id in known:
            connection.execute(update(table).where(table.c.id == item.id).values(**values))
        else:
            connection.execute(table.insert().values(id=item.id, **values))
