"""Start-up time, memory and embedding throughput of the bot, by embedding backend.

Three measurements, each the median of several runs, every variant run in the same
invocation (interleaved) so the figures compare like with like on a shared machine:

1. cold start: ``intelbot ask QUESTION`` as a new process in a fresh data
   directory, from spawn to the answer on stdout (and to exit), with the semantic
   cache off, and on with each local backend (a cache miss: exact lookup, semantic
   lookup, the offline echo model, store); with the CPU time (user + system, every
   thread) the process used, which a busy machine does not inflate as it does the
   wall time;
2. memory: ``intelbot run`` in console mode answering TURNS questions on stdin
   (a third of them asked twice: exact hits), then idle for a moment; peak
   (VmHWM) and idle (VmRSS) resident memory from /proc, by variant;
3. throughput: sentences per second through ``Embedder.embed`` (LRU off), batch
   1 and batch 64, for each backend in this process.

No API key is used: the default model has none here, so the bot answers with the
offline echo model, as a new user's first try does. The settings are the
repository's settings.toml; only the variant's keys are set by environment.

    .venv/bin/python benchmarks/footprint.py [--runs 5] [--turns 100] [--json]

The load average (1, 5, 15 minutes) before and after is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INTELBOT = Path(sys.executable).parent / "intelbot"
QUESTION = "What is the capital of France?"
PAIRS = Path("/work/shared/data/qqp-pairs-dev.jsonl")
BACKENDS = ("onnx", "sentence-transformers")
VARIANTS: dict[str, dict[str, str]] = {
    "cache off": {"INTELBOT_PLUGINS__SEMANTIC_CACHE__ENABLED": "false"},
    "cache on, onnx": {"INTELBOT_EMBEDDING__BACKEND": "onnx"},
    "cache on, sentence-transformers": {"INTELBOT_EMBEDDING__BACKEND": "sentence-transformers"},
}
GOAL_COLD_START_S = 3.0
GOAL_COLD_START_GAP_S = 1.0
GOAL_IDLE_RSS_MB = 250.0


def environment(settings_dir: Path, variant: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTELBOT_")}
    for secret in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        env.pop(secret, None)
    env.update({"INTELBOT_SETTINGS_DIR": str(settings_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env.update(variant)
    return env


def fresh_settings_dir(parent: Path) -> Path:
    directory = Path(tempfile.mkdtemp(dir=parent))
    shutil.copyfile(ROOT / "settings.toml", directory / "settings.toml")
    return directory


def cold_start(parent: Path, variant: dict[str, str]) -> tuple[float, float, float]:
    """(seconds to the answer line, seconds to exit, CPU seconds) of one ``intelbot ask`` in a fresh data directory.

    The CPU time is the child's user + system time (all its threads), from the rusage of
    reaped children: this process runs one child at a time, so the difference is that child's.
    """
    settings_dir = fresh_settings_dir(parent)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(INTELBOT), "ask", QUESTION],
        env=environment(settings_dir, variant),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    first_line = child.stdout.readline()
    answered = time.perf_counter() - started
    _, errors = child.communicate(timeout=300)
    exited = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if child.returncode != 0 or "Echo:" not in first_line:
        raise RuntimeError(f"intelbot ask failed ({child.returncode}): {first_line!r} {errors[-2000:]}")
    shutil.rmtree(settings_dir, ignore_errors=True)
    return answered, exited, cpu


def memory_status(pid: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0]) / 1024
    return figures


def console_memory(parent: Path, variant: dict[str, str], turns: int, idle_seconds: float) -> dict[str, float]:
    """Peak and idle RSS (MB) of ``intelbot run`` (console) after ``turns`` questions, and the seconds they took."""
    settings_dir = fresh_settings_dir(parent)
    distinct = max(1, turns - turns // 3)
    questions = [f"How many minutes does it take to cook dish number {n} in the oven?" for n in range(distinct)]
    questions += questions[: turns - distinct]  # asked again: exact hits
    child = subprocess.Popen(
        [str(INTELBOT), "run"],
        env=environment(settings_dir, variant),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    started = time.perf_counter()
    child.stdin.write("".join(f"{question}\n" for question in questions))
    child.stdin.flush()
    answered = 0
    while answered < turns:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"intelbot run ended after {answered} of {turns} answers")
        if line.startswith("  ["):
            answered += 1
    took = time.perf_counter() - started
    time.sleep(idle_seconds)
    figures = memory_status(child.pid)
    child.stdin.close()
    child.wait(timeout=60)
    shutil.rmtree(settings_dir, ignore_errors=True)
    return {"peak_rss_mb": figures["VmHWM"], "idle_rss_mb": figures["VmRSS"], "turns_seconds": took}


def sentences(count: int) -> list[str]:
    """Distinct real questions from the QQP dev file when it is there, else generated ones."""
    found: list[str] = []
    if PAIRS.exists():
        with PAIRS.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                for key in ("q1", "q2"):
                    text = str(row.get(key, "")).strip()
                    if text and text not in found:
                        found.append(text)
                if len(found) >= count:
                    break
    while len(found) < count:
        found.append(f"Generated question number {len(found)} about cooking, travel and the weather?")
    return found[:count]


async def throughput(runs: int, per_run: int) -> dict[str, dict[str, float]]:
    """Median sentences/second per backend for batch 1 and batch 64 (LRU off, default threads)."""
    from intelbot.embedding import build_embedder, wait_until_ready

    embedders = {}
    for backend in BACKENDS:
        embedder = build_embedder({"backend": backend, "lru_size": 0, "batch_size": 64})
        assert embedder is not None
        await wait_until_ready(embedder, float("inf"))
        embedders[backend] = embedder
    texts = sentences(per_run * (runs + 1))
    for embedder in embedders.values():  # warm-up
        await embedder.embed(texts[:64])
    rates: dict[str, dict[str, list[float]]] = {b: {"batch_1": [], "batch_64": []} for b in BACKENDS}
    for run in range(runs):
        chunk = texts[run * per_run : (run + 1) * per_run]
        for backend, embedder in embedders.items():
            started = time.perf_counter()
            for text in chunk[:64]:
                await embedder.embed([text])
            rates[backend]["batch_1"].append(min(64, len(chunk)) / (time.perf_counter() - started))
            started = time.perf_counter()
            for start in range(0, len(chunk), 64):
                await embedder.embed(chunk[start : start + 64])
            rates[backend]["batch_64"].append(len(chunk) / (time.perf_counter() - started))
    return {b: {k: statistics.median(v) for k, v in by_batch.items()} for b, by_batch in rates.items()}


def median_of(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each cold start (default 5)")
    parser.add_argument("--memory-runs", type=int, default=3, help="runs of each console session (default 3)")
    parser.add_argument("--turns", type=int, default=100, help="questions per console session (default 100)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading the idle RSS")
    parser.add_argument("--throughput-runs", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=256, help="sentences per throughput run (batch 64)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    arguments = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="intelbot-footprint-") as scratch:
        parent = Path(scratch)
        cold: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
        for _ in range(arguments.runs):
            for name, variant in VARIANTS.items():
                cold[name].append(cold_start(parent, variant))
        memory: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for _ in range(arguments.memory_runs):
            for name, variant in VARIANTS.items():
                memory[name].append(console_memory(parent, variant, arguments.turns, arguments.idle))
    rates = asyncio.run(throughput(arguments.throughput_runs, arguments.sentences))
    load_after = os.getloadavg()

    cold_figures = {
        name: {
            "answer_s": statistics.median(answered for answered, _, _ in runs),
            "exit_s": statistics.median(exited for _, exited, _ in runs),
            "cpu_s": statistics.median(cpu for _, _, cpu in runs),
        }
        for name, runs in cold.items()
    }
    memory_figures = {name: median_of(rows) for name, rows in memory.items()}
    off, on = cold_figures["cache off"]["answer_s"], cold_figures["cache on, onnx"]["answer_s"]
    idle = memory_figures["cache on, onnx"]["idle_rss_mb"]
    ratios = {
        "cold_start_gap_onnx_s": on - off,
        "cold_start_gap_sentence_transformers_s": cold_figures["cache on, sentence-transformers"]["answer_s"] - off,
        "throughput_onnx_over_st_batch_1": rates["onnx"]["batch_1"] / rates["sentence-transformers"]["batch_1"],
        "throughput_onnx_over_st_batch_64": rates["onnx"]["batch_64"] / rates["sentence-transformers"]["batch_64"],
    }
    goals = {
        f"cold start, cache on <= {GOAL_COLD_START_S} s": on <= GOAL_COLD_START_S,
        f"cold start, cache on within {GOAL_COLD_START_GAP_S} s of cache off": on - off <= GOAL_COLD_START_GAP_S,
        f"idle RSS, cache on <= {GOAL_IDLE_RSS_MB:.0f} MB": idle <= GOAL_IDLE_RSS_MB,
        "throughput no worse than sentence-transformers": min(
            ratios["throughput_onnx_over_st_batch_1"], ratios["throughput_onnx_over_st_batch_64"]
        )
        >= 1.0,
    }
    result: dict[str, Any] = {
        "settings": {
            "runs": arguments.runs,
            "memory_runs": arguments.memory_runs,
            "turns": arguments.turns,
            "throughput_runs": arguments.throughput_runs,
            "sentences": arguments.sentences,
            "cpus": os.cpu_count(),
        },
        "cold_start": cold_figures,
        "console_memory": memory_figures,
        "throughput_sentences_per_s": rates,
        "ratios": ratios,
        "goals": goals,
        "load_average": {"before": list(load_before), "after": list(load_after)},
    }
    if arguments.json:
        print(json.dumps(result, indent=2))
        return
    print(f"cold start of `intelbot ask` (median of {arguments.runs}, fresh data directory, cache miss)")
    for name, figures in cold_figures.items():
        print(
            f"  {name:34s} answer {figures['answer_s']:6.2f} s   exit {figures['exit_s']:6.2f} s"
            f"   CPU {figures['cpu_s']:6.2f} s"
        )
    print(f"`intelbot run` console, {arguments.turns} turns (median of {arguments.memory_runs})")
    for name, figures in memory_figures.items():
        print(
            f"  {name:34s} peak {figures['peak_rss_mb']:6.0f} MB   idle {figures['idle_rss_mb']:6.0f} MB"
            f"   turns {figures['turns_seconds']:6.2f} s"
        )
    print(f"embedding throughput, sentences/s (median of {arguments.throughput_runs})")
    for backend, figures in rates.items():
        print(f"  {backend:34s} batch 1 {figures['batch_1']:7.1f}   batch 64 {figures['batch_64']:7.1f}")
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}")
    for goal, met in goals.items():
        print(f"  goal {'met' if met else 'MISSED'}: {goal}")
    before, after = (" ".join(f"{value:.2f}" for value in load) for load in (load_before, load_after))
    print(f"load average (1, 5, 15 min) on {os.cpu_count()} CPUs: before {before}, after {after}")


if __name__ == "__main__":
    main()
