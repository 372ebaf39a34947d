"""The advisor's operations on a database: analyse a workload, report, apply a suggestion.

:func:`analyse` picks the dialect's analysis for an engine: SQLite trials run on a copy
in a worker thread; PostgreSQL trials run on one connection checked out of the engine's
pool (driver-level, so never captured), reset before it is returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from intelbot.errors import ConfigurationError
from intelbot.redaction import redacted_url
from intelbot_db_advisor.capture import StatementFigures, own
from intelbot_db_advisor.health import Finding, health
from intelbot_db_advisor.pool import PoolAdvice, PoolWatch, pool_advice
from intelbot_db_advisor.postgres_analysis import analyse_postgres
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.sqlite_analysis import analyse_sqlite
from intelbot_db_advisor.suggestion import Analysis
from intelbot_db_advisor.workload import WorkloadStatement, statements_from_capture

WRITE_KINDS = ("insert", "update", "delete")


def target_of(engine: AsyncEngine) -> str:
    """How suggestions name their database: the URL with any password redacted."""
    return redacted_url(engine.url.render_as_string(hide_password=False))


def sqlite_path(engine: AsyncEngine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise ConfigurationError(
            "the SQLite database is in memory: there is no file to copy for trials", key="database_url"
        )
    return Path(database)


async def analyse(
    engine: AsyncEngine,
    statements: Sequence[WorkloadStatement],
    settings: DbAdvisorSettings,
    *,
    total_seconds: float | None = None,
    table_writes: dict[str, float] | None = None,
) -> Analysis:
    """Analyse ``statements`` on ``engine``'s database (see the dialects' modules for the rules)."""
    target = target_of(engine)
    if engine.dialect.name == "sqlite":
        path = sqlite_path(engine)
        return await asyncio.to_thread(
            analyse_sqlite,
            path,
            statements,
            settings,
            target=target,
            total_seconds=total_seconds,
            table_writes=table_writes,
        )
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await own(connection)
            raw = await connection.get_raw_connection()
            return await analyse_postgres(
                raw.driver_connection,
                statements,
                settings,
                target=target,
                total_seconds=total_seconds,
                table_writes=table_writes,
                client=connection,
            )
    raise ConfigurationError(f"no analysis for the {engine.dialect.name} dialect", key="database_url")


def table_write_shares(figures: Sequence[StatementFigures]) -> dict[str, float]:
    """Per table, the share of its captured calls that write."""
    calls: dict[str, list[int]] = {}
    for item in figures:
        for table in item.tables:
            pair = calls.setdefault(table, [0, 0])
            pair[0 if item.kind in WRITE_KINDS else 1] += item.calls
    return {table: writes / (writes + reads) for table, (writes, reads) in calls.items() if writes + reads}


def worth_analysing(figures: Sequence[StatementFigures], settings: DbAdvisorSettings) -> list[StatementFigures]:
    """Captured statements at or above both floors, heaviest first, at most ``max_statements``."""
    kept = [
        item
        for item in figures
        if item.calls >= settings.min_calls and item.total_seconds * 1000 >= settings.min_total_ms
    ]
    kept.sort(key=lambda item: item.total_seconds, reverse=True)
    return kept[: settings.max_statements]


@dataclass
class Report:
    """``intelbot db report``: captured statements, the analysis of the heaviest, health and pool."""

    figures: list[StatementFigures]
    analysis: Analysis
    findings: list[Finding]
    pool: PoolAdvice
    total_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        slow = sorted(self.figures, key=lambda item: item.total_seconds, reverse=True)
        return {
            "statements_captured": len(self.figures),
            "db_seconds_captured": self.total_seconds,
            "slow_statements": [
                {
                    "fingerprint": item.fingerprint,
                    "text": item.text,
                    "kind": item.kind,
                    "tables": list(item.tables),
                    "calls": item.calls,
                    "total_seconds": item.total_seconds,
                    "mean_seconds": item.mean_seconds,
                    "max_seconds": item.max_seconds,
                    "share_of_db_time": round(item.total_seconds / self.total_seconds, 4) if self.total_seconds else 0,
                }
                for item in slow[:20]
            ],
            "suggestions": [s.as_dict() for s in self.analysis.suggestions],
            "analysis": self.analysis.as_dict(),
            "health": [f.as_dict() for f in self.findings],
            "pool": self.pool.as_dict(),
            "notes": list(self.notes),
        }


async def build_report(
    engine: AsyncEngine, figures: list[StatementFigures], settings: DbAdvisorSettings, watch: PoolWatch
) -> Report:
    """Analyse the captured statements above the floors, and read health and pool figures."""
    total = sum(item.total_seconds for item in figures)
    chosen = worth_analysing(figures, settings)
    notes: list[str] = []
    if not figures:
        notes.append("no statements captured yet: run the bot with the advisor enabled, then report again")
    elif not chosen:
        notes.append(f"no statement reached the analysis floors (min_calls, min_total_ms = {settings.min_total_ms})")
    if chosen:
        analysis = await analyse(
            engine,
            statements_from_capture(chosen),
            settings,
            total_seconds=total,
            table_writes=table_write_shares(figures),
        )
    else:
        analysis = Analysis(dialect=engine.dialect.name)
    findings = await health(engine)
    return Report(
        figures, analysis, findings, pool_advice(engine.sync_engine, watch, await max_connections(engine)), total, notes
    )


async def max_connections(engine: AsyncEngine) -> int | None:
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as connection:
        await own(connection)
        return int((await connection.execute(text("SHOW max_connections"))).scalar_one())


async def apply_index(engine: AsyncEngine, sql: str) -> None:
    """Run one suggested CREATE INDEX (outside a transaction on PostgreSQL, as CONCURRENTLY needs)."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await own(connection)
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(sql)
        return
    async with engine.begin() as connection:
        await own(connection)
        await connection.exec_driver_sql(sql)
