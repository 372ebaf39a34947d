"""Which model family should the cost router learn? An inner cross-validation on the training parts only.

::

    .venv/bin/python benchmarks/cost_router_families.py [--data-dir ../shared/data] [mmlu gsm8k]

For each benchmark named, the rows are split exactly as ``benchmarks/cost_router.py``
splits them (seed 0, first half for training) and **only the training part is used**:
each family below is scored by 5-fold cross-validation repeated with 3 seeds, as the
mean (and spread) of its out-of-fold ``strong_share_at_target`` at 0.95 (lower is
better). The test part is never read, so choosing among these families cannot tune on
the figures the README reports. The embeddings come from the cache ``cost_router.py``
writes (run it once first).

Families: multinomial logistic regression of the benefit sign (``logit3``, what
``train_router`` had), of the four outcome cells (``logit4``: both right, both wrong,
only strong right, only weak right), two binary regressions of each tier's correctness
(``correct``: P(strong right) - P(weak right)), k nearest training prompts by cosine of
the embedding (mean gain of the neighbours; ``pca32``: after 32 principal components),
HistGradientBoosting over text features and 16 principal components, and the average of
``logit3`` and a kNN estimate.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cost_router as bench
import numpy as np

from intelbot_cost_router.calibration import random_strong_share_at_target, strong_share_at_target
from intelbot_cost_router.estimator import default_estimate
from intelbot_cost_router.features import prompt_facts
from intelbot_cost_router.outcomes import read_outcomes
from intelbot_cost_router.training import TrainingData, training_data

Fitted = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(kept row indices, held row indices) -> estimates of the held rows from a model fitted on the kept rows."""


def training_part(data_dir: Path, benchmark: str) -> tuple[TrainingData, list[str]]:
    """The benchmark's training part (seed-0 split of ``cost_router.py``) and its prompts."""
    path = data_dir / f"router-{benchmark}-dev.jsonl"
    rows = read_outcomes(path, skip_contaminated=True)
    cached = sorted(bench.CACHE_DIR.glob(f"router-{path.stem}-*-{len(rows)}.npy"))
    if not cached:
        raise SystemExit(f"no cached embeddings for {path.name}: run benchmarks/cost_router.py once first")
    data = training_data(rows, np.load(cached[0]))
    train_index, _ = bench.split(len(rows), bench.SEED)
    return data.subset(train_index), [rows[i].prompt for i in train_index]


def cross_validated(fitted: Fitted, data: TrainingData, repeats: int = 3) -> tuple[float, float]:
    """(mean, standard deviation) over ``repeats`` seeds of the 5-fold out-of-fold share at 0.95."""
    n = len(data)
    shares = []
    for seed in range(1, repeats + 1):
        order = np.random.default_rng(seed).permutation(n)
        estimates = np.zeros(n)
        for fold in range(5):
            held = order[fold::5]
            estimates[held] = fitted(np.setdiff1d(np.arange(n), held), held)
        shares.append(strong_share_at_target(estimates, data.strong, data.weak, bench.TARGET))
    return float(np.mean(shares)), float(np.std(shares))


def _standardised(x: np.ndarray, kept: np.ndarray) -> np.ndarray:
    scale = x[kept].std(axis=0)
    scale[scale < 1e-9] = 1.0
    return (x - x[kept].mean(axis=0)) / scale


def _components(embeddings: np.ndarray, kept: np.ndarray, count: int) -> np.ndarray:
    mean = embeddings[kept].mean(axis=0)
    _, _, vt = np.linalg.svd(embeddings[kept] - mean, full_matrices=False)
    return (embeddings - mean) @ vt[:count].T


