"""Benchmark of the cost router on RouteLLM's offline outcome data (GPT-4 strong, Mixtral-8x7B weak).

One command prints the README's table::

    .venv/bin/python benchmarks/cost_router.py [--data-dir ../shared/data] [--json]

For each of ``router-{mmlu,gsm8k,mt-bench}-dev.jsonl`` (rows RouteLLM marks as
contaminated are dropped, as RouteLLM does before its published figures) the rows
are split with a fixed seed into a training part and a test part. Routers are
trained with :func:`intelbot_cost_router.training.train_router` (the code
``intelbot router train`` runs: model choice by cross-validation and threshold
calibration, both on the training part only) and every figure is measured on the
test part of the benchmark reported:

- ``same``: trained on the same benchmark's training part;
- ``others``: trained on the training parts of the other two benchmarks only;
- ``all``: trained on the training parts of all three;
- ``default``: the untrained text-features-only rule (``default_estimate``);
- ``random`` and ``oracle``: the expected share of random routing and the share of
  a router that knows each prompt's outcomes.

The figure is ``strong_share_at_target`` at 0.95: the smallest share of prompts sent
to the strong tier (in order of the router's estimate) whose mean quality reaches 95%
of the strong tier's. RouteLLM's published cost cuts at 95% of GPT-4 quality (their
``mf`` router trained on Chatbot Arena preferences: 85% MT Bench, 45% MMLU, 35% GSM8K)
are printed beside it as strong shares (1 - cut). MT Bench has 22 usable rows (11 in
each part), so its figures are repeated over ``--noise-splits`` other seeds and the
spread is reported. Embeddings of the prompts are cached in ``benchmarks/.cache/``
(ignored by git; vectors only, never the text).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from intelbot.embedding import Embedder, build_embedder
from intelbot.embedding.prompt import embedding_text
from intelbot_cost_router.calibration import (
    delivered,
    oracle_strong_share_at_target,
    random_strong_share_at_target,
    strong_share_at_target,
)
from intelbot_cost_router.estimator import default_estimate
from intelbot_cost_router.features import prompt_facts
from intelbot_cost_router.outcomes import OutcomeRow, read_outcomes
from intelbot_cost_router.training import TrainingData, estimates_of, thresholds_of, train_router, training_data

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
CACHE_DIR = HERE / ".cache"
BENCHMARKS = ("mmlu", "gsm8k", "mt-bench")
ROUTELLM_COST_CUT = {"mt-bench": 0.85, "mmlu": 0.45, "gsm8k": 0.35}
GOALS = {"mmlu": 0.50, "gsm8k": 0.60}
SEED = 0
TRAIN_SHARE = 0.5
TARGET = 0.95
SCENARIOS = ("same", "others", "all", "default", "random", "oracle")


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout (or beside its parent, for a worktree one level deeper)."""
    for base in (REPOSITORY.parent, REPOSITORY.parent.parent):
        candidate = base / "shared" / "data"
        if (candidate / "router-mmlu-dev.jsonl").exists():
            return candidate
    return REPOSITORY.parent / "shared" / "data"


async def embeddings_for(path: Path, rows: Sequence[OutcomeRow], embedder: Embedder) -> np.ndarray:
    """The embedder's vectors of ``rows`` (cached by file content and embedder name)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]  # noqa: ASYNC240 - a one-off read
    safe = "".join(char if char.isalnum() else "-" for char in embedder.name)
    cache = CACHE_DIR / f"router-{path.stem}-{digest}-{safe}-{len(rows)}.npy"
    if cache.exists():
        return np.load(cache)
    started = time.perf_counter()
    vectors = await embedder.embed([embedding_text(row.prompt) for row in rows])
    print(f"embedded {len(rows)} prompts of {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return np.asarray(vectors)


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, test) row indices: a permutation with ``seed``, the first half for training."""
    order = np.random.default_rng(seed).permutation(n)
    cut = round(n * TRAIN_SHARE)
    return np.sort(order[:cut]), np.sort(order[cut:])


