"""Database health checks, PgHero-style on PostgreSQL, and the SQLite settings that matter.

Every finding is a :class:`Finding` (``ok``/``info``/``warn``) with a message that names
tables and indexes but never statement text. Reads run on a connection marked as the
advisor's own, so they are not captured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from intelbot_db_advisor.capture import own
from intelbot_db_advisor.fingerprint import fingerprint

LARGE_TABLE_ROWS = 10_000
CACHE_HIT_FLOOR = 0.99
DEAD_TUPLE_SHARE = 0.1
LONG_QUERY_SECONDS = 60
SMALL_CACHE_FACTOR = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """One health check's result: ``level`` is ``ok``, ``info`` or ``warn``."""

    check: str
    level: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "level": self.level, "message": self.message}


async def health(engine: AsyncEngine) -> list[Finding]:
    """The checks for ``engine``'s dialect."""
    async with engine.connect() as connection:
        await own(connection)
        if engine.dialect.name == "sqlite":
            return await _sqlite(connection)
        if engine.dialect.name == "postgresql":
            return await _postgres(connection)
    return [Finding("dialect", "info", f"no health checks for {engine.dialect.name}")]


async def _scalar(connection: AsyncConnection, sql: str) -> Any:
    return (await connection.execute(text(sql))).scalar()


