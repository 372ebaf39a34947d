"""Fault-injection benchmark: intelbot's circuit-breaker plugin against LiteLLM's Router, side by side.

Both systems answer the same open-loop stream of turns (one every ``--spacing-ms``)
against the same two loopback servers: the primary model on the OpenAI server and
its fallback on the Anthropic server, through the real SDKs. Each scenario injects
faults into the primary on a timeline:

1. ``outage``: every call fails (500) for a period, then the provider recovers;
2. ``random_500``: 30% of calls return 500 at random (the same seeded sequence for both);
3. ``burst_429``: a burst of 429 with ``Retry-After: 1``;
4. ``hang``: calls hang past the 1 s call timeout for a period;
5. ``flapping``: the provider alternates between failing and healthy;
6. ``all_down``: the primary and the fallback both fail all the time.

Figures per scenario and system: share of turns answered, p50/p99 turn latency,
calls sent to the primary while it was failing ("wasted"), time from a fault's
start until turns go straight to the fallback ("time to open") and from its end
until the primary answers again ("time to close"), each the median over the
scenario's fault periods ("-": it did not happen within the scenario); the turns
refused without any provider call and the p99 time to their error message; and the
p99 time to the error of every failed turn after the first 10% of the scenario.

Both systems work on the same compressed time scale: a 1 s call timeout, and 2 s
for the breaker's first wait in open state and for LiteLLM's ``cooldown_time``.

Both back off with the same settings, LiteLLM's defaults as read in its source
(``litellm.utils.calculate_retry_after`` and ``litellm/constants.py``, 1.110.2): the
n-th retry waits ``min(8, 0.5 * 2**n)`` s, and a ``Retry-After`` of up to 60 s is
honoured. intelbot gets ``base_delay_seconds = 0.5``, ``max_delay_seconds = 8``,
``max_retry_after_seconds = 60``. The jitter differs, each system keeping its own:
LiteLLM adds a uniform 0-0.75 s to that delay, intelbot draws uniformly in [0, delay]
(full jitter).

Run: ``.venv/bin/python benchmarks/circuit_breaker_faults.py`` (a table) or with
``--json`` (one JSON object). ``--quick`` runs shorter scenarios.

LiteLLM lives in the benchmark's own environment, never in the main ``.venv``::

    python3 -m venv benchmarks/.venv-litellm
    benchmarks/.venv-litellm/bin/pip install -e core -e plugins/circuit-breaker -r benchmarks/requirements-litellm.txt

When ``benchmarks/.venv-litellm`` exists, the LiteLLM side of each scenario runs there,
in a subprocess (this script again, with ``--system litellm --json``), and its figures
join the same table. Without it, LiteLLM runs in this process if it can be imported
here; otherwise only intelbot runs and the script says how to create the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from measures import percentile

from intelbot.contract import TurnContext
from intelbot.errors import CallRejected, IntelbotError
from intelbot.testing.anthropic_server import ANTHROPIC_TEST_KEY, AnthropicServer
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.loopback_server import LoopbackLLMServer
from intelbot.testing.openai_server import OPENAI_TEST_KEY
from intelbot.testing.scripted_replies import Hang, Outcome, RecordedRequest, Reply, Status
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin

REPOSITORY_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"

CALL_TIMEOUT = 1.0
BREAKER_WAIT = 2.0
SYSTEMS = ("intelbot", "litellm")
LITELLM_INITIAL_RETRY_DELAY = 0.5  # litellm/constants.py INITIAL_RETRY_DELAY
LITELLM_MAX_RETRY_DELAY = 8.0  # litellm/constants.py MAX_RETRY_DELAY
LITELLM_MAX_HONOURED_RETRY_AFTER = 60.0  # calculate_retry_after honours 0 < Retry-After <= 60
SCRIPT = Path(__file__).resolve()
LITELLM_VENV = SCRIPT.parent / ".venv-litellm"
LITELLM_PYTHON = LITELLM_VENV / "bin" / "python"
LITELLM_SETUP = (
    "python3 -m venv benchmarks/.venv-litellm && benchmarks/.venv-litellm/bin/pip install "
    "-e core -e plugins/circuit-breaker -r benchmarks/requirements-litellm.txt"
)

Ask = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A fault timeline: ``faults`` are [start, end) seconds during which ``outcome`` answers the primary."""

    name: str
    duration: float
    faults: tuple[tuple[float, float], ...] = ()
    outcome: Outcome = field(default_factory=lambda: Status(500))
    random_failure_share: float = 0.0
    fallback_down: bool = False


