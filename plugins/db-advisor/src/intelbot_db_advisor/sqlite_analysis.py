"""SQLite analysis: candidate indexes tried on a copy of the database, kept when measured faster.

The source is opened read-only and copied to a temporary file (whole up to
``copy_max_mb``, else a random sample of ``sample_rows`` per table), then ``ANALYZE``d.
Each candidate is created on the copy; a statement counts as served by it when
``EXPLAIN QUERY PLAN`` names it, and then it is timed with each captured parameter
sample (median of ``repeats`` runs each; a writing statement runs inside a transaction
that is rolled back, on the copy). A candidate is kept when the median speed-up over
the samples reaches ``min_speedup``, so one lucky value cannot carry it. Join round:
join statements are tried again with the first round's indexes built, so an
outer-side index that pays only once the inner side has one is found too (its
suggestion names those indexes). With ``count_client_cost`` every measured time also
carries the statement's client-path cost (:mod:`.client_cost`), timed through
SQLAlchemy and aiosqlite on the copy. The source is never written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot.errors import SqlglotError

from intelbot_db_advisor.candidates import ColumnUse, column_uses, parse, workload_candidates
from intelbot_db_advisor.client_cost import RUNS, client_seconds, cost_note, costs_per_call, timed_again, with_costs
from intelbot_db_advisor.selection import Candidate, Measure, choose, median_speedup
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.suggestion import (
    Analysis,
    StatementBaseline,
    StatementEvidence,
    Suggestion,
    covering_index,
    create_index_sql,
    quote,
    suggestion_id,
)
from intelbot_db_advisor.workload import StatementProblem, WorkloadStatement

ANALYSED_KINDS = ("select", "update", "delete")
_TRIAL_PREFIX = "intelbot_advisor_trial_"


class StatementTimeout(Exception):
    """A run on the copy took longer than ``statement_timeout_seconds``."""


@dataclass
class SqliteSchema:
    """Tables and their columns, and existing indexes as ``name -> leading columns`` per table."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    indexes: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)


def read_schema(connection: sqlite3.Connection) -> SqliteSchema:
    """The user tables (not ``sqlite_*``), their columns and plain-column indexes (rowid aliases included)."""
    schema = SqliteSchema()
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        info = connection.execute(f"PRAGMA table_info({quote(table)})").fetchall()
        schema.columns[table] = [row[1] for row in info]
        indexes: dict[str, tuple[str, ...]] = {}
        primary = [row for row in info if row[5] > 0]
        if len(primary) == 1 and str(primary[0][2]).upper() == "INTEGER":
            indexes["rowid"] = (primary[0][1],)
        for row in connection.execute(f"PRAGMA index_list({quote(table)})").fetchall():
            name = row[1]
            columns = connection.execute(f"PRAGMA index_info({quote(name)})").fetchall()
            names = tuple(column[2] for column in sorted(columns, key=lambda c: c[0]))
            if names and all(names) and not row[4]:  # row[4]: partial index
                indexes[name] = names
        schema.indexes[table] = indexes
    return schema


def copy_database(source: Path, target: Path, settings: DbAdvisorSettings) -> bool:
    """Copy ``source`` to ``target`` (whole, or sampled above ``copy_max_mb``); True when sampled."""
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        pages = reader.execute("PRAGMA page_count").fetchone()[0]
        page_size = reader.execute("PRAGMA page_size").fetchone()[0]
        sampled = bool(int(pages) * int(page_size) > settings.copy_max_mb * 1024 * 1024)
        writer = sqlite3.connect(target)
        try:
            if not sampled:
                reader.backup(writer)
            else:
                _sample_into(reader, writer, source, settings.sample_rows)
            writer.execute("ANALYZE")
            writer.commit()
        finally:
            writer.close()
    finally:
        reader.close()
    return sampled


