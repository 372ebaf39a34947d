"""The database advisor on a bot-shaped workload with planted missing indexes, SQLite and PostgreSQL.

Tables of ``--rows`` rows (usage ledger, memories, cache entries, feedback) carry only
their primary keys plus one correct index (memories by guild and user); five indexes are
missing on purpose. The workload runs through SQLAlchemy with the advisor's capture on;
the advisor analyses what it captured; each suggestion is then APPLIED and the statements
it names are timed before and after (median of runs): a suggestion under 2x is false.
On SQLite, ``sqlite3``'s ``.expert`` is given the same statements. Capture overhead: the
listener pair timed alone, and statement latency with capture on vs off (interleaved).
Client path: the ORDER BY ... LIMIT statement timed raw and through SQLAlchemy, without
and with its index (why a trial's speed-up can exceed what the bot sees).

    nice .venv/bin/python benchmarks/db_advisor.py [--rows 100000] [--json] [--no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from measures import percentile
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from intelbot_db_advisor.advisor import analyse, apply_index
from intelbot_db_advisor.capture import StatementCapture
from intelbot_db_advisor.fingerprint import fingerprint
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.workload import statements_from_capture

POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SCHEMA = [
    "CREATE TABLE usage_ledger (id INTEGER PRIMARY KEY, guild_id INT, user_id INT, day TEXT, model TEXT, tokens INT)",
    "CREATE TABLE memories (id INTEGER PRIMARY KEY, guild_id INT, user_id INT, created_at INT, body TEXT)",
    "CREATE INDEX ix_memories_guild_user ON memories (guild_id, user_id)",
    "CREATE TABLE cache_entries (id INTEGER PRIMARY KEY, scope TEXT, key_hash TEXT, hits INT)",
    "CREATE TABLE feedback (id INTEGER PRIMARY KEY, turn_id INT, rating INT)",
    "CREATE TABLE guild_settings (guild_id INTEGER PRIMARY KEY, name TEXT)",
]
# (statement, parameter maker, calls, planted problem: (table, leading columns) or None)
WORKLOAD: list[tuple[str, Any, int, tuple[str, frozenset[str]] | None]] = [
    (
        "SELECT sum(tokens) FROM usage_ledger WHERE guild_id = :g AND day = :d",
        lambda r: {"g": r.randrange(500), "d": f"2026-01-{r.randrange(1, 29):02d}"},
        40,
        ("usage_ledger", frozenset({"guild_id", "day"})),
    ),
    (
        "SELECT * FROM memories WHERE guild_id = :g ORDER BY created_at DESC LIMIT 20",
        lambda r: {"g": r.randrange(500)},
        40,
        ("memories", frozenset({"guild_id", "created_at"})),
    ),
    (
        "SELECT hits FROM cache_entries WHERE scope = :s AND key_hash = :k",
        lambda r: {"s": f"guild:{r.randrange(500)}", "k": f"{r.randrange(10**6):06x}"},
        60,
        ("cache_entries", frozenset({"scope", "key_hash"})),
    ),
    (
        "SELECT f.rating FROM feedback f JOIN usage_ledger l ON l.id = f.turn_id WHERE l.user_id = :u",
        lambda r: {"u": r.randrange(5000)},
        20,
        ("usage_ledger", frozenset({"user_id"})),
    ),
    (
        "SELECT count(*) FROM feedback WHERE turn_id = :t",
        lambda r: {"t": r.randrange(100_000)},
        30,
        ("feedback", frozenset({"turn_id"})),
    ),
    (
        "SELECT * FROM memories WHERE guild_id = :g AND user_id = :u",
        lambda r: {"g": 1, "u": r.randrange(5000)},
        30,
        None,
    ),
    ("SELECT name FROM guild_settings WHERE guild_id = :g", lambda r: {"g": r.randrange(500)}, 50, None),
    ("SELECT count(*) FROM usage_ledger WHERE tokens >= :t", lambda r: {"t": 0}, 5, None),
]


def rows(count: int) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(11)
    return {
        "usage_ledger": [
            (
                i,
                rng.randrange(500),
                rng.randrange(5000),
                f"2026-01-{rng.randrange(1, 29):02d}",
                "echo",
                rng.randrange(1, 900),
            )
            for i in range(count)
        ],
        "memories": [(i, rng.randrange(500), rng.randrange(5000), i, "remembered") for i in range(count)],
        "cache_entries": [(i, f"guild:{rng.randrange(500)}", f"{rng.randrange(10**6):06x}", 0) for i in range(count)],
        "feedback": [(i, rng.randrange(count), rng.randrange(1, 6)) for i in range(count)],
        "guild_settings": [(i, f"guild {i}") for i in range(500)],
    }


def build_sqlite(path: Path, count: int) -> None:
    with sqlite3.connect(path) as connection:
        for statement in SCHEMA:
            connection.execute(statement)
        for table, values in rows(count).items():
            marks = ", ".join("?" * len(values[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
        connection.execute("ANALYZE")
    connection.close()


async def build_postgres(url: str, count: int) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for statement in SCHEMA:
            await connection.execute(text(statement.replace("INTEGER PRIMARY KEY", "bigint PRIMARY KEY")))
        driver = (await connection.get_raw_connection()).driver_connection
        for table, values in rows(count).items():
            await driver.copy_records_to_table(table, records=values)
    async with engine.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
    await engine.dispose()


async def run_workload(engine: AsyncEngine, seed: int = 3) -> None:
    rng = random.Random(seed)
    async with engine.connect() as connection:
        for sql, parameters, calls, _ in WORKLOAD:
            for _ in range(calls):
                await connection.execute(text(sql), parameters(rng))


async def time_statement(engine: AsyncEngine, sql: str, parameters: Any, runs: int = 15) -> float:
    rng = random.Random(5)
    samples = [parameters(rng) for _ in range(runs)]
    timings = []
    async with engine.connect() as connection:
        for values in samples:
            started = time.perf_counter()
            await connection.execute(text(sql), values)
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _matches(columns: tuple[str, ...], planted: frozenset[str]) -> bool:
    """Found: an index on the table led by one of the planted columns (what .expert's matching uses too)."""
    return columns[0] in planted


async def advise_and_apply(engine: AsyncEngine, settings: DbAdvisorSettings) -> dict[str, Any]:
    capture = StatementCapture(dialect=engine.dialect.name)
    capture.attach(engine.sync_engine)
    await run_workload(engine)
    capture.detach()
    figures = capture.fold()
    workload = statements_from_capture(figures.values())
    started = time.perf_counter()
    analysis = await analyse(engine, workload, settings, total_seconds=sum(f.total_seconds for f in figures.values()))
    analysis_seconds = time.perf_counter() - started
    printed = {w.index: w.fingerprint for w in workload}
    original = {fingerprint(sql, engine.dialect.name).id: (sql, parameters) for sql, parameters, _, _ in WORKLOAD}
    applied = []
    for suggestion in analysis.suggestions:
        found = [original.get(printed[e.statement]) for e in suggestion.evidence]
        statements = [s for s in found if s is not None]
        before = [await time_statement(engine, sql, p) for sql, p in statements]
        await apply_index(engine, suggestion.sql)
        after = [await time_statement(engine, sql, p) for sql, p in statements]
        measured = sum(before) / sum(after) if statements and sum(after) > 0 else None
        applied.append(
            {
                "table": suggestion.table,
                "columns": list(suggestion.columns),
                "sql": suggestion.sql,
                "advisor_speedup": round(suggestion.speedup, 1),
                "speedup_after_apply": round(measured, 1) if measured else None,
            }
        )
    planted = []
    for _sql, _, _, problem in WORKLOAD:
        if problem is None:
            continue
        table, columns = problem
        hit = next((a for a in applied if a["table"] == table and _matches(tuple(a["columns"]), columns)), None)
        planted.append(
            {
                "planted": f"{table}({', '.join(sorted(columns))})",
                "found": hit is not None,
                "suggestion": hit["sql"] if hit else None,
                "speedup_after_apply": hit["speedup_after_apply"] if hit else None,
            }
        )
    false = [a for a in applied if a["speedup_after_apply"] is None or a["speedup_after_apply"] < 2]
    return {
        "planted": planted,
        "suggestions": applied,
        "false_suggestions": len(false),
        "analysis_seconds": round(analysis_seconds, 2),
        "statements_analysed": len(workload),
    }


def expert(path: Path) -> list[str]:
    """``.expert`` on each workload statement (parameters as ``?``); the CREATE INDEX lines it prints."""
    script = "".join(".expert\n" + re.sub(r":\w+", "?", sql) + ";\n" for sql, _, _, _ in WORKLOAD)
    output = subprocess.run(["sqlite3", str(path)], input=script, capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in output.splitlines() if line.startswith("CREATE INDEX")]


def _expert_columns(line: str) -> tuple[str, tuple[str, ...]]:
    found = re.match(r"CREATE INDEX \S+ ON (\w+)\((.*)\);", line)
    assert found is not None, line
    return found.group(1), tuple(part.split()[0] for part in found.group(2).split(","))


def compare_expert(expert_lines: list[str], advisor: dict[str, Any]) -> dict[str, Any]:
    ours = [(a["table"], tuple(a["columns"])) for a in advisor["suggestions"]]
    rows_ = []
    for line in expert_lines:
        table, columns = _expert_columns(line)
        same = [
            c
            for t, c in ours
            if t == table and (c[: len(columns)] == columns or columns[: len(c)] == c or c[0] == columns[0])
        ]
        rows_.append({"expert": f"{table}({', '.join(columns)})", "advisor_has_same_leading_columns": bool(same)})
    return {
        "expert_indexes": rows_,
        "expert_found": len(expert_lines),
        "advisor_covers": sum(r["advisor_has_same_leading_columns"] for r in rows_),
    }


CLIENT_PATH_SQL = "SELECT * FROM memories WHERE guild_id = :g ORDER BY created_at DESC LIMIT 20"
CLIENT_PATH_INDEX = "CREATE INDEX ix_probe_memories_guild_created ON memories (guild_id, created_at)"


async def client_path(pristine: Path, scratch: Path, runs: int = 200) -> dict[str, Any]:
    """The ORDER BY ... LIMIT statement timed raw (sqlite3) and through SQLAlchemy + aiosqlite, without and
    with memories(guild_id, created_at): how much of a trial's speed-up the bot sees (median µs)."""
    path = scratch / "client-path.db"
    shutil.copy(pristine, path)

    def raw() -> float:
        rng = random.Random(5)
        connection = sqlite3.connect(path)
        timings = []
        for _ in range(runs):
            values = (rng.randrange(500),)
            started = time.perf_counter()
            connection.execute(CLIENT_PATH_SQL.replace(":g", "?"), values).fetchall()
            timings.append(time.perf_counter() - started)
        connection.close()
        return statistics.median(timings)

    async def through_sqlalchemy() -> float:
        rng = random.Random(5)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        timings = []
        async with engine.connect() as connection:
            for _ in range(runs):
                values = {"g": rng.randrange(500)}
                started = time.perf_counter()
                (await connection.execute(text(CLIENT_PATH_SQL), values)).fetchall()
                timings.append(time.perf_counter() - started)
        await engine.dispose()
        return statistics.median(timings)

    before = (raw(), await through_sqlalchemy())
    with sqlite3.connect(path) as connection:
        connection.execute(CLIENT_PATH_INDEX)
    connection.close()
    after = (raw(), await through_sqlalchemy())
    micro = 1e6
    return {
        "statement": CLIENT_PATH_SQL,
        "raw_us_before": round(before[0] * micro, 1),
        "raw_us_after": round(after[0] * micro, 1),
        "sqlalchemy_us_before": round(before[1] * micro, 1),
        "sqlalchemy_us_after": round(after[1] * micro, 1),
        "runs": runs,
    }


async def capture_overhead(path: Path, statements: int) -> dict[str, Any]:
    """Listener pair alone (µs), and end-to-end latency of a primary-key lookup with capture on vs off."""
    capture = StatementCapture(dialect="sqlite")

    class Context:
        execution_options: dict[str, Any] = {}

    class Conn:
        info: dict[str, Any] = {}

    listener = []
    sql = "SELECT name FROM guild_settings WHERE guild_id = ?"
    for index in range(statements):
        context = Context()
        started = time.perf_counter()
        capture._before(Conn(), None, sql, (index,), context, False)
        capture._after(Conn(), None, sql, (index,), context, False)
        listener.append(time.perf_counter() - started)
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    on_engine = StatementCapture(dialect="sqlite")
    latencies: dict[str, list[float]] = {"off": [], "on": []}
    async with engine.connect() as connection:
        for block in range(20):
            mode = "on" if block % 2 else "off"
            if mode == "on":
                on_engine.attach(engine.sync_engine)
            for index in range(statements // 20):
                started = time.perf_counter()
                await connection.execute(
                    text("SELECT name FROM guild_settings WHERE guild_id = :g"), {"g": index % 500}
                )
                latencies[mode].append(time.perf_counter() - started)
            on_engine.detach()
    await engine.dispose()
    micro = 1e6
    return {
        "listener_us_p50": round(percentile(listener, 0.5) * micro, 2),
        "listener_us_p99": round(percentile(listener, 0.99) * micro, 2),
        "statement_us_p50_off": round(percentile(latencies["off"], 0.5) * micro, 1),
        "statement_us_p50_on": round(percentile(latencies["on"], 0.5) * micro, 1),
        "statement_us_p99_off": round(percentile(latencies["off"], 0.99) * micro, 1),
        "statement_us_p99_on": round(percentile(latencies["on"], 0.99) * micro, 1),
        "statements": statements,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--overhead-statements", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    settings = DbAdvisorSettings(repeats=3, min_total_ms=0)
    result: dict[str, Any] = {"rows_per_table": options.rows}
    with tempfile.TemporaryDirectory(prefix="db-advisor-bench-") as scratch:
        path = Path(scratch) / "bot.db"
        build_sqlite(path, options.rows)
        pristine = Path(scratch) / "pristine.db"
        shutil.copy(path, pristine)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        result["sqlite"] = await advise_and_apply(engine, settings)
        await engine.dispose()
        result["sqlite"]["expert"] = compare_expert(expert(pristine), result["sqlite"])
        result["capture_overhead"] = await capture_overhead(pristine, options.overhead_statements)
        result["client_path"] = await client_path(pristine, Path(scratch))
    if not options.no_postgres:
        name = f"db_advisor_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}"
        try:
            setup = create_async_engine(url, isolation_level="AUTOCOMMIT")
            async with setup.connect() as connection:
                await connection.execute(text("CREATE EXTENSION hypopg"))
            await setup.dispose()
            await build_postgres(url, options.rows)
            engine = create_async_engine(url)
            result["postgresql"] = await advise_and_apply(engine, settings)
            await engine.dispose()
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            await admin.dispose()
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Rows per table: {result['rows_per_table']}.", ""]
    for dialect in ("sqlite", "postgresql"):
        if dialect not in result:
            continue
        part = result[dialect]
        lines += [
            f"**{dialect}**: {part['statements_analysed']} fingerprints analysed in {part['analysis_seconds']} s, "
            f"false suggestions (< 2x after apply): {part['false_suggestions']} of {len(part['suggestions'])}",
            "",
            "| planted missing index | found | suggestion | measured speed-up after apply |",
            "| --- | --- | --- | --- |",
        ]
        for row in part["planted"]:
            speed = f"{row['speedup_after_apply']}x" if row["speedup_after_apply"] else "-"
            lines.append(
                f"| {row['planted']} | {'yes' if row['found'] else 'no'} | `{row['suggestion'] or '-'}` | {speed} |"
            )
        extra = [s for s in part["suggestions"] if not any(s["sql"] == p["suggestion"] for p in part["planted"])]
        for s in extra:
            lines.append(f"| (not planted) | - | `{s['sql']}` | {s['speedup_after_apply']}x |")
        lines.append("")
    if "expert" in result.get("sqlite", {}):
        expert_part = result["sqlite"]["expert"]
        lines += [
            f"**sqlite3 .expert** on the same statements: {expert_part['expert_found']} indexes; the advisor has one "
            f"with the same leading columns for {expert_part['advisor_covers']}.",
            "",
            "| .expert index | advisor has same leading columns |",
            "| --- | --- |",
        ]
        lines += [
            f"| {r['expert']} | {'yes' if r['advisor_has_same_leading_columns'] else 'no'} |"
            for r in expert_part["expert_indexes"]
        ]
        lines.append("")
    o = result["capture_overhead"]
    lines += [
        f"**Capture overhead** (SQLite, primary-key lookup, {o['statements']} statements, capture off/on interleaved):",
        "",
        "| measure | p50 | p99 |",
        "| --- | --- | --- |",
        f"| listener pair alone | {o['listener_us_p50']} µs | {o['listener_us_p99']} µs |",
        f"| statement, capture off | {o['statement_us_p50_off']} µs | {o['statement_us_p99_off']} µs |",
        f"| statement, capture on | {o['statement_us_p50_on']} µs | {o['statement_us_p99_on']} µs |",
    ]
    if "client_path" in result:
        c = result["client_path"]
        lines += [
            "",
            f"**Client path** (SQLite, `{c['statement']}`, median of {c['runs']} runs, without and with "
            "memories(guild_id, created_at)):",
            "",
            "| timed | without | with | speed-up |",
            "| --- | --- | --- | --- |",
            "| raw sqlite3 (the database's part: what a trial on the copy times) "
            f"| {c['raw_us_before']} µs | {c['raw_us_after']} µs | {c['raw_us_before'] / c['raw_us_after']:.1f}x |",
            "| SQLAlchemy + aiosqlite (what the bot waits for, and what the advisor judges by) "
            f"| {c['sqlalchemy_us_before']} µs | {c['sqlalchemy_us_after']} µs "
            f"| {c['sqlalchemy_us_before'] / c['sqlalchemy_us_after']:.1f}x |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    asyncio.run(main())
