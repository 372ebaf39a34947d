"""Scrape cost of the metrics dashboard: /metrics and /api/summary latency after many turns, and turn overhead on/off.

Part 1: a kernel with every installed plugin loaded (the semantic cache without an
embedder, so 100k turns take minutes, not hours; the breaker; the dashboard) answers
``--turns`` turns on the offline echo model at 0 ms (50 guilds, 200 users, one question in
five repeated so the cache hits), then ``/metrics`` (interleaved with ``/healthz``, the
same run's baseline) and ``/api/summary`` are requested over HTTP from the same machine,
one at a time; latencies in ms (p50, p99), with the collector's pauses during the scrapes.
The turns per second in each tenth of the turns show whether a turn costs more as the
ledger, the conversation log and the cache's tables grow.

Part 2: turn overhead with the dashboard on and off. Two kernels with no other plugin,
one with the dashboard while a client scrapes its ``/metrics`` every 0.5 s, answer echo
turns in interleaved rounds; per-turn time in microseconds (median, p99) and the ratio.

    .venv/bin/python benchmarks/metrics_scrape.py [--turns 100000] [--scrapes 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import statistics
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
from measures import percentile

from intelbot import Kernel, TurnContext
from intelbot.settings import load_settings
from intelbot.testing.kernels import loaded_plugin
from intelbot_metrics_dashboard.plugin import MetricsDashboardPlugin

REPOSITORY_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"


def settings_in(directory: Path, **extra: Any) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.toml").write_text(REPOSITORY_SETTINGS.read_text(encoding="utf-8"), encoding="utf-8")
    overrides = {
        "data_dir": str(directory / "data"),
        "llm": {"default_model": "echo"},
        "embedding": {"backend": "none"},
        "guild_switch_refresh_seconds": 0,
        "plugins": {"metrics_dashboard": {"port": 0, "enabled": True}},
        **extra,
    }
    return load_settings(directory, overrides=overrides)


async def timed_get(session: aiohttp.ClientSession, url: str, count: int) -> tuple[list[float], int]:
    """``count`` sequential GETs of ``url``; their latencies (ms) and the last body's size in bytes."""
    latencies: list[float] = []
    size = 0
    for _ in range(count):
        started = time.perf_counter()
        async with session.get(url) as response:
            body = await response.read()
            assert response.status == 200, response.status
        latencies.append((time.perf_counter() - started) * 1000)
        size = len(body)
    return latencies, size