def _sample_into(reader: sqlite3.Connection, writer: sqlite3.Connection, source: Path, rows: int) -> None:
    objects = reader.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END"
    ).fetchall()
    for _kind, _name, sql in objects:
        writer.execute(sql)
    writer.commit()
    writer.execute("ATTACH DATABASE ? AS source", (f"file:{source}?mode=ro",))
    for kind, name, _sql in objects:
        if kind != "table":
            continue
        count = writer.execute(f"SELECT count(*) FROM source.{quote(name)}").fetchone()[0]
        keep = f" WHERE abs(random()) % {count} < {rows}" if count > rows else ""
        writer.execute(f"INSERT INTO main.{quote(name)} SELECT * FROM source.{quote(name)}{keep}")
    writer.commit()
    writer.execute("DETACH DATABASE source")


class SqliteTrials:
    """Runs statements on the copy: plans, timed runs, trial indexes."""

    def __init__(self, connection: sqlite3.Connection, settings: DbAdvisorSettings) -> None:
        self.connection = connection
        self.settings = settings
        self._deadline = 0.0
        connection.set_progress_handler(self._interrupt, 10_000)

    def _interrupt(self) -> int:
        return 1 if self._deadline and time.perf_counter() > self._deadline else 0

    def plan(self, statement: WorkloadStatement) -> str:
        """The ``EXPLAIN QUERY PLAN`` details with the statement's first parameter sample."""
        parameters = _parameters(statement.samples()[0])
        rows = self.connection.execute(f"EXPLAIN QUERY PLAN {statement.sql}", parameters).fetchall()
        return "; ".join(str(row[-1]) for row in rows)

    def run_once(self, statement: WorkloadStatement, parameters: Any) -> float:
        """Seconds for one run with ``parameters``; writes are rolled back."""
        self._deadline = time.perf_counter() + self.settings.statement_timeout_seconds
        values = _parameters(parameters)
        started = time.perf_counter()
        try:
            if statement.kind == "select":
                self.connection.execute(statement.sql, values).fetchall()
            else:
                self.connection.execute("BEGIN")
                try:
                    self.connection.execute(statement.sql, values)
                finally:
                    self.connection.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            if "interrupted" in str(error):
                raise StatementTimeout from None
            raise
        finally:
            self._deadline = 0.0
        return time.perf_counter() - started

    def measure(self, statement: WorkloadStatement) -> Measure:
        """Per parameter sample, the median seconds of ``repeats`` runs after one warm-up run."""
        timings: list[float] = []
        for parameters in statement.samples():
            self.run_once(statement, parameters)
            runs = [self.run_once(statement, parameters) for _ in range(self.settings.repeats)]
            timings.append(statistics.median(runs))
        return Measure.timed(timings)

    def fastest(self, statement: WorkloadStatement, runs: int) -> Measure:
        """Per parameter sample, the fastest of ``runs`` runs after one warm-up run."""
        timings: list[float] = []
        for parameters in statement.samples():
            self.run_once(statement, parameters)
            timings.append(min(self.run_once(statement, parameters) for _ in range(runs)))
        return Measure.timed(timings)

    def create(self, name: str, table: str, columns: Sequence[str]) -> None:
        self.connection.execute(
            f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(quote(c) for c in columns)})"
        )

    def drop(self, name: str) -> None:
        self.connection.execute(f"DROP INDEX {quote(name)}")


def analyse_sqlite(
    source: Path,
    statements: Sequence[WorkloadStatement],
    settings: DbAdvisorSettings,
    *,
    target: str,
    total_seconds: float | None = None,
    table_writes: dict[str, float] | None = None,
) -> Analysis:
    """Analyse ``statements`` against the SQLite database at ``source`` (blocking: run it in a thread).

    The thread must not be running an event loop: with ``count_client_cost`` the analysis
    runs its own (``asyncio.run``) to time statements through SQLAlchemy and aiosqlite.

    ``total_seconds`` is the captured database time all statements took (the denominator
    of each statement's share); None (a statement file) uses the measured times instead.
    ``table_writes`` maps tables to the share of their statements that write.
    """
    analysis = Analysis(dialect="sqlite")
    with tempfile.TemporaryDirectory(prefix="intelbot-db-advisor-") as scratch:
        copy = Path(scratch) / "copy.db"
        if copy_database(source, copy, settings):
            analysis.notes.append(f"trials ran on a sample of up to {settings.sample_rows} rows per table")
        connection = sqlite3.connect(copy, isolation_level=None)
        try:
            _analyse_on_copy(
                connection, copy, statements, settings, analysis, target, total_seconds, table_writes or {}
            )
        finally:
            connection.close()
    return analysis


