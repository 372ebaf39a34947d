"""PostgreSQL analysis: planner costs before and after HypoPG hypothetical indexes (Dexter's rules).

Everything runs on ONE asyncpg connection the caller checked out; hypothetical indexes
and ``plan_cache_mode`` are reset in ``finally`` before it goes back to the pool.
Statements with parameters (``$1``...) are planned generically: ``PREPARE`` with
``plan_cache_mode = force_generic_plan``, then ``EXPLAIN EXECUTE`` with NULLs.
Candidates: single columns first, then column pairs (and triples); a candidate is kept
when the statement's cost falls by ``min_cost_saving`` (50%, Dexter's rule) and a wider
one only when it beats the best narrower one by that much again. With
``postgres_verify_build`` each kept index is then built inside a transaction that is
rolled back, and the statements are timed in it with each captured parameter sample:
only those whose median speed-up over the samples reaches ``min_speedup`` stay. Timed
runs happen only inside that rolled-back transaction, so a writing statement is never
committed. Join round: join statements are planned again with the kept indexes in
place (hypothetically), so an outer-side index that pays only once the inner side has
one is found too; it is timed with those indexes built and names them as prerequisites.
With ``count_client_cost`` the timed runs also carry each statement's client-path cost
(:mod:`.client_cost`: what a call through SQLAlchemy adds to asyncpg's own time),
measured once before any hypothetical index exists.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection
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
_PARAMETER = re.compile(r"\$(\d+)")
_PREPARED = "intelbot_db_advisor_plan"
_SCHEMA_COLUMNS = """
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position
"""
_SCHEMA_INDEXES = """
SELECT t.relname AS table_name, i.relname AS index_name,
       array(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns,
       x.indpred IS NULL AND 0 <> ALL (x.indkey::int2[]) AS plain
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()
"""


class PostgresTrials:
    """Plans and timed runs of statements on one connection."""

    def __init__(self, connection: asyncpg.Connection, settings: DbAdvisorSettings) -> None:
        self.connection = connection
        self.settings = settings

    async def plan(self, statement: WorkloadStatement) -> dict[str, Any]:
        """The root plan node of the statement's (generic, when parameterised) plan; never executes it."""
        count = parameter_count(statement.sql)
        if count == 0:
            return _root(await self.connection.fetchval(f"EXPLAIN (FORMAT JSON) {statement.sql}"))
        await self.connection.execute(f"PREPARE {_PREPARED} AS {statement.sql}")
        try:
            nulls = ", ".join(["NULL"] * count)
            return _root(await self.connection.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {_PREPARED}({nulls})"))
        finally:
            await self.connection.execute(f"DEALLOCATE {_PREPARED}")

    def measurable(self, statement: WorkloadStatement) -> bool:
        """A statement can be timed when it has no parameters or captured samples of them."""
        count = parameter_count(statement.sql)
        return count == 0 or all(
            isinstance(sample, list | tuple) and len(sample) == count for sample in statement.samples()
        )

    async def measure(
        self, statements: Sequence[WorkloadStatement], indexes: Sequence[Candidate], *, fastest_of: int = 0
    ) -> dict[int, Measure]:
        """Per statement and parameter sample, median seconds with ``indexes`` built, as the driver sees them.

        ``fastest_of``: instead of the median of ``repeats`` runs, the fastest of that many.

        Each run is the statement itself (rows fetched, round trip included: what the bot
        waits for, without ``EXPLAIN ANALYZE``'s per-row timing overhead) inside a savepoint
        that is rolled back; everything runs inside one transaction that is rolled back
        (indexes included), so a writing statement is never committed.
        """
        timings: dict[int, Measure] = {}
        transaction = self.connection.transaction()
        await transaction.start()
        try:
            timeout_ms = int(self.settings.statement_timeout_seconds * 1000)
            await self.connection.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
            for table, columns in indexes:
                await self.connection.execute(
                    f"CREATE INDEX ON {quote(table)} ({', '.join(quote(c) for c in columns)})"
                )
            for table in dict.fromkeys(table for table, _ in indexes):
                await self.connection.execute(f"ANALYZE {quote(table)}")
            for statement in statements:
                per_sample: list[float] = []
                for sample in statement.samples():
                    arguments = list(sample or ())
                    runs: list[float] = []
                    for _ in range((fastest_of or self.settings.repeats) + 1):
                        await self.connection.execute("SAVEPOINT intelbot_db_advisor_run")
                        started = time.perf_counter()
                        await self.connection.fetch(statement.sql, *arguments)
                        runs.append(time.perf_counter() - started)
                        await self.connection.execute("ROLLBACK TO SAVEPOINT intelbot_db_advisor_run")
                    per_sample.append(min(runs[1:]) if fastest_of else statistics.median(runs[1:]))
                timings[statement.index] = Measure.timed(per_sample)
        finally:
            await transaction.rollback()
        return timings


def parameter_count(sql: str) -> int:
    """The highest ``$n`` in ``sql`` (0 when it has no parameters)."""
    return max((int(n) for n in _PARAMETER.findall(sql)), default=0)


def _document(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return dict(value[0])


def _root(raw: Any) -> dict[str, Any]:
    return dict(_document(raw)["Plan"])


def index_names(plan: dict[str, Any]) -> set[str]:
    """Every ``Index Name`` in a plan tree."""
    names: set[str] = set()
    stack = [plan]
    while stack:
        node = stack.pop()
        if "Index Name" in node:
            names.add(str(node["Index Name"]))
        stack.extend(node.get("Plans", []))
    return names


async def read_schema(
    connection: asyncpg.Connection,
) -> tuple[dict[str, list[str]], dict[str, dict[str, tuple[str, ...]]]]:
    """Columns per table and plain (non-partial, non-expression) indexes per table, in the current schema."""
    columns: dict[str, list[str]] = {}
    for row in await connection.fetch(_SCHEMA_COLUMNS):
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    indexes: dict[str, dict[str, tuple[str, ...]]] = {}
    for row in await connection.fetch(_SCHEMA_INDEXES):
        if row["plain"]:
            indexes.setdefault(row["table_name"], {})[row["index_name"]] = tuple(row["columns"])
    return columns, indexes


async def has_hypopg(connection: asyncpg.Connection) -> bool:
    return bool(await connection.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'"))


async def analyse_postgres(
    connection: asyncpg.Connection,
    statements: Sequence[WorkloadStatement],
    settings: DbAdvisorSettings,
    *,
    target: str,
    total_seconds: float | None = None,
    table_writes: dict[str, float] | None = None,
    client: AsyncConnection | None = None,
) -> Analysis:
    """Analyse ``statements`` on ``connection``; hypothetical indexes and plan settings are reset before returning.

    ``client`` is the SQLAlchemy connection ``connection`` belongs to: with
    ``count_client_cost``, statements are timed through it too, and what SQLAlchemy adds
    per call is counted in every measured speed-up (see :mod:`client_cost`).
    """
    analysis = Analysis(dialect="postgresql")
    try:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await _analyse(connection, statements, settings, analysis, target, total_seconds, table_writes or {}, client)
    finally:
        if await has_hypopg(connection):
            await connection.execute("SELECT hypopg_reset()")
        await connection.execute("RESET plan_cache_mode")
    return analysis


async def _analyse(
    connection: asyncpg.Connection,
    statements: Sequence[WorkloadStatement],
    settings: DbAdvisorSettings,
    analysis: Analysis,
    target: str,
    total_seconds: float | None,
    table_writes: dict[str, float],
    client: AsyncConnection | None,
) -> None:
    trials = PostgresTrials(connection, settings)
    columns, indexes = await read_schema(connection)
    hypothetical = await has_hypopg(connection)
    if not hypothetical:
        analysis.notes.append("HypoPG is not installed in this database (CREATE EXTENSION hypopg): no index trials")
    by_index = {s.index: s for s in statements}
    baselines: dict[int, Measure] = {}
    readers: dict[str, list[int]] = {}
    statement_uses: dict[int, dict[str, ColumnUse]] = {}
    tables_read: dict[int, tuple[str, ...]] = {}
    joined: list[int] = []
    candidates: dict[Candidate, None] = {}
    for statement in statements:
        if statement.kind not in ANALYSED_KINDS:
            analysis.notes.append(f"{_where(statement)}: not analysed ({statement.kind} statement)")
            continue
        try:
            uses = column_uses(parse(statement.sql, "postgres"), columns)
            plan = await trials.plan(statement)
        except SqlglotError as error:
            analysis.problems.append(StatementProblem(statement.index, statement.line, f"cannot parse: {error}"))
            continue
        except asyncpg.PostgresError as error:
            analysis.problems.append(
                StatementProblem(statement.index, statement.line, f"PostgreSQL error: {type(error).__name__}")
            )
            continue
        cost = float(plan["Total Cost"])
        baselines[statement.index] = Measure(cost, cost)
        analysis.baselines.append(
            StatementBaseline(
                statement.index,
                statement.fingerprint,
                statement.text,
                statement.kind,
                0.0,
                _mean(statement),
                cost,
                _summary(plan),
            )
        )
        statement_uses[statement.index] = uses
        tables_read[statement.index] = tuple(uses)
        if len(uses) > 1:
            joined.append(statement.index)
        for table in uses:
            readers.setdefault(table, []).append(statement.index)
    shares = _shares(statements, analysis, total_seconds)
    for table, candidate in workload_candidates(statement_uses, shares):
        covering = covering_index(candidate, indexes.get(table, {}))
        if covering is not None:
            analysis.note_covered(table, candidate, covering)
            continue
        candidates[(table, candidate)] = None
    for baseline in analysis.baselines:
        baseline.share = shares.get(baseline.statement, 0.0)
    if not hypothetical:
        return
    keep = 1 - settings.min_cost_saving

    def accept(before: Measure, after: Measure) -> bool:
        return (after.cost or 0) <= (before.cost or 0) * keep

    per_call: dict[int, Measure] = {}
    if client is not None and settings.count_client_cost and settings.postgres_verify_build:
        per_call = await _client_costs(trials, client, [by_index[i] for i in baselines])
        if per_call:
            analysis.notes.append(cost_note(per_call, "SQLAlchemy and asyncpg"))
        for baseline in analysis.baselines:
            if baseline.statement in per_call:
                baseline.client_cost_seconds = per_call[baseline.statement].seconds
    tried = await _hypothetical_round(trials, candidates, readers, by_index, set(baselines))
    chosen = choose(baselines, _narrowest_sufficient(tried, keep), accept, serving=tried)
    weights = {s.index: float(s.calls) for s in statements}

    async def suggest(
        table: str,
        candidate: tuple[str, ...],
        helped: dict[int, Measure],
        costs: dict[int, Measure],
        prerequisites: Sequence[Candidate],
    ) -> None:
        order = sorted(helped)
        seconds_before: dict[int, Measure] = {}
        seconds_after: dict[int, Measure] = {}
        measurable = [by_index[i] for i in order if trials.measurable(by_index[i])]
        if settings.postgres_verify_build and measurable:
            try:
                seconds_before = with_costs(await trials.measure(measurable, prerequisites), per_call)
                seconds_after = with_costs(
                    await trials.measure(measurable, [*prerequisites, (table, candidate)]), per_call
                )
            except asyncpg.PostgresError as error:
                analysis.notes.append(f"{table}({', '.join(candidate)}): not timed ({type(error).__name__})")
        evidence: list[StatementEvidence] = []
        for i in order:
            before, after = seconds_before.get(i), seconds_after.get(i)
            if before is not None and after is not None and median_speedup(before, after) < settings.min_speedup:
                continue  # the planner expected a saving the measurement did not show
            evidence.append(
                StatementEvidence(
                    i,
                    by_index[i].fingerprint,
                    shares.get(i, 0.0),
                    before.seconds if before is not None else None,
                    after.seconds if after is not None else None,
                    costs[i].cost,
                    helped[i].cost,
                )
            )
        if not evidence:
            analysis.notes.append(
                f"{table}({', '.join(candidate)}): the planner's cost fell but the measured time did not; not suggested"
            )
            return
        suggestion = Suggestion(
            id=suggestion_id(target, table, candidate),
            dialect="postgresql",
            table=table,
            columns=candidate,
            sql=create_index_sql("postgresql", table, candidate),
            evidence=evidence,
            weights=[weights[e.statement] for e in evidence],
        )
        if not suggestion.measured:
            suggestion.notes.append("verified by planner cost only (statement not timed)")
        if prerequisites:
            needed = ", ".join(f"{t}({', '.join(c)})" for t, c in prerequisites)
            suggestion.notes.append(f"measured with {needed} in place: create that first")
        written = table_writes.get(table, 0.0)
        if written > 0.5:
            suggestion.notes.append(
                f"{table} is mostly written ({written:.0%} of its statements): the index adds work to each write"
            )
        analysis.suggestions.append(suggestion)

    for (table, candidate), helped in chosen.items():
        await suggest(table, candidate, helped, baselines, [])
    analysis.suggestions.sort(key=lambda s: s.saving, reverse=True)
    kept = [(s.table, s.columns) for s in analysis.suggestions]
    joins = [i for i in joined if i in baselines]
    if not kept or not joins:
        return
    # Join round: an index on the outer side of a join pays only once the inner side has one,
    # so join statements are planned again with the kept indexes in place (hypothetically).
    for table, candidate in kept:
        definition = f"CREATE INDEX ON {quote(table)} ({', '.join(quote(c) for c in candidate)})"
        await connection.fetchrow("SELECT indexrelid FROM hypopg_create_index($1)", definition)
    try:
        with_kept: dict[int, Measure] = {}
        for index in joins:
            cost = float((await trials.plan(by_index[index]))["Total Cost"])
            with_kept[index] = Measure(cost, cost)
        rest = {c: None for c in candidates if c not in kept}
        again_found = await _hypothetical_round(trials, rest, readers, by_index, set(with_kept))
        again = choose(with_kept, _narrowest_sufficient(again_found, keep), accept, serving=again_found)
    finally:
        await connection.execute("SELECT hypopg_reset()")
    for (table, candidate), helped in again.items():
        tables = {t for i in helped for t in tables_read.get(i, ())}
        prerequisites = [(t, c) for t, c in kept if t in tables and t != table]
        await suggest(table, candidate, helped, with_kept, prerequisites)


async def _client_costs(
    trials: PostgresTrials, client: AsyncConnection, statements: Sequence[WorkloadStatement]
) -> dict[int, Measure]:
    """Per statement, what a call through ``client`` (SQLAlchemy) adds to the driver's own time, no index added."""
    measurable = [s for s in statements if trials.measurable(s)]
    driver = await trials.measure(measurable, [], fastest_of=RUNS)
    timed = timed_again(measurable, driver)
    through = await client_seconds(client, timed, lambda sample: tuple(sample or ()))
    return costs_per_call(through, driver)


async def _hypothetical_round(
    trials: PostgresTrials,
    candidates: dict[Candidate, None],
    readers: dict[str, list[int]],
    by_index: dict[int, WorkloadStatement],
    statements: set[int],
) -> dict[Candidate, dict[int, Measure]]:
    """Each candidate as a HypoPG index in turn, narrowest first: the statements whose plan uses it, with costs."""
    connection = trials.connection
    found: dict[Candidate, dict[int, Measure]] = {}
    for table, candidate in sorted(candidates, key=lambda c: len(c[1])):
        definition = f"CREATE INDEX ON {quote(table)} ({', '.join(quote(c) for c in candidate)})"
        row = await connection.fetchrow("SELECT indexrelid, indexname FROM hypopg_create_index($1)", definition)
        try:
            for index in readers.get(table, []):
                if index not in statements:
                    continue
                plan = await trials.plan(by_index[index])
                if str(row["indexname"]) in index_names(plan):
                    cost = float(plan["Total Cost"])
                    found.setdefault((table, candidate), {})[index] = Measure(cost, cost)
        finally:
            await connection.execute("SELECT hypopg_drop_index($1)", row["indexrelid"])
    return found


def _narrowest_sufficient(
    found: dict[Candidate, dict[int, Measure]], keep: float
) -> dict[Candidate, dict[int, Measure]]:
    """Dexter's rule for wider indexes: a wider candidate serves a statement only when it costs at most
    ``keep`` times what the best narrower candidate on the same table costs for it."""
    result: dict[Candidate, dict[int, Measure]] = {}
    for candidate, by_statement in found.items():
        table, columns = candidate
        kept: dict[int, Measure] = {}
        for statement, measure in by_statement.items():
            narrower = [
                m.cost or 0.0
                for (t, c), trials in found.items()
                if t == table and len(c) < len(columns) and (m := trials.get(statement)) is not None
            ]
            if not narrower or (measure.cost or 0.0) <= min(narrower) * keep:
                kept[statement] = measure
        if kept:
            result[candidate] = kept
    return result


def _mean(statement: WorkloadStatement) -> float | None:
    return statement.total_seconds / statement.calls if statement.total_seconds and statement.calls else None


def _shares(statements: Sequence[WorkloadStatement], analysis: Analysis, total: float | None) -> dict[int, float]:
    if total:
        return {s.index: (s.total_seconds or 0.0) / total for s in statements}
    costs = {b.statement: b.cost or 0.0 for b in analysis.baselines}
    whole = sum(costs.values()) or 1.0
    return {index: cost / whole for index, cost in costs.items()}


def _summary(plan: dict[str, Any]) -> str:
    parts: list[str] = []
    stack = [plan]
    while stack:
        node = stack.pop(0)
        label = str(node.get("Node Type", "?"))
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
        parts.append(label)
        stack.extend(node.get("Plans", []))
    return "; ".join(parts)


def _where(statement: WorkloadStatement) -> str:
    return f"line {statement.line}" if statement.line is not None else f"statement {statement.index}"
