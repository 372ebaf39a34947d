"""The kernel's own overhead per turn, against a direct provider call.

Six trivial plugins implement every per-turn hook (before_llm_call, after_llm_call,
on_error, store, query, forget, collect_stats, health_lines); the model is the offline
echo model at zero latency, so what is left is the kernel: dispatch, cost, ledger,
metrics. Both paths run in the same process and event loop, interleaved in rounds.

    .venv/bin/python benchmarks/kernel_overhead.py [--turns 20000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from measures import percentile

from intelbot import Kernel, LLMRequest, LLMResponse, Message, TurnContext, hookimpl
from intelbot.catalog import ECHO
from intelbot.providers.echo import EchoProvider
from intelbot.settings import load_settings


class TrivialPlugin:
    """Implements every per-turn hook and does (almost) nothing."""

    def __init__(self, index: int) -> None:
        self.name = f"trivial_{index}"
        self.seen = 0

    @hookimpl
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        self.seen += 1

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        self.seen += 1

    @hookimpl
    def on_error(self, error: Any, request: LLMRequest, ctx: TurnContext) -> None:
        return None

    @hookimpl
    def store(self, record: Any, ctx: TurnContext) -> None:
        return None

    @hookimpl
    def query(self, query: Any, ctx: TurnContext) -> None:
        return None

    @hookimpl
    def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> None:
        return None

    @hookimpl
    def collect_stats(self) -> dict[str, int]:
        return {"seen": self.seen}

    @hookimpl
    def health_lines(self) -> list[str]:
        return []


async def measure(turns: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intelbot-bench-") as name:
        return await _measure_in(Path(name), turns, rounds)


async def _measure_in(directory: Path, turns: int, rounds: int) -> dict[str, Any]:
    settings = load_settings(
        directory, overrides={"data_dir": str(directory / "data"), "llm": {"default_model": "echo"}}
    )
    kernel = await Kernel.start(settings, load_plugins=[], extra_plugins=[TrivialPlugin(i) for i in range(6)])
    provider = EchoProvider()
    direct: list[float] = []
    through_kernel: list[float] = []
    per_round = turns // rounds
    for _ in range(200):  # warm-up
        await kernel.ask("warm up", TurnContext(guild_id=1))
    for _ in range(rounds):
        for index in range(per_round):
            request = LLMRequest(messages=[Message("user", f"question {index}")], model="echo")
            started = time.perf_counter_ns()
            await provider.complete(request, ECHO, timeout=None)
            direct.append((time.perf_counter_ns() - started) / 1000)
        for index in range(per_round):
            ctx = TurnContext(guild_id=1, user_id=index)
            started = time.perf_counter_ns()
            await kernel.ask(f"question {index}", ctx)
            through_kernel.append((time.perf_counter_ns() - started) / 1000)
    await kernel.ledger.flush()
    rows = (await kernel.ledger.summary(guild_id=1)).calls
    await kernel.stop()
    direct_p50, direct_p99 = statistics.median(direct), percentile(direct, 0.99)
    kernel_p50, kernel_p99 = statistics.median(through_kernel), percentile(through_kernel, 0.99)
    return {
        "turns": len(through_kernel),
        "plugins": 6,
        "direct_us": {"p50": round(direct_p50, 2), "p99": round(direct_p99, 2)},
        "kernel_us": {"p50": round(kernel_p50, 2), "p99": round(kernel_p99, 2)},
        # differences of the two distributions' percentiles (the direct call is a near-constant ~2 us)
        "overhead_us": {"p50": round(kernel_p50 - direct_p50, 2), "p99": round(kernel_p99 - direct_p99, 2)},
        "ratio_p50": round(kernel_p50 / direct_p50, 1),
        "ledger_rows_written": rows,
        "goal_p99_overhead_under_1ms": (kernel_p99 - direct_p99) < 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(measure(args.turns, args.rounds))
    if args.json:
        print(json.dumps(result))
        return
    print(f"kernel overhead per turn: {result['turns']} turns, {result['plugins']} plugins on every hook, echo at 0 ms")
    print(f"{'path':<28}{'p50 (us)':>12}{'p99 (us)':>12}")
    print(f"{'direct provider call':<28}{result['direct_us']['p50']:>12}{result['direct_us']['p99']:>12}")
    print(f"{'kernel.ask (full turn)':<28}{result['kernel_us']['p50']:>12}{result['kernel_us']['p99']:>12}")
    print(f"{'overhead (difference)':<28}{result['overhead_us']['p50']:>12}{result['overhead_us']['p99']:>12}")
    print(
        f"ledger rows written: {result['ledger_rows_written']}; "
        f"p99 overhead under 1 ms: {result['goal_p99_overhead_under_1ms']}"
    )


if __name__ == "__main__":
    main()
