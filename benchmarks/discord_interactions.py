"""Benchmark: a burst of concurrent /ask interactions in interactions mode, echo model with simulated latency.

The real front end (hikari RESTBot + lightbulb, intelbot's commands, a kernel on
SQLite) runs against the loopback Discord; Discord's side (signing the requests,
the REST API the bot answers through) runs in the same process and event loop,
so its cost is counted in the figures. Every interaction is created, then all
are sent at once. Reported: how many were deferred within Discord's 3-second
limit (measured by the loopback from each interaction's creation to the bot's
accepted deferral), the time from sending to the last answer, and the process's
peak resident memory.

    .venv/bin/python benchmarks/discord_interactions.py [--interactions 200] [--latency-ms 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from intelbot.testing.discord import DiscordHarness, DiscordUser, LoopbackDiscord
from intelbot.testing.discord.records import CALLBACK_DEFERRED_MESSAGE
from intelbot.testing.kernels import KernelFactory

REPOSITORY_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"

DEFERRAL_LIMIT_SECONDS = 3.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def measure(interactions: int, latency_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intelbot-bench-") as root:
        kernels = KernelFactory(Path(root), base_settings=REPOSITORY_SETTINGS)
        settings = {"providers": {"echo": {"latency_ms": latency_ms}}, "llm": {"default_model": "echo"}}
        kernel = await kernels(settings=settings)
        async with LoopbackDiscord() as loopback:
            harness = await DiscordHarness.boot(kernel, loopback, "interactions", rate_limit_requests=0)
            try:
                await harness.slash("ask", question="warm-up")
                rss_before = peak_rss_mib()
                burst = [
                    harness.interaction("ask", user=DiscordUser(10_000 + n), question=f"question number {n}")
                    for n in range(interactions)
                ]
                started = time.monotonic()
                replies = await asyncio.gather(*(harness.deliver(record, body) for record, body in burst))
                await asyncio.gather(*(harness.frontend.tracker.wait_settled(record.id, 120) for record, _ in burst))
                finished = time.monotonic()
            finally:
                await harness.close()
                await kernels.close()
    records = [record for record, _ in burst]
    acks = [
        cb.at - record.created_at
        for record in records
        if (cb := record.acknowledged) is not None and cb.type == CALLBACK_DEFERRED_MESSAGE
    ]
    answered = [r for r in records if r.original is not None and r.original.content.startswith("Echo: question")]
    last_answer = max((r.original.updated_at for r in answered if r.original is not None), default=float("nan"))
    return {
        "interactions": interactions,
        "echo_latency_ms": latency_ms,
        "deferred": len(acks),
        "deferred_within_3s": sum(1 for ack in acks if ack <= DEFERRAL_LIMIT_SECONDS),
        "deferral_p50_ms": round(statistics.median(acks) * 1000, 1) if acks else None,
        "deferral_max_ms": round(max(acks) * 1000, 1) if acks else None,
        "answered": len(answered),
        "http_statuses": sorted({reply.status for reply in replies if reply is not None}),
        "time_to_last_answer_s": round(last_answer - started, 3),
        "wall_time_s": round(finished - started, 3),
        "peak_rss_mib_before_burst": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(measure(args.interactions, args.latency_ms))
    if args.json:
        print(json.dumps(result))
        return
    width = max(len(key) for key in result)
    print(f"{'metric':<{width}}  value")
    print(f"{'-' * width}  -----")
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