def logistic(data: TrainingData, x: np.ndarray, c: float, target: str) -> Fitted:
    """``logit3`` (benefit sign), ``logit4`` (outcome cells) or ``correct`` (two binary fits)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    right_strong, right_weak = data.strong > 0.5, data.weak > 0.5
    benefit = np.sign(data.strong - data.weak).astype(int)
    cells = np.where(
        right_strong & right_weak, 0, np.where(~right_strong & ~right_weak, 1, np.where(right_strong, 2, 3))
    )

    def fitted(kept: np.ndarray, held: np.ndarray) -> np.ndarray:
        z = _standardised(x, kept)
        if target == "correct":
            out = np.zeros(held.size)
            for labels, sign in ((right_strong, 1.0), (right_weak, -1.0)):
                model = LogisticRegression(C=c, max_iter=3000).fit(z[kept], labels[kept].astype(int))
                out += sign * model.predict_proba(z[held])[:, 1]
            return out
        labels = benefit if target == "logit3" else cells
        model = LogisticRegression(C=c, max_iter=3000).fit(z[kept], labels[kept])
        p = model.predict_proba(z[held])
        classes = list(model.classes_)
        if target == "logit3":
            return p @ np.asarray(classes, dtype=float)
        return p[:, classes.index(2)] - p[:, classes.index(3)]

    return fitted


def neighbours(data: TrainingData, k: int, components: int | None = None) -> Fitted:
    """Mean gain (strong - weak) of the ``k`` training prompts nearest by cosine of the embedding."""
    assert data.embeddings is not None
    embeddings = data.embeddings
    gain = data.strong - data.weak

    def fitted(kept: np.ndarray, held: np.ndarray) -> np.ndarray:
        e = embeddings if components is None else _components(embeddings, kept, components)
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        similarity = e[held] @ e[kept].T
        nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
        return np.asarray(gain[kept][nearest].mean(axis=1))

    return fitted


def boosted(data: TrainingData) -> Fitted:
    """HistGradientBoosting of the benefit sign over text features and 16 principal components."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

    assert data.embeddings is not None
    embeddings = data.embeddings
    benefit = np.sign(data.strong - data.weak).astype(int)

    def fitted(kept: np.ndarray, held: np.ndarray) -> np.ndarray:
        x = np.hstack([data.text, _components(embeddings, kept, 16)])
        model = HistGradientBoostingClassifier(random_state=0, max_iter=100, learning_rate=0.05, max_depth=3)
        model.fit(x[kept], benefit[kept])
        return np.asarray(model.predict_proba(x[held]) @ np.asarray(model.classes_, dtype=float))

    return fitted


def averaged(*parts: Fitted) -> Fitted:
    """The mean of several estimates (all are expected gains in [-1, 1])."""

    def fitted(kept: np.ndarray, held: np.ndarray) -> np.ndarray:
        return np.asarray(sum(part(kept, held) for part in parts)) / len(parts)

    return fitted


def families(data: TrainingData) -> dict[str, Fitted]:
    assert data.embeddings is not None
    both = np.hstack([data.text, data.embeddings])
    return {
        "logit3 text C=0.1": logistic(data, data.text, 0.1, "logit3"),
        "logit3 text+embedding C=0.01": logistic(data, both, 0.01, "logit3"),
        "logit3 text+embedding C=0.003": logistic(data, both, 0.003, "logit3"),
        "logit4 text+embedding C=0.003": logistic(data, both, 0.003, "logit4"),
        "correct text+embedding C=0.003": logistic(data, both, 0.003, "correct"),
        "correct text+embedding C=0.01": logistic(data, both, 0.01, "correct"),
        "kNN k=10": neighbours(data, 10),
        "kNN k=40": neighbours(data, 40),
        "kNN pca32 k=10": neighbours(data, 10, 32),
        "HistGradientBoosting text+pca16": boosted(data),
        "mean of logit3 C=0.003 and kNN k=10": averaged(logistic(data, both, 0.003, "logit3"), neighbours(data, 10)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="*", default=["mmlu", "gsm8k"], choices=["mmlu", "gsm8k"])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of router-*-dev.jsonl")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or bench.default_data_dir()
    for benchmark in args.benchmarks:
        data, prompts = training_part(data_dir, benchmark)
        default = np.asarray([default_estimate(prompt_facts(prompt)) for prompt in prompts])
        print(
            f"{benchmark}: {len(data)} training rows; random "
            f"{random_strong_share_at_target(data.strong, data.weak, bench.TARGET):.3f}, text-only default "
            f"{strong_share_at_target(default, data.strong, data.weak, bench.TARGET):.3f} (no fitting)",
            flush=True,
        )
        scores = {name: cross_validated(fitted, data) for name, fitted in families(data).items()}
        for name, (mean, spread) in sorted(scores.items(), key=lambda item: item[1][0]):
            print(f"  {mean:.3f} ± {spread:.3f}  {name}", flush=True)
    return 0


if __name__ == "__main__":  # run as a script, so benchmarks/ (and cost_router.py) is on sys.path
    sys.exit(main())