def scenarios(scale: float) -> list[Scenario]:
    def s(value: float) -> float:
        return round(value * scale, 3)

    duration = s(12.0)
    flaps = tuple((s(start), s(start + 1.5)) for start in (1.5, 4.5, 7.5, 10.5))
    return [
        Scenario("outage", duration, ((s(2.0), s(8.0)),)),
        Scenario("random_500", duration, random_failure_share=0.3),
        Scenario("burst_429", duration, ((s(3.0), s(6.0)),), outcome=Status(429, retry_after=1)),
        Scenario("hang", duration, ((s(2.0), s(7.0)),), outcome=Hang()),
        Scenario("flapping", duration, flaps),
        Scenario("all_down", duration, ((0.0, duration),), fallback_down=True),
    ]


@dataclass(slots=True)
class Turn:
    index: int
    started: float
    seconds: float = 0.0
    answered: bool = False
    rejected_fast: bool = False


@dataclass(slots=True)
class Figures:
    """One system's results in one scenario."""

    turns: int
    answered_share: float
    p50_ms: float
    p99_ms: float
    wasted_calls: int
    primary_calls: int
    fallback_calls: int
    time_to_open_s: float | None
    time_to_close_s: float | None
    p99_refused_ms: float | None
    refused_turns: int
    p99_failed_ms: float | None


def turn_index(recorded: RecordedRequest) -> int | None:
    """The turn number written in the request's last user message (``turn-<n>``)."""
    body = recorded.body if isinstance(recorded.body, dict) else {}
    messages = body.get("messages") or []
    for message in reversed(messages):
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(content, str) and "turn-" in content:
            word = content.split("turn-", 1)[1].split()[0]
            return int(word) if word.isdigit() else None
    return None


async def drive(
    scenario: Scenario, primary: LoopbackLLMServer, fallback: LoopbackLLMServer, ask: Ask, spacing: float
) -> tuple[list[Turn], float, list[bool]]:
    """Run the scenario's turns and fault timeline; return the turns, the start time and the scripted failures."""
    scripted: list[bool] = []
    if scenario.random_failure_share:
        rng = random.Random(20261124)
        scripted = [rng.random() < scenario.random_failure_share for _ in range(20_000)]
        primary.script(*(Status(500) if failed else Reply() for failed in scripted))
    if scenario.fallback_down:
        fallback.fail_all(Status(500))
    start = time.monotonic()

    async def timeline() -> None:
        for begin, end in scenario.faults:
            await asyncio.sleep(max(0.0, start + begin - time.monotonic()))
            primary.fail_all(scenario.outcome)
            if end >= scenario.duration:
                return  # failing to the end: turns still in flight must not meet a recovered provider
            await asyncio.sleep(max(0.0, start + end - time.monotonic()))
            primary.recover()

    async def one(turn: Turn) -> None:
        try:
            await ask(f"turn-{turn.index} how are you")
            turn.answered = True
        except CallRejected:
            turn.rejected_fast = True
        except Exception:  # noqa: BLE001 - a failed turn is a figure, not a crash
            turn.answered = False
        turn.seconds = time.monotonic() - turn.started

    turns: list[Turn] = []
    tasks: list[asyncio.Task[None]] = []
    controller = asyncio.create_task(timeline())
    index = 0
    while True:
        due = start + index * spacing
        if due - start >= scenario.duration:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        turn = Turn(index, time.monotonic())
        turns.append(turn)
        tasks.append(asyncio.create_task(one(turn)))
        index += 1
    await asyncio.gather(*tasks)
    await controller
    primary.recover()
    fallback.recover()
    return turns, start, scripted