def concat(parts: Sequence[TrainingData]) -> TrainingData:
    embeddings = [part.embeddings for part in parts]
    return TrainingData(
        np.vstack([part.text for part in parts]),
        None if any(item is None for item in embeddings) else np.vstack(embeddings),  # type: ignore[arg-type]
        np.concatenate([part.strong for part in parts]),
        np.concatenate([part.weak for part in parts]),
        tuple(source for part in parts for source in part.sources),
        tuple(kind for part in parts for kind in part.content),
    )


def scenario_figures(name: str, router: Any, test: TrainingData, prompts: Sequence[str]) -> dict[str, Any]:
    estimates = estimates_of(router, test)
    quality, share = delivered(estimates, test.strong, test.weak, thresholds_of(router, test))
    strong_mean = float(test.strong.mean())
    return {
        "strong_share_at_target": round(strong_share_at_target(estimates, test.strong, test.weak, TARGET), 4),
        "strong_share_at_threshold": round(share, 4),
        "quality_at_threshold_of_strong": round(quality / strong_mean, 4) if strong_mean else None,
        "model": router.candidate,
        "trained_rows": router.rows,
        "cv_scores": dict(router.cv_scores),
        "calibration_strong_share": round(router.calibration_share, 4),
    }


async def run(data_dir: Path, noise_splits: int) -> dict[str, Any]:
    embedder = build_embedder({"backend": "sentence-transformers", "threads": int(os.environ.get("THREADS", "1"))})
    assert embedder is not None
    loaded: dict[str, tuple[list[OutcomeRow], TrainingData]] = {}
    dropped: dict[str, int] = {}
    for benchmark in BENCHMARKS:
        path = data_dir / f"router-{benchmark}-dev.jsonl"
        every = read_outcomes(path)
        rows = read_outcomes(path, skip_contaminated=True)
        dropped[benchmark] = len(every) - len(rows)
        vectors = await embeddings_for(path, rows, embedder)
        loaded[benchmark] = (rows, training_data(rows, vectors))
    parts: dict[str, tuple[TrainingData, TrainingData, list[str]]] = {}
    for benchmark, (rows, data) in loaded.items():
        train_index, test_index = split(len(rows), SEED)
        parts[benchmark] = (data.subset(train_index), data.subset(test_index), [rows[i].prompt for i in test_index])
    trained_all = train_router(concat([parts[b][0] for b in BENCHMARKS]), embedder=embedder.name)
    results: dict[str, Any] = {}
    for benchmark in BENCHMARKS:
        train, test, prompts = parts[benchmark]
        same = train_router(train, embedder=embedder.name)
        others = train_router(concat([parts[b][0] for b in BENCHMARKS if b != benchmark]), embedder=embedder.name)
        default = np.asarray([default_estimate(prompt_facts(prompt)) for prompt in prompts])
        random_share = random_strong_share_at_target(test.strong, test.weak, TARGET)
        entry: dict[str, Any] = {
            "rows": len(loaded[benchmark][0]),
            "contaminated_dropped": dropped[benchmark],
            "train_rows": len(train),
            "test_rows": len(test),
            "strong_quality": round(float(test.strong.mean()), 4),
            "weak_quality": round(float(test.weak.mean()), 4),
            "same": scenario_figures("same", same, test, prompts),
            "others": scenario_figures("others", others, test, prompts),
            "all": scenario_figures("all", trained_all, test, prompts),
            "default": {
                "strong_share_at_target": round(strong_share_at_target(default, test.strong, test.weak, TARGET), 4)
            },
            "random": {"strong_share_at_target": round(random_share, 4)},
            "oracle": {
                "strong_share_at_target": round(oracle_strong_share_at_target(test.strong, test.weak, TARGET), 4)
            },
            "routellm_published_strong_share": round(1 - ROUTELLM_COST_CUT[benchmark], 2),
            "goal": GOALS.get(benchmark),
        }
        entry["worse_than_random"] = [
            key for key in ("same", "others", "all", "default") if entry[key]["strong_share_at_target"] > random_share
        ]
        results[benchmark] = entry
    if noise_splits > 0:
        rows, data = loaded["mt-bench"]
        spread: dict[str, list[float]] = {"same": [], "default": [], "random": [], "oracle": []}
        for seed in range(1, noise_splits + 1):
            train_index, test_index = split(len(rows), seed)
            train, test = data.subset(train_index), data.subset(test_index)
            router = train_router(train, embedder=embedder.name)
            spread["same"].append(strong_share_at_target(estimates_of(router, test), test.strong, test.weak, TARGET))
            default = np.asarray([default_estimate(prompt_facts(rows[i].prompt)) for i in test_index])
            spread["default"].append(strong_share_at_target(default, test.strong, test.weak, TARGET))
            spread["random"].append(random_strong_share_at_target(test.strong, test.weak, TARGET))
            spread["oracle"].append(oracle_strong_share_at_target(test.strong, test.weak, TARGET))
        results["mt-bench"]["noise"] = {
            "splits": noise_splits,
            **{
                key: {
                    "median": round(float(np.median(values)), 4),
                    "min": round(float(np.min(values)), 4),
                    "max": round(float(np.max(values)), 4),
                }
                for key, values in spread.items()
            },
        }
    return {
        "target": TARGET,
        "split": {"seed": SEED, "train_share": TRAIN_SHARE, "method": "numpy default_rng(seed).permutation"},
        "embedder": embedder.name,
        "benchmarks": results,
    }