async def _sqlite(connection: AsyncConnection) -> list[Finding]:
    findings: list[Finding] = []
    analysed = await _scalar(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
    if analysed:
        findings.append(Finding("analyze", "ok", "statistics present (sqlite_stat1)"))
    else:
        findings.append(
            Finding(
                "analyze", "warn", "no statistics: run ANALYZE (or PRAGMA optimize) so the planner knows table sizes"
            )
        )
    journal = str(await _scalar(connection, "PRAGMA journal_mode")).lower()
    findings.append(
        Finding("wal", "ok", "journal_mode is WAL")
        if journal == "wal"
        else Finding("wal", "warn", f"journal_mode is {journal}: WAL lets readers run during a write")
    )
    busy = int(await _scalar(connection, "PRAGMA busy_timeout") or 0)
    findings.append(
        Finding("busy_timeout", "ok", f"busy_timeout {busy} ms")
        if busy > 0
        else Finding("busy_timeout", "warn", "busy_timeout is 0: a locked database fails at once instead of waiting")
    )
    cache = int(await _scalar(connection, "PRAGMA cache_size") or 0)
    page_size = int(await _scalar(connection, "PRAGMA page_size") or 4096)
    pages = int(await _scalar(connection, "PRAGMA page_count") or 0)
    cache_bytes = -cache * 1024 if cache < 0 else cache * page_size
    size = pages * page_size
    if size > SMALL_CACHE_FACTOR * cache_bytes:
        findings.append(
            Finding(
                "cache_size",
                "info",
                f"page cache {cache_bytes // 1024} KiB for a {size // (1024 * 1024)} MiB database: "
                "a larger PRAGMA cache_size keeps more of it in memory",
            )
        )
    else:
        findings.append(
            Finding("cache_size", "ok", f"page cache {cache_bytes // 1024} KiB, database {size // 1024} KiB")
        )
    return findings


_UNUSED = """
SELECT s.relname AS table_name, s.indexrelname AS index_name, pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary ORDER BY bytes DESC LIMIT 20
"""
_INDEXES = """
SELECT t.relname AS table_name, c.relname AS index_name, x.indisunique AS is_unique,
       array(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns
FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class c ON c.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND x.indpred IS NULL AND 0 <> ALL (x.indkey::int2[])
"""
_SEQ_SCANS = f"""
SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan, n_live_tup, n_dead_tup
FROM pg_stat_user_tables WHERE n_live_tup >= {LARGE_TABLE_ROWS} ORDER BY seq_scan DESC
"""
_CACHE = """
SELECT sum(heap_blks_hit)::float8 AS hit, sum(heap_blks_read)::float8 AS read FROM pg_statio_user_tables
"""
_DEAD = f"""
SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables
WHERE n_dead_tup > 1000 AND n_dead_tup > {DEAD_TUPLE_SHARE} * greatest(n_live_tup, 1) ORDER BY n_dead_tup DESC LIMIT 20
"""
_LONG = f"""
SELECT pid, extract(epoch FROM now() - query_start)::float8 AS seconds, state FROM pg_stat_activity
WHERE state <> 'idle' AND pid <> pg_backend_pid() AND query_start < now() - interval '{LONG_QUERY_SECONDS} seconds'
ORDER BY seconds DESC LIMIT 20
"""
_STATEMENTS = """
SELECT query, calls, total_exec_time, mean_exec_time FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT 10
"""


async def _postgres(connection: AsyncConnection) -> list[Finding]:
    findings: list[Finding] = []
    for row in (await connection.execute(text(_UNUSED))).mappings():
        findings.append(
            Finding(
                "unused_index",
                "info",
                f"index {row['index_name']} on {row['table_name']} ({row['bytes'] // 1024} KiB) has never been "
                "used since statistics were reset",
            )
        )
    indexes = [dict(row) for row in (await connection.execute(text(_INDEXES))).mappings()]
    for index in indexes:
        for other in indexes:
            columns, longer = tuple(index["columns"]), tuple(other["columns"])
            if (
                other is not index
                and index["table_name"] == other["table_name"]
                and not index["is_unique"]
                and len(columns) <= len(longer)
                and longer[: len(columns)] == columns
                and (len(columns) < len(longer) or index["index_name"] > other["index_name"])
            ):
                findings.append(
                    Finding(
                        "duplicate_index",
                        "warn",
                        f"index {index['index_name']} on {index['table_name']} ({', '.join(columns)}) is covered by "
                        f"{other['index_name']} ({', '.join(longer)})",
                    )
                )
                break
    for row in (await connection.execute(text(_SEQ_SCANS))).mappings():
        if row["seq_scan"] > row["idx_scan"]:
            findings.append(
                Finding(
                    "seq_scans",
                    "warn",
                    f"{row['relname']} ({row['n_live_tup']} rows) is scanned sequentially more often than by index "
                    f"({row['seq_scan']} vs {row['idx_scan']})",
                )
            )
    cache = (await connection.execute(text(_CACHE))).mappings().one()
    hit, read = float(cache["hit"] or 0), float(cache["read"] or 0)
    if hit + read > 0:
        rate = hit / (hit + read)
        level = "ok" if rate >= CACHE_HIT_FLOOR else "warn"
        findings.append(
            Finding("cache_hit_rate", level, f"table cache hit rate {rate:.2%} (goal {CACHE_HIT_FLOOR:.0%})")
        )
    for row in (await connection.execute(text(_DEAD))).mappings():
        findings.append(
            Finding(
                "dead_tuples",
                "warn",
                f"{row['relname']} has {row['n_dead_tup']} dead rows for {row['n_live_tup']} live: vacuum it",
            )
        )
    for row in (await connection.execute(text(_LONG))).mappings():
        findings.append(
            Finding(
                "long_query",
                "warn",
                f"backend {row['pid']} has run one statement for {row['seconds']:.0f} s ({row['state']})",
            )
        )
    if await _scalar(connection, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        try:
            async with connection.begin_nested():
                rows = (await connection.execute(text(_STATEMENTS))).mappings().all()
        except Exception as error:  # noqa: BLE001 - the extension may be created but not preloaded
            findings.append(
                Finding("pg_stat_statements", "info", f"pg_stat_statements unreadable: {type(error).__name__}")
            )
        else:
            for row in rows:
                print_ = fingerprint(str(row["query"]), "postgresql")
                findings.append(
                    Finding(
                        "pg_stat_statements",
                        "info",
                        f"{print_.id} {print_.kind} on {', '.join(print_.tables) or '-'}: {row['calls']} calls, "
                        f"{row['total_exec_time']:.0f} ms total, {row['mean_exec_time']:.2f} ms mean",
                    )
                )
    return findings