def _analyse_on_copy(
    connection: sqlite3.Connection,
    copy: Path,
    statements: Sequence[WorkloadStatement],
    settings: DbAdvisorSettings,
    analysis: Analysis,
    target: str,
    total_seconds: float | None,
    table_writes: dict[str, float],
) -> None:
    schema = read_schema(connection)
    trials = SqliteTrials(connection, settings)
    baselines: dict[int, Measure] = {}
    by_index = {statement.index: statement for statement in statements}
    candidates: dict[Candidate, None] = {}
    readers: dict[str, list[int]] = {}
    statement_uses: dict[int, dict[str, ColumnUse]] = {}
    tables_read: dict[int, tuple[str, ...]] = {}
    joined: list[int] = []
    plans: dict[int, str] = {}
    for statement in statements:
        if statement.kind not in ANALYSED_KINDS:
            analysis.notes.append(f"{_where(statement)}: not analysed ({statement.kind} statement)")
            continue
        try:
            uses = column_uses(parse(statement.sql, "sqlite"), schema.columns)
            plans[statement.index] = trials.plan(statement)
            baselines[statement.index] = trials.measure(statement)
        except SqlglotError as error:
            analysis.problems.append(StatementProblem(statement.index, statement.line, f"cannot parse: {error}"))
            continue
        except StatementTimeout:
            analysis.problems.append(
                StatementProblem(
                    statement.index, statement.line, f"took over {settings.statement_timeout_seconds} s on the copy"
                )
            )
            continue
        except sqlite3.Error as error:
            analysis.problems.append(StatementProblem(statement.index, statement.line, f"SQLite error: {error}"))
            continue
        statement_uses[statement.index] = uses
        tables_read[statement.index] = tuple(uses)
        if len(uses) > 1:
            joined.append(statement.index)
        for table in uses:
            readers.setdefault(table, []).append(statement.index)
    shares = _shares(statements, baselines, total_seconds)
    costs: dict[int, Measure] = {}
    if settings.count_client_cost and baselines:
        timed = timed_again(statements, baselines)
        client = asyncio.run(_client_seconds_on_copy(copy, timed))
        costs = costs_per_call(client, {s.index: trials.fastest(s, RUNS) for s in timed})
        if costs:
            analysis.notes.append(cost_note(costs, "SQLAlchemy and aiosqlite"))
        baselines = with_costs(baselines, costs)
    for table, columns in workload_candidates(statement_uses, shares):
        rowid = schema.indexes.get(table, {}).get("rowid", ())
        if len(columns) > 1 and columns[-1:] == rowid:
            continue  # every SQLite index ends with the rowid already: same as the narrower one
        covering = covering_index(columns, schema.indexes.get(table, {}))
        if covering is not None:
            analysis.note_covered(table, columns, covering)
            continue
        candidates[(table, columns)] = None
    for statement in statements:
        if statement.index in baselines:
            analysis.baselines.append(
                StatementBaseline(
                    statement.index,
                    statement.fingerprint,
                    statement.text,
                    statement.kind,
                    shares[statement.index],
                    baselines[statement.index].seconds,
                    None,
                    plans[statement.index],
                    costs[statement.index].seconds if statement.index in costs else None,
                )
            )
    minimum = settings.min_speedup

    def accept(before: Measure, after: Measure) -> bool:
        return median_speedup(before, after) >= minimum

    found = _plus_costs(_trial_round(trials, candidates, readers, by_index, set(baselines)), costs)
    chosen = choose(baselines, found, accept)
    weights = {s.index: float(s.calls) for s in statements}

    def suggest(table: str, columns: tuple[str, ...], helped: dict[int, Measure], before: dict[int, Measure]) -> None:
        order = sorted(helped)
        evidence = [
            StatementEvidence(i, by_index[i].fingerprint, shares[i], before[i].seconds, helped[i].seconds)
            for i in order
        ]
        suggestion = Suggestion(
            id=suggestion_id(target, table, columns),
            dialect="sqlite",
            table=table,
            columns=columns,
            sql=create_index_sql("sqlite", table, columns),
            evidence=evidence,
            weights=[weights[i] for i in order],
        )
        written = table_writes.get(table, 0.0)
        if written > 0.5:
            suggestion.notes.append(
                f"{table} is mostly written ({written:.0%} of its statements): the index adds work to each write"
            )
        analysis.suggestions.append(suggestion)

    for (table, columns), helped in chosen.items():
        suggest(table, columns, helped, baselines)
    analysis.suggestions.sort(key=lambda s: s.saving, reverse=True)
    joins = [i for i in joined if i in baselines]
    if not chosen or not joins:
        return
    # Join round: an index on the outer side of a join pays only once the inner side has one,
    # so join statements are tried again with the first round's indexes built.
    kept = [f"{_TRIAL_PREFIX}kept_{n}" for n in range(len(chosen))]
    for name, (table, columns) in zip(kept, chosen, strict=True):
        trials.create(name, table, columns)
    try:
        with_kept: dict[int, Measure] = {}
        for index in joins:
            try:
                with_kept[index] = trials.measure(by_index[index]).plus(costs.get(index))
            except StatementTimeout:
                continue
        rest = {candidate: None for candidate in candidates if candidate not in chosen}
        again = choose(
            with_kept, _plus_costs(_trial_round(trials, rest, readers, by_index, set(with_kept)), costs), accept
        )
    finally:
        for name in kept:
            trials.drop(name)
    first = len(analysis.suggestions)
    for (table, columns), helped in again.items():
        suggest(table, columns, helped, with_kept)
    for suggestion in analysis.suggestions[first:]:
        tables = {t for i in (e.statement for e in suggestion.evidence) for t in tables_read.get(i, ())}
        needed = [f"{t}({', '.join(c)})" for t, c in chosen if t in tables and t != suggestion.table]
        if needed:
            suggestion.notes.append(f"measured with {', '.join(needed)} in place: create that first")


