"""How far prompt-level routing can get on MMLU: a router that knows each prompt's MMLU subject.

    .venv/bin/python benchmarks/cost_router_subject_reference.py [--data-dir ../shared/data] [--splits 20] [--json]

A reference, not a router the plugin could run: the subject is a field of RouteLLM's
MMLU outcome rows, never part of what a user sends. For each split (the cost-router
benchmark's own split: ``numpy default_rng(seed).permutation``, first half training,
rest test; seed 0 is the split of the README table) the estimate of a test prompt is
the mean benefit ``strong_correct - weak_correct`` of its subject over the training
half (0 for a subject it never saw). The figure is the product's own
``strong_share_at_target`` at 0.95 on the test half, beside random and oracle routing
on the same rows. If the goal (0.50) is near what knowing the subject gives, a router
has to learn more than the subject from the prompt to pass it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from intelbot_cost_router.calibration import (
    oracle_strong_share_at_target,
    random_strong_share_at_target,
    strong_share_at_target,
)

HERE = Path(__file__).resolve().parent
TARGET = 0.95
TRAIN_SHARE = 0.5


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Uncontaminated rows with a subject and both outcomes (RouteLLM drops contaminated prompts too)."""
    rows = []
    for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines: prompts hold U+2028
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("contaminated") or not isinstance(row.get("subject"), str):
            continue
        rows.append(row)
    return rows


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The cost-router benchmark's split: a permutation with ``seed``, the first half for training."""
    order = np.random.default_rng(seed).permutation(n)
    cut = round(n * TRAIN_SHARE)
    return np.sort(order[:cut]), np.sort(order[cut:])


def subject_figures(rows: Sequence[dict[str, Any]], seed: int) -> dict[str, float]:
    train, test = split(len(rows), seed)
    gains: dict[str, list[float]] = defaultdict(list)
    for index in train:
        row = rows[index]
        gains[row["subject"]].append(float(row["strong_correct"]) - float(row["weak_correct"]))
    benefit = {subject: float(np.mean(values)) for subject, values in gains.items()}
    strong = np.array([float(rows[i]["strong_correct"]) for i in test])
    weak = np.array([float(rows[i]["weak_correct"]) for i in test])
    estimates = np.array([benefit.get(rows[i]["subject"], 0.0) for i in test])
    return {
        "seed": seed,
        "test_rows": len(test),
        "subject": round(strong_share_at_target(estimates, strong, weak, TARGET), 4),
        "random": round(random_strong_share_at_target(strong, weak, TARGET), 4),
        "oracle": round(oracle_strong_share_at_target(strong, weak, TARGET), 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--splits", type=int, default=20, help="seeds 0 .. splits-1")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    path = args.data_dir / "router-mmlu-dev.jsonl"
    if not path.is_file():
        print(f"{path}: not found (pass --data-dir)", file=sys.stderr)
        return 2
    rows = read_rows(path)
    per_split = [subject_figures(rows, seed) for seed in range(args.splits)]
    summary = {
        name: {
            "seed_0": per_split[0][name],
            "median": round(statistics.median(s[name] for s in per_split), 4),
            "min": min(s[name] for s in per_split),
            "max": max(s[name] for s in per_split),
        }
        for name in ("subject", "random", "oracle")
    }
    result = {"rows": len(rows), "target": TARGET, "splits": args.splits, "summary": summary, "per_split": per_split}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"MMLU strong_share_at_target at {TARGET} on the test half ({len(rows)} rows, {args.splits} splits)")
    print("| routing by | seed 0 | median | min | max |")
    print("|---|---:|---:|---:|---:|")
    for name, label in (("subject", "the prompt's subject (reference)"), ("random", "random"), ("oracle", "oracle")):
        figures = summary[name]
        print(f"| {label} | {figures['seed_0']} | {figures['median']} | {figures['min']} | {figures['max']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