async def latency(data_dir: Path, repeats: int) -> dict[str, Any]:
    """Decision latency (embedding excluded) of the heaviest learned routers against the default rule.

    The linear router (text features + the whole 384-dimensional embedding) and the
    nearest-neighbour router (k=10 over all 2,106 MMLU training prompts, the largest
    neighbour set of the benchmark) are fitted on the MMLU training part; each test
    prompt is decided ``repeats`` times with its precomputed embedding, as the plugin
    does once the turn's vector is known.
    """
    from intelbot_cost_router.routing import RoutingRule
    from intelbot_cost_router.training import CANDIDATES

    embedder = build_embedder({"backend": "sentence-transformers", "threads": 1})
    assert embedder is not None
    path = data_dir / "router-mmlu-dev.jsonl"
    rows = read_outcomes(path, skip_contaminated=True)
    vectors = await embeddings_for(path, rows, embedder)
    data = training_data(rows, vectors)
    train_index, test_index = split(len(rows), SEED)
    heaviest = [
        candidate
        for candidate in CANDIDATES
        if candidate.embedding and candidate.components is None and not candidate.neighbours
    ][:1]
    router = train_router(data.subset(train_index), embedder=embedder.name, candidates=heaviest)
    nearest = [candidate for candidate in CANDIDATES if candidate.neighbours == 10]
    neighbours = train_router(data.subset(train_index), embedder=embedder.name, candidates=nearest)
    rules = {
        "learned": RoutingRule(router, default_threshold=0.75),
        "kNN": RoutingRule(neighbours, default_threshold=0.75),
        "default": RoutingRule(None, default_threshold=0.75),
    }
    figures: dict[str, Any] = {"prompts": len(test_index), "repeats": repeats, "model": router.candidate}
    for name, rule in rules.items():
        timings = []
        for _ in range(repeats):
            for index in test_index:
                vector = vectors[index] if rule.needs_embedding else None
                started = time.perf_counter()
                rule.decide(rows[index].prompt, 0, vector)
                timings.append(time.perf_counter() - started)
        micros = np.asarray(timings) * 1e6
        figures[name] = {
            "median_us": round(float(np.median(micros)), 1),
            "p99_us": round(float(np.percentile(micros, 99)), 1),
        }
    figures["learned_over_default_median"] = round(figures["learned"]["median_us"] / figures["default"]["median_us"], 2)
    return figures


