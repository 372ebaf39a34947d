"""Benchmark of the semantic cache's change feed: how long until another replica sees a change.

Two real kernels (the kit's KernelFactory, the semantic cache loaded in each, no
embedder so the figure is the feed's and not the model's) share one database. For
each of ``--rounds`` rounds, at a random point of the poll cycle, one replica stores
an entry (``put_many``: the insert and its change-log row in one transaction; its
own time is included) and the clock runs until the other replica holds it in
memory; then, again at a random point, the first clears that guild and the clock
runs until the other has dropped it. Printed: median and p99 of both delays, per poll
interval, in milliseconds::

    .venv/bin/python benchmarks/cache_change_feed.py [--intervals 0.1,0.5,1.0] [--rounds 40]
    .venv/bin/python benchmarks/cache_change_feed.py --postgres   # a fresh database on the test server, dropped after

With the feed polled every ``interval`` seconds, the expected delay is about half an
interval (uniform arrival) plus one poll; the worst about one interval plus one poll.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from intelbot.contract import Usage
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.postgres import fresh_database
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.plugin import SemanticCachePlugin


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


async def until(condition: Callable[[], bool], step: float = 0.001) -> float:
    """Seconds until ``condition()`` holds (polled every ``step``)."""
    started = time.perf_counter()
    while not condition():  # noqa: ASYNC110 (the cache has no event to wait on)
        await asyncio.sleep(step)
    return time.perf_counter() - started


async def measure(database_url: str, interval: float, rounds: int, root: Path) -> tuple[list[float], list[float]]:
    factory = KernelFactory(root / f"kernels-{interval}")
    caches: list[SemanticCache] = []
    try:
        for name in ("a", "b"):
            kernel = await factory(
                plugins=[SemanticCachePlugin.configured(embedder=None)],
                settings={
                    "data_dir": str(root / f"{interval}-{name}"),
                    "database_url": database_url,
                    "plugins": {"semantic_cache": {"change_poll_seconds": interval}},
                },
            )
            cache = loaded_plugin(kernel, SemanticCachePlugin).cache
            assert cache is not None
            caches.append(cache)
        writer, reader = caches
        stored: list[float] = []
        cleared: list[float] = []
        for round_number in range(rounds):
            guild = 1000 + round_number
            item = (
                f"guild:{guild}",
                guild,
                f"question {round_number} at {interval}",
                "answer",
                "m",
                "p",
                Usage(1, 1),
                0.0,
            )
            await asyncio.sleep(random.uniform(0, interval))  # arrive at a random point of the poll cycle
            started = time.perf_counter()
            (entry,) = await writer.put_many([item], None)
            await until(lambda: entry.id in reader.entries)  # noqa: B023 (awaited in the loop)
            stored.append(time.perf_counter() - started)
            await asyncio.sleep(random.uniform(0, interval))
            started = time.perf_counter()
            await writer.clear(guild)
            await until(lambda: entry.id not in reader.entries)  # noqa: B023 (awaited in the loop)
            cleared.append(time.perf_counter() - started)
        return stored, cleared
    finally:
        await factory.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", default="0.1,0.5,1.0", help="poll intervals in seconds, comma-separated")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database (default: an SQLite file)")
    args = parser.parse_args()
    logging.getLogger("intelbot_semantic_cache").setLevel(logging.ERROR)  # "no embedder" is intended here
    async with contextlib.AsyncExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = (
            await stack.enter_async_context(fresh_database())
            if args.postgres
            else f"sqlite+aiosqlite:///{root / 'shared.db'}"
        )
        backend = url.split(":", 1)[0]
        print(f"database {backend}, {args.rounds} rounds per interval; delays in ms (store -> held by the other)")
        columns = ("interval s", "stored median", "stored p99", "cleared median", "cleared p99")
        print("  ".join(f"{column:>14}" for column in columns))
        for interval in (float(value) for value in args.intervals.split(",")):
            stored, cleared = await measure(url, interval, args.rounds, root)
            figures = [statistics.median(stored), percentile(stored, 0.99)]
            figures += [statistics.median(cleared), percentile(cleared, 0.99)]
            print(f"{interval:>14.2f}  " + "  ".join(f"{value * 1000:>14.1f}" for value in figures))


if __name__ == "__main__":
    asyncio.run(main())
