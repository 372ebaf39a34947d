"""One spending cap's read of today's spend, on a ledger that grows: kernel schema 3 against the lone indexes before it.

Before every capped call ``SpendingCap.reserve`` reads the guild's (and the user's) spend
since midnight UTC (``UsageLedger.summary`` through ``ledger_spent``). This fills a SQLite
``usage_ledger`` with ``--rows`` rows spread evenly over the last ``--days`` days (50
guilds, 200 users), then times that read for a guild and for a user (median of
``--reads``), once with the current indexes (``(guild_id, created_at)``,
``(user_id, created_at)``) and once with the lone ``guild_id`` / ``user_id`` indexes of
kernel schema 2, which read every row the scope ever made.

    .venv/bin/python benchmarks/ledger_cap_read.py [--rows 20000 100000] [--days 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from intelbot.data.database import Database
from intelbot.data.ledger import LEDGER_SCHEMA, UsageLedger
from intelbot.data.tables import SCOPE_COLUMNS, UsageEntry
from intelbot.kernel import KERNEL_SCHEMA
from intelbot.spending import SpendScope, ledger_spent


async def _filled(path: Path, rows: int, days: int, *, lone: bool) -> Database:
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.migrate("kernel", KERNEL_SCHEMA)
    await database.migrate("ledger", LEDGER_SCHEMA)
    now = datetime.now(UTC)
    span = timedelta(days=days)
    async with database.engine.begin() as connection:
        for start in range(0, rows, 5000):
            batch = [
                {
                    "request_id": f"r{index}",
                    "guild_id": 1000 + index % 50,
                    "user_id": index % 200,
                    "model": "echo",
                    "provider": "echo",
                    "source": "provider",
                    "input_tokens": 10,
                    "output_tokens": 10,
                    "cost_usd": 0.001,
                    "latency_ms": 1.0,
                    "created_at": now - span * (1 - index / rows),
                }
                for index in range(start, min(rows, start + 5000))
            ]
            await connection.execute(insert(UsageEntry), batch)
        if lone:  # kernel schema 2's indexes
            for column in SCOPE_COLUMNS:
                await connection.execute(text(f"DROP INDEX ix_usage_ledger_{column}_created_at"))
                await connection.execute(text(f"CREATE INDEX ix_usage_ledger_{column} ON usage_ledger ({column})"))
    return database


async def _read_ms(database: Database, kind: str, reads: int) -> float:
    spent = ledger_spent(UsageLedger(database))
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times: list[float] = []
    for index in range(reads):
        scope = SpendScope(kind, 1000 + index % 50 if kind == "guild" else index % 200)
        started = time.perf_counter()
        await spent(scope, midnight)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


async def measure(sizes: list[int], days: int, reads: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="intelbot-cap-read-") as name:
        for rows in sizes:
            for lone in (True, False):
                database = await _filled(Path(name) / f"{rows}-{lone}.db", rows, days, lone=lone)
                try:
                    results.append(
                        {
                            "rows": rows,
                            "indexes": "lone (schema 2)" if lone else "scope and day (schema 3)",
                            "guild_read_ms": await _read_ms(database, "guild", reads),
                            "user_read_ms": await _read_ms(database, "user", reads),
                        }
                    )
                finally:
                    await database.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    args = parser.parse_args()
    results = asyncio.run(measure(args.rows, args.days, args.reads))
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'rows':>8}  {'indexes':<26}{'guild read (ms)':>16}{'user read (ms)':>16}")
    for row in results:
        print(f"{row['rows']:>8}  {row['indexes']:<26}{row['guild_read_ms']:>16}{row['user_read_ms']:>16}")


if __name__ == "__main__":
    main()