async def interleaved_gets(
    session: aiohttp.ClientSession, urls: dict[str, str], count: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """``count`` rounds of one GET of each of ``urls`` in turn: latencies (ms) and body sizes by label.

    ``/healthz`` (a constant JSON body) beside ``/metrics`` is the same run's baseline: a
    tail both share is the machine (scheduling, the collector), one only ``/metrics`` has is
    the rendering.
    """
    latencies: dict[str, list[float]] = {label: [] for label in urls}
    sizes: dict[str, int] = {}
    for _ in range(count):
        for label, url in urls.items():
            values, sizes[label] = await timed_get(session, url, 1)
            latencies[label] += values
    return latencies, sizes


class GcPauses:
    """Collector pauses (ms) by generation while active: tells a slow scrape caused by the collector from others."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self)

    def report(self) -> dict[str, Any]:
        return {
            f"gen{generation}": {"count": len(values), "max_ms": round(max(values, default=0.0), 2)}
            for generation, values in self.pauses.items()
        }


def figures(values: list[float], digits: int = 2) -> dict[str, float]:
    return {"p50": round(statistics.median(values), digits), "p99": round(percentile(values, 0.99), digits)}


async def scrape_after_turns(directory: Path, turns: int, scrapes: int) -> dict[str, Any]:
    plugins = sorted({entry.name for entry in entry_points(group="intelbot")})
    kernel = await Kernel.start(settings_in(directory / "loaded"), load_plugins=plugins)
    try:
        dashboard = loaded_plugin(kernel, MetricsDashboardPlugin)
        started = window_started = time.perf_counter()
        window = max(1, turns // 10)
        rates: list[float] = []
        for index in range(turns):
            question = f"question {index % (turns // 5 or 1)}" if index % 5 == 0 else f"question {index}"
            await kernel.ask(question, TurnContext(guild_id=1000 + index % 50, user_id=index % 200, channel_id=7))
            if (index + 1) % window == 0:
                now = time.perf_counter()
                rates.append(round(window / (now - window_started)))
                window_started = now
        making = time.perf_counter() - started
        await kernel.ledger.flush()
        async with aiohttp.ClientSession() as session:
            await timed_get(session, f"{dashboard.url}/metrics", 5)  # warm-up
            with GcPauses() as metrics_gc:
                latencies, sizes = await interleaved_gets(
                    session, {"metrics": f"{dashboard.url}/metrics", "healthz": f"{dashboard.url}/healthz"}, scrapes
                )
            metrics_ms, metrics_bytes, healthz_ms = latencies["metrics"], sizes["metrics"], latencies["healthz"]
            summary_ms, summary_bytes = await timed_get(session, f"{dashboard.url}/api/summary", max(20, scrapes // 4))
        return {
            "plugins_loaded": [info.name for info in kernel.plugins if info.loaded and not info.builtin],
            "turns": turns,
            "turns_seconds": round(making, 1),
            "turns_per_second_by_tenth": rates,
            "metrics_ms": figures(metrics_ms),
            "metrics_bytes": metrics_bytes,
            "healthz_ms_baseline": figures(healthz_ms),
            "metrics_slowest_ms": [round(value, 2) for value in sorted(metrics_ms)[-3:]],
            "gc_during_metrics": metrics_gc.report(),
            "live_objects": len(gc.get_objects()),
            "summary_ms": figures(summary_ms),
            "summary_bytes": summary_bytes,
            "goal_metrics_p99_under_20ms": percentile(metrics_ms, 0.99) < 20,
        }
    finally:
        await kernel.stop()


async def scrape_forever(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url) as response:
                await response.read()
            await asyncio.sleep(0.5)


async def overhead(directory: Path, turns: int, rounds: int) -> dict[str, Any]:
    off = await Kernel.start(settings_in(directory / "off"), load_plugins=[])
    on = await Kernel.start(settings_in(directory / "on"), load_plugins=["metrics_dashboard"])
    scraper = asyncio.create_task(scrape_forever(f"{loaded_plugin(on, MetricsDashboardPlugin).url}/metrics"))
    times: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for kernel in (off, on):
            for index in range(200):
                await kernel.ask(f"warm up {index}", TurnContext(guild_id=1))
        per_round = max(1, turns // rounds)
        for _ in range(rounds):
            for label, kernel in (("off", off), ("on", on)):
                for index in range(per_round):
                    started = time.perf_counter_ns()
                    await kernel.ask(f"question {index}", TurnContext(guild_id=1, user_id=index))
                    times[label].append((time.perf_counter_ns() - started) / 1000)
    finally:
        scraper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scraper
        await on.stop()
        await off.stop()
    result: dict[str, Any] = {label: figures(values) for label, values in times.items()}
    result["turns_each"] = len(times["on"])
    result["ratio_p50_on_off"] = round(statistics.median(times["on"]) / statistics.median(times["off"]), 3)
    return result


async def measure(turns: int, scrapes: int, overhead_turns: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intelbot-scrape-") as name:
        directory = Path(name)
        scrape = await scrape_after_turns(directory, turns, scrapes)
        turn = await overhead(directory, overhead_turns, rounds)
    return {"scrape": scrape, "turn_us": turn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100_000, help="turns made before scraping")
    parser.add_argument(
        "--scrapes", type=int, default=200, help="GET /metrics this many times (/api/summary a quarter)"
    )
    parser.add_argument("--overhead-turns", type=int, default=20_000, help="turns per kernel in part 2")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(measure(args.turns, args.scrapes, args.overhead_turns, args.rounds))
    if args.json:
        print(json.dumps(result))
        return
    scrape, turn = result["scrape"], result["turn_us"]
    print(
        f"after {scrape['turns']} turns ({scrape['turns_seconds']} s), plugins: {', '.join(scrape['plugins_loaded'])}"
    )
    print(f"turns per second in each tenth of them: {scrape['turns_per_second_by_tenth']}")
    print(f"{'endpoint':<16}{'p50 (ms)':>10}{'p99 (ms)':>10}{'bytes':>10}")
    for label, key in (("/metrics", "metrics"), ("/api/summary", "summary")):
        latency = scrape[f"{key}_ms"]
        print(f"{label:<16}{latency['p50']:>10}{latency['p99']:>10}{scrape[f'{key}_bytes']:>10}")
    baseline = scrape["healthz_ms_baseline"]
    print(f"{'/healthz (baseline, interleaved with /metrics)':<48}p50 {baseline['p50']} p99 {baseline['p99']}")
    print(f"/metrics p99 under 20 ms: {scrape['goal_metrics_p99_under_20ms']}; slowest {scrape['metrics_slowest_ms']}")
    print(
        f"collector during the /metrics scrapes: {scrape['gc_during_metrics']}; live objects {scrape['live_objects']}"
    )
    print(
        f"turn time, {turn['turns_each']} turns each (us): "
        f"dashboard off p50 {turn['off']['p50']} p99 {turn['off']['p99']}; "
        f"on (scraped every 0.5 s) p50 {turn['on']['p50']} p99 {turn['on']['p99']}; "
        f"ratio p50 {turn['ratio_p50_on_off']}"
    )


if __name__ == "__main__":
    main()
