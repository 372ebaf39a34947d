"""The kernel's own overhead per turn, against direct provider calls.

Six trivial plugins implement every hook a turn runs, and every one of them runs in
each measured turn: ``query`` (the turn recalls memories), ``before_llm_call`` (on both
attempts), ``on_error`` (the first attempt fails; the last plugin asks for a retry, so
all six are asked), ``after_llm_call`` and ``store`` (the turn remembers the exchange).
They also implement ``forget``, ``collect_stats`` and ``health_lines``, which no turn
runs. The provider is the offline echo model at zero latency, failing every other call,
so what is left is the kernel: dispatch, recovery, cost, ledger, metrics. The baseline
makes the same two provider calls directly (the failing one and the answer). Both paths
run in the same process and event loop, interleaved in rounds; the hook calls counted
per turn are printed with the figures.

    .venv/bin/python benchmarks/kernel_overhead.py [--turns 20000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from measures import percentile

from intelbot import (
    Kernel,
    LLMRequest,
    LLMResponse,
    MemoryQuery,
    MemoryRecord,
    Message,
    Retry,
    TurnContext,
    hookimpl,
)
from intelbot.catalog import ECHO, ModelSpec
from intelbot.errors import ErrorCategory, IntelbotError, ProviderError
from intelbot.providers.echo import EchoProvider
from intelbot.settings import load_settings

PLUGINS = 6
TURN_HOOKS = ("query", "before_llm_call", "on_error", "after_llm_call", "store")


class FailingEveryOtherCall(EchoProvider):
    """The echo model, failing every other call with a retryable server error (the first attempt of each turn)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        self.calls += 1
        if self.calls % 2 == 1:
            raise ProviderError("scripted failure", category=ErrorCategory.SERVER_ERROR, provider=self.name)
        return await super().complete(request, model, timeout=timeout)


class TrivialPlugin:
    """Implements every hook, does (almost) nothing, and counts its calls; ``retries`` answers ``on_error``."""

    def __init__(self, index: int, calls: Counter[str], *, retries: bool) -> None:
        self.name = f"trivial_{index}"
        self.calls = calls
        self.retries = retries

    @hookimpl
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        self.calls["before_llm_call"] += 1

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        self.calls["after_llm_call"] += 1

    @hookimpl
    def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> Retry | None:
        self.calls["on_error"] += 1
        return Retry(0.0, reason="benchmark") if self.retries else None

    @hookimpl
    def store(self, record: MemoryRecord, ctx: TurnContext) -> None:
        self.calls["store"] += 1

    @hookimpl
    def query(self, query: MemoryQuery, ctx: TurnContext) -> list[Any]:
        self.calls["query"] += 1
        return []

    @hookimpl
    def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> None:
        return None

    @hookimpl
    def collect_stats(self) -> dict[str, int]:
        return dict(self.calls)

    @hookimpl
    def health_lines(self) -> list[str]:
        return []


async def kernel_turn(kernel: Kernel, question: str, ctx: TurnContext) -> LLMResponse:
    """One turn as a front end with memory runs it: recall, ask (one failed attempt, one retry), remember."""
    await kernel.query(MemoryQuery(question, guild_id=ctx.guild_id, user_id=ctx.user_id), ctx)
    response = await kernel.ask(question, ctx)
    await kernel.store(MemoryRecord(f"{question} -> {response.text}", ctx.guild_id, ctx.user_id), ctx)
    return response


async def direct_turn(provider: EchoProvider, question: str) -> LLMResponse:
    """The same provider work without the kernel: the failing call, then the answer."""
    request = LLMRequest(messages=[Message("user", question)], model="echo")
    try:
        await provider.complete(request, ECHO, timeout=None)
    except ProviderError:
        pass
    return await provider.complete(request, ECHO, timeout=None)


async def measure(turns: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="intelbot-bench-") as name:
        return await _measure_in(Path(name), turns, rounds)


async def _measure_in(directory: Path, turns: int, rounds: int) -> dict[str, Any]:
    settings = load_settings(
        directory, overrides={"data_dir": str(directory / "data"), "llm": {"default_model": "echo"}}
    )
    calls: Counter[str] = Counter()
    plugins = [TrivialPlugin(i, calls, retries=i == PLUGINS - 1) for i in range(PLUGINS)]
    kernel = await Kernel.start(settings, load_plugins=[], extra_plugins=plugins)
    kernel.providers["echo"] = FailingEveryOtherCall()
    provider = FailingEveryOtherCall()
    direct: list[float] = []
    through_kernel: list[float] = []
    per_round = turns // rounds
    for _ in range(200):  # warm-up
        await kernel_turn(kernel, "warm up", TurnContext(guild_id=1))
    calls.clear()
    for _ in range(rounds):
        for index in range(per_round):
            started = time.perf_counter_ns()
            await direct_turn(provider, f"question {index}")
            direct.append((time.perf_counter_ns() - started) / 1000)
        for index in range(per_round):
            ctx = TurnContext(guild_id=1, user_id=index)
            started = time.perf_counter_ns()
            await kernel_turn(kernel, f"question {index}", ctx)
            through_kernel.append((time.perf_counter_ns() - started) / 1000)
    await kernel.ledger.flush()
    rows = (await kernel.ledger.summary(guild_id=1)).calls
    await kernel.stop()
    measured = len(through_kernel)
    direct_p50, direct_p99 = statistics.median(direct), percentile(direct, 0.99)
    kernel_p50, kernel_p99 = statistics.median(through_kernel), percentile(through_kernel, 0.99)
    return {
        "turns": measured,
        "plugins": PLUGINS,
        "hook_calls_per_turn": {hook: round(calls[hook] / measured, 2) for hook in TURN_HOOKS},
        "direct_us": {"p50": round(direct_p50, 2), "p99": round(direct_p99, 2)},
        "kernel_us": {"p50": round(kernel_p50, 2), "p99": round(kernel_p99, 2)},
        # differences of the two distributions' percentiles (the direct calls are a near-constant few us)
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
    print(
        f"kernel overhead per turn: {result['turns']} turns, {result['plugins']} plugins on every turn hook, "
        "echo at 0 ms failing the first attempt"
    )
    hooks = ", ".join(f"{hook} {count:g}" for hook, count in result["hook_calls_per_turn"].items())
    print(f"hook calls per turn: {hooks}")
    print(f"{'path':<34}{'p50 (us)':>12}{'p99 (us)':>12}")
    print(f"{'direct provider calls (2)':<34}{result['direct_us']['p50']:>12}{result['direct_us']['p99']:>12}")
    label = "recall + ask (retry) + remember"
    print(f"{label:<34}{result['kernel_us']['p50']:>12}{result['kernel_us']['p99']:>12}")
    print(f"{'overhead (difference)':<34}{result['overhead_us']['p50']:>12}{result['overhead_us']['p99']:>12}")
    print(
        f"ledger rows written: {result['ledger_rows_written']}; "
        f"p99 overhead under 1 ms: {result['goal_p99_overhead_under_1ms']}"
    )


if __name__ == "__main__":
    main()