def measure(
    scenario: Scenario,
    turns: list[Turn],
    start: float,
    primary: LoopbackLLMServer,
    fallback: LoopbackLLMServer,
    scripted: list[bool],
) -> Figures:
    latencies = [turn.seconds * 1000 for turn in turns]
    primary_requests = primary.requests
    windows = [(start + begin, start + end) for begin, end in scenario.faults]
    if scripted:
        wasted = sum(scripted[: len(primary_requests)])
    else:
        wasted = sum(1 for request in primary_requests if any(b <= request.received_at < e for b, e in windows))
    first_hit: dict[int, tuple[float, str]] = {}
    for server, label in ((primary, "primary"), (fallback, "fallback")):
        for request in server.requests:
            number = turn_index(request)
            if number is not None and (number not in first_hit or request.received_at < first_hit[number][0]):
                first_hit[number] = (request.received_at, label)
    opens: list[float] = []
    closes: list[float] = []
    if not scenario.fallback_down:
        for begin, end in windows:
            went_straight = [
                turn.started - begin
                for turn in turns
                if begin <= turn.started < end and first_hit.get(turn.index, (0.0, ""))[1] == "fallback"
            ]
            if not went_straight:
                continue
            opens.append(min(went_straight))
            back = [request.received_at - end for request in primary_requests if request.received_at >= end]
            if back:
                closes.append(min(back))
    # turns refused without any provider call (every breaker open / every deployment cooling down)
    refused = [turn.seconds * 1000 for turn in turns if not turn.answered and turn.index not in first_hit]
    cutoff = start + scenario.duration * 0.1
    failed_late = [turn.seconds * 1000 for turn in turns if not turn.answered and turn.started >= cutoff]
    return Figures(
        turns=len(turns),
        answered_share=sum(turn.answered for turn in turns) / len(turns),
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        wasted_calls=wasted,
        primary_calls=len(primary_requests),
        fallback_calls=len(fallback.requests),
        time_to_open_s=statistics.median(opens) if opens else None,
        time_to_close_s=statistics.median(closes) if closes else None,
        p99_refused_ms=percentile(refused, 0.99) if refused else None,
        refused_turns=len(refused),
        p99_failed_ms=percentile(failed_late, 0.99) if failed_late else None,
    )


def intelbot_settings(openai_server: LoopbackLLMServer, anthropic_server: LoopbackLLMServer) -> dict[str, Any]:
    return {
        "llm": {
            "default_model": "primary",
            "timeout_seconds": CALL_TIMEOUT,
            "turn_timeout_seconds": 10.0,
            "max_attempts": 4,
        },
        "providers": {
            "openai": {"api_key": OPENAI_TEST_KEY, "base_url": openai_server.base_url, "max_retries": 0},
            "anthropic": {"api_key": ANTHROPIC_TEST_KEY, "base_url": anthropic_server.base_url, "max_retries": 0},
        },
        "models": {
            "primary": {"provider": "openai", "api_model": "gpt-4o-mini", "tier": "small"},
            "backup": {"provider": "anthropic", "api_model": "claude-haiku-4-5", "tier": "small"},
        },
        "plugins": {
            "circuit_breaker": {
                "breaker": {
                    "window_size": 10,
                    "minimum_calls": 5,
                    "failure_rate_threshold": 0.3,
                    "wait_in_open_seconds": BREAKER_WAIT,
                    "wait_growth_factor": 2.0,
                    "max_wait_in_open_seconds": 8.0,
                    "growth_memory_seconds": 30.0,
                    "half_open_probes": 1,
                },
                "retry": {  # LiteLLM's default backoff (see the module docstring)
                    "base_delay_seconds": LITELLM_INITIAL_RETRY_DELAY,
                    "max_delay_seconds": LITELLM_MAX_RETRY_DELAY,
                    "retries_per_model": 1,
                    "max_retry_after_seconds": LITELLM_MAX_HONOURED_RETRY_AFTER,
                },
                "fallbacks": {"primary": ["backup"]},
            }
        },
    }