def _trial_round(
    trials: SqliteTrials,
    candidates: dict[Candidate, None],
    readers: dict[str, list[int]],
    by_index: dict[int, WorkloadStatement],
    statements: set[int],
) -> dict[Candidate, dict[int, Measure]]:
    """Each candidate built on the copy in turn: the statements among ``statements`` its plan uses, timed."""
    found: dict[Candidate, dict[int, Measure]] = {}
    for number, (table, columns) in enumerate(candidates):
        name = f"{_TRIAL_PREFIX}{number}"
        trials.create(name, table, columns)
        try:
            for index in readers.get(table, []):
                if index not in statements:
                    continue
                statement = by_index[index]
                if name not in trials.plan(statement).split():
                    continue
                try:
                    found.setdefault((table, columns), {})[index] = trials.measure(statement)
                except StatementTimeout:
                    continue
        finally:
            trials.drop(name)
    return found


async def _client_seconds_on_copy(copy: Path, statements: Sequence[WorkloadStatement]) -> dict[int, Measure]:
    """:func:`client_seconds` through an SQLAlchemy + aiosqlite engine on the copy (the kernel's SQLite client path)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{copy}")
    try:
        async with engine.connect() as connection:
            return await client_seconds(connection, statements, _parameters)
    finally:
        await engine.dispose()


def _plus_costs(
    found: dict[Candidate, dict[int, Measure]], costs: dict[int, Measure]
) -> dict[Candidate, dict[int, Measure]]:
    """Trial times with each statement's client cost added (unchanged where none was measured)."""
    return {candidate: with_costs(by_statement, costs) for candidate, by_statement in found.items()}


def _shares(
    statements: Sequence[WorkloadStatement], baselines: dict[int, Measure], total_seconds: float | None
) -> dict[int, float]:
    if total_seconds:
        return {s.index: (s.total_seconds or 0.0) / total_seconds for s in statements}
    measured = sum(m.seconds for m in baselines.values()) or 1.0
    return {s.index: baselines[s.index].seconds / measured if s.index in baselines else 0.0 for s in statements}


def _where(statement: WorkloadStatement) -> str:
    return f"line {statement.line}" if statement.line is not None else f"statement {statement.index}"


def _parameters(parameters: Any) -> Any:
    if parameters is None:
        return ()
    if isinstance(parameters, list | tuple | dict):
        return parameters
    return tuple(parameters)