def table(result: dict[str, Any]) -> str:
    lines = [
        f"strong_share_at_target at {result['target']} on each benchmark's test part "
        f"(split: seed {result['split']['seed']}, {result['split']['train_share']:.0%} train / rest test; "
        "lower is better)",
        "",
        "| benchmark | test rows | same | others only | all three | text-only default | random | oracle | "
        "RouteLLM published | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["benchmarks"].items():
        goal = f"<= {entry['goal']:.2f}" if entry["goal"] else "lowest"
        shares = {
            key: f"{entry[key]['strong_share_at_target']:.3f}"
            + (" (worse than random)" if key in entry["worse_than_random"] else "")
            for key in SCENARIOS
        }
        lines.append(
            f"| {name} | {entry['test_rows']} | {shares['same']} | {shares['others']} | {shares['all']} | "
            f"{shares['default']} | {shares['random']} | {shares['oracle']} | "
            f"{entry['routellm_published_strong_share']:.2f} | {goal} |"
        )
    lines += [
        "",
        "What the calibrated threshold delivered on the test part "
        "(strong share / quality as a share of the strong tier's):",
        "",
        "| benchmark | same | others only | all three | model chosen (same) | same: share chosen out of fold |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in result["benchmarks"].items():
        cells = [
            f"{entry[key]['strong_share_at_threshold']:.3f} / {entry[key]['quality_at_threshold_of_strong']:.3f}"
            for key in ("same", "others", "all")
        ]
        lines.append(
            f"| {name} | {' | '.join(cells)} | {entry['same']['model']} | "
            f"{entry['same']['calibration_strong_share']:.3f} |"
        )
    lines += [
        "",
        "How train_router chose the model (same): each candidate's 5-fold out-of-fold strong share at "
        f"{result['target']} on the training part only (lower is better; the lowest is chosen):",
        "",
        "| candidate | " + " | ".join(result["benchmarks"]) + " |",
        "|---|" + "---|" * len(result["benchmarks"]),
    ]
    names = list(next(iter(result["benchmarks"].values()))["same"]["cv_scores"])
    for candidate in names:
        cells = []
        for entry in result["benchmarks"].values():
            score = entry["same"]["cv_scores"].get(candidate)
            mark = "**" if candidate == entry["same"]["model"] else ""
            cells.append("" if score is None else f"{mark}{score:.3f}{mark}")
        lines.append(f"| {candidate} | {' | '.join(cells)} |")
    noise = result["benchmarks"]["mt-bench"].get("noise")
    if noise:
        lines += [
            "",
            f"MT Bench over {noise['splits']} other split seeds (median [min, max]): "
            + "; ".join(
                f"{key} {value['median']:.3f} [{value['min']:.3f}, {value['max']:.3f}]"
                for key, value in noise.items()
                if isinstance(value, dict)
            ),
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of router-*-dev.jsonl")
    parser.add_argument("--noise-splits", type=int, default=20, help="MT Bench repeats on other seeds (0: none)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--latency", action="store_true", help="measure decision latency instead")
    parser.add_argument("--repeats", type=int, default=3, help="--latency: decisions per test prompt")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    if args.latency:
        figures = asyncio.run(latency(data_dir, args.repeats))
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            print(
                f"decision latency over {figures['prompts']} MMLU test prompts x {figures['repeats']} "
                f"(embedding excluded; learned router {figures['model']}):"
            )
            for name in ("learned", "kNN", "default"):
                print(f"  {name:<8} median {figures[name]['median_us']} us, p99 {figures[name]['p99_us']} us")
            print(f"  learned / default (median): {figures['learned_over_default_median']}x")
        return 0
    result = asyncio.run(run(data_dir, args.noise_splits))
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