async def run_intelbot(scenario: Scenario, spacing: float) -> Figures:
    from intelbot.testing.openai_server import OpenAIServer

    async with (
        OpenAIServer(api_key=OPENAI_TEST_KEY) as primary,
        AnthropicServer(api_key=ANTHROPIC_TEST_KEY) as fallback,
    ):
        with tempfile.TemporaryDirectory() as directory:
            factory = KernelFactory(Path(directory), base_settings=REPOSITORY_SETTINGS)
            try:
                plugin = CircuitBreakerPlugin.configured()
                kernel = await factory(plugins=[plugin], settings=intelbot_settings(primary, fallback))

                async def ask(question: str) -> str:
                    try:
                        return (await kernel.ask(question, TurnContext())).text
                    except CallRejected:
                        raise
                    except IntelbotError as error:
                        raise RuntimeError(error.category.value) from None

                turns, start, scripted = await drive(scenario, primary, fallback, ask, spacing)
            finally:
                await factory.close()
        return measure(scenario, turns, start, primary, fallback, scripted)


async def run_litellm(scenario: Scenario, spacing: float) -> Figures:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.router import Router

    from intelbot.testing.openai_server import OpenAIServer

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    async with (
        OpenAIServer(api_key=OPENAI_TEST_KEY) as primary,
        AnthropicServer(api_key=ANTHROPIC_TEST_KEY) as fallback,
    ):
        router = Router(
            model_list=[
                {
                    "model_name": "primary",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": primary.base_url,
                        "api_key": OPENAI_TEST_KEY,
                        "timeout": CALL_TIMEOUT,
                        "max_retries": 0,
                    },
                },
                {
                    "model_name": "backup",
                    "litellm_params": {
                        "model": "anthropic/claude-haiku-4-5",
                        "api_base": fallback.origin,
                        "api_key": ANTHROPIC_TEST_KEY,
                        "timeout": CALL_TIMEOUT,
                        "max_retries": 0,
                    },
                },
            ],
            fallbacks=[{"primary": ["backup"]}],
            num_retries=1,
            allowed_fails=3,
            cooldown_time=BREAKER_WAIT,
            timeout=CALL_TIMEOUT,
        )

        async def ask(question: str) -> str:
            response: Any = await router.acompletion(
                model="primary", messages=[{"role": "user", "content": question}], max_tokens=64
            )
            return str(response.choices[0].message.content)

        turns, start, scripted = await drive(scenario, primary, fallback, ask, spacing)
        return measure(scenario, turns, start, primary, fallback, scripted)


def litellm_available() -> bool:
    return importlib.util.find_spec("litellm") is not None


def in_litellm_venv() -> bool:
    """True when this interpreter is the one of ``benchmarks/.venv-litellm``."""
    return Path(sys.prefix).resolve() == LITELLM_VENV.resolve()


def litellm_runner(args: argparse.Namespace) -> tuple[Callable[[Scenario, float], Awaitable[Figures]] | None, str]:
    """How to run the LiteLLM side: in benchmarks/.venv-litellm (a subprocess), here, or not at all (and why)."""
    if in_litellm_venv() or args.system == ["litellm"]:
        return (run_litellm, "in process") if litellm_available() else (None, "litellm is not importable here")
    if LITELLM_PYTHON.exists():

        async def elsewhere(scenario: Scenario, spacing: float) -> Figures:
            return await run_litellm_in_venv(scenario, spacing, quick=args.quick)

        return elsewhere, f"in {LITELLM_VENV}"
    if litellm_available():
        return run_litellm, "in process (benchmarks/.venv-litellm does not exist)"
    return None, f"LiteLLM not installed; create its environment with: {LITELLM_SETUP}"


def _litellm_version_in_venv() -> str | None:
    result = subprocess.run(
        [str(LITELLM_PYTHON), "-c", "from importlib.metadata import version; print(version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout.strip() or None) if result.returncode == 0 else None


async def run_litellm_in_venv(scenario: Scenario, spacing: float, *, quick: bool) -> Figures:
    """Run one scenario's LiteLLM side with benchmarks/.venv-litellm/bin/python and read its JSON figures."""
    command = [
        str(LITELLM_PYTHON),
        str(SCRIPT),
        "--json",
        "--system",
        "litellm",
        "--scenario",
        scenario.name,
        "--spacing-ms",
        str(spacing * 1000),
    ]
    if quick:
        command.append("--quick")
    child = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await child.communicate()
    if child.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"LiteLLM run in {LITELLM_VENV} failed ({child.returncode}): " + " | ".join(tail))
    report = json.loads(out.decode())
    return Figures(**report["results"][scenario.name]["litellm"])


def fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None or value != value else format(value, pattern)


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    header = (
        "scenario",
        "system",
        "answered",
        "p50 ms",
        "p99 ms",
        "wasted",
        "to open s",
        "to close s",
        "refused",
        "p99 refused ms",
        "p99 failed ms",
    )
    rows = [header]
    for scenario, systems in results.items():
        for system, figures in systems.items():
            rows.append(
                (
                    scenario,
                    system,
                    f"{figures['answered_share']:.1%}",
                    fmt(figures["p50_ms"], ".1f"),
                    fmt(figures["p99_ms"], ".1f"),
                    str(figures["wasted_calls"]),
                    fmt(figures["time_to_open_s"], ".2f"),
                    fmt(figures["time_to_close_s"], ".2f"),
                    str(figures["refused_turns"]),
                    fmt(figures["p99_refused_ms"], ".2f"),
                    fmt(figures["p99_failed_ms"], ".1f"),
                )
            )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    spacing = args.spacing_ms / 1000
    wanted = args.system or (["intelbot"] if args.no_litellm else list(SYSTEMS))
    systems: list[tuple[str, Callable[[Scenario, float], Awaitable[Figures]]]] = []
    if "intelbot" in wanted:
        systems.append(("intelbot", run_intelbot))
    litellm_note = "not requested"
    litellm_version: str | None = None
    if "litellm" in wanted:
        runner, litellm_note = litellm_runner(args)
        if runner is not None:
            systems.append(("litellm", runner))
            litellm_version = _litellm_version_in_venv() if runner is not run_litellm else _version("litellm")
        elif args.system == ["litellm"]:
            raise SystemExit(f"cannot run LiteLLM: {litellm_note}")
        if not args.json:
            print(f"litellm: {litellm_note}", file=sys.stderr)
    chosen = [item for item in scenarios(0.5 if args.quick else 1.0) if not args.scenario or item.name in args.scenario]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario in chosen:
        results[scenario.name] = {}
        for system, run in systems:
            figures = await run(scenario, spacing)
            results[scenario.name][system] = asdict(figures)
            if not args.json:
                print(f"{scenario.name:<11} {system:<9} done", file=sys.stderr)
    return {
        "benchmark": "circuit_breaker_faults",
        "spacing_ms": args.spacing_ms,
        "call_timeout_s": CALL_TIMEOUT,
        "breaker_wait_s": BREAKER_WAIT,
        "systems": [system for system, _ in systems],
        "litellm_version": litellm_version,
        "litellm_runs": litellm_note,
        "results": results,
    }


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--quick", action="store_true", help="half-length scenarios")
    parser.add_argument("--spacing-ms", type=float, default=40.0, help="time between turn arrivals (default 40)")
    parser.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--no-litellm", action="store_true", help="run intelbot only")
    parser.add_argument(
        "--system",
        action="append",
        choices=SYSTEMS,
        help="run only this system (repeatable; the LiteLLM subprocess uses --system litellm)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpx2", "intelbot"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report, indent=None, sort_keys=True))
    else:
        print(table(report["results"]))
        if "litellm" not in report["systems"] and not args.no_litellm and args.system is None:
            print(f"\nLiteLLM was not run ({report['litellm_runs']}).")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
