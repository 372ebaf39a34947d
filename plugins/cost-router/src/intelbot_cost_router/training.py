"""Training a router from outcome rows: choose the model by cross-validation, calibrate, refit.

:func:`train_router` is what ``intelbot router train`` and the benchmark run:

1. every candidate model (text features only; text features plus the embedding reduced
   to 16 principal components; text features plus the whole embedding; at several
   regularisation strengths; with the ``benefit`` or the ``correct`` target of
   :mod:`.estimator`; the k nearest training prompts) is scored by 5-fold
   cross-validation on the rows given, repeated with ``REPEATS`` fold seeds: its
   out-of-fold ``strong_share_at_target``, averaged over the row sources (files) with
   at least 30 rows, so one large file does not decide alone, and over the repeats,
   so the luck of one fold assignment does not decide either;
2. the best candidate's out-of-fold estimates (first seed) calibrate the threshold for
   ``quality_target`` (and one per content type in ``content_targets``): thresholds are
   never chosen on estimates of rows the model was fitted on;
3. the best candidate is refitted on every row.

Qualities of different sources are put on one scale for calibration by dividing each
source's scores by its largest score (a 1-10 judge score and a 0/1 grade both end at 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from intelbot_cost_router.calibration import strong_share_at_target, threshold_for_target
from intelbot_cost_router.estimator import Estimator, FloatArray, fit_linear, fit_neighbours
from intelbot_cost_router.features import ContentType, content_type_of, features_of, prompt_facts
from intelbot_cost_router.outcomes import OutcomeRow, qualities

FOLDS = 5
SEED = 20240610
REPEATS = 3
"""Fold assignments (seeds ``SEED``, ``SEED + 1``, ...) each candidate is scored on."""
MIN_SOURCE_ROWS = 30
MIN_CONTENT_ROWS = 30
MAX_NEIGHBOUR_ROWS = 1000
"""Above this many outcome rows the kNN candidates are not tried: a kNN decision costs a product over
every training prompt (2,106 of them: median 7.9 ms with multi-threaded BLAS on the 2-core machine,
README), which breaks the 1 ms decision budget; a linear router's cost does not grow with its data."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model family to try: text only, or with the embedding (whole or reduced), at one strength and target."""

    name: str
    embedding: bool
    components: int | None
    c: float
    target: str = "benefit"
    neighbours: int = 0
    """More than 0: a :class:`~.estimator.NeighbourRouter` with this ``k`` (``c`` and ``target`` unused)."""


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("text C=0.01", False, None, 0.01),
    Candidate("text C=0.1", False, None, 0.1),
    Candidate("text+pca16 C=0.03", True, 16, 0.03),
    Candidate("text+pca16 C=0.3", True, 16, 0.3),
    Candidate("text+embedding C=0.01", True, None, 0.01),
    Candidate("text+embedding C=0.003", True, None, 0.003),
    Candidate("text correct C=0.1", False, None, 0.1, "correct"),
    Candidate("text+embedding correct C=0.003", True, None, 0.003, "correct"),
    Candidate("text+embedding correct C=0.01", True, None, 0.01, "correct"),
    Candidate("embedding kNN k=10", True, None, 0.0, neighbours=10),
    Candidate("embedding kNN k=40", True, None, 0.0, neighbours=40),
)
"""The candidates ``train_router`` chooses among. The last six were added after an inner
cross-validation on the benchmark's training parts only (README, "Choosing the model")."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Outcome rows turned into arrays: text features, embeddings (or None), qualities, sources, content types."""

    text: FloatArray
    embeddings: FloatArray | None
    strong: FloatArray
    weak: FloatArray
    sources: tuple[str, ...]
    content: tuple[ContentType, ...]

    def __len__(self) -> int:
        return int(self.strong.size)

    def subset(self, index: np.ndarray) -> TrainingData:
        return TrainingData(
            self.text[index],
            None if self.embeddings is None else self.embeddings[index],
            self.strong[index],
            self.weak[index],
            tuple(self.sources[i] for i in index),
            tuple(self.content[i] for i in index),
        )

    def scaled(self) -> tuple[FloatArray, FloatArray]:
        """(strong, weak) with each source's scores divided by that source's largest score."""
        strong, weak = self.strong.copy(), self.weak.copy()
        sources = np.asarray(self.sources)
        for source in set(self.sources):
            mask = sources == source
            top = float(max(np.abs(strong[mask]).max(), np.abs(weak[mask]).max()))
            if top > 0:
                strong[mask] /= top
                weak[mask] /= top
        return strong, weak


def training_data(rows: Sequence[OutcomeRow], embeddings: FloatArray | None) -> TrainingData:
    """Arrays for ``rows``; ``embeddings`` holds one row per outcome row (or None: text features only)."""
    if embeddings is not None and embeddings.shape[0] != len(rows):
        raise ValueError("one embedding per outcome row")
    facts = [prompt_facts(row.prompt, row.depth) for row in rows]
    strong, weak = qualities(rows)
    return TrainingData(
        np.asarray([features_of(item) for item in facts], dtype=np.float64),
        None if embeddings is None else np.asarray(embeddings, dtype=np.float64),
        strong,
        weak,
        tuple(row.source for row in rows),
        tuple(content_type_of(item) for item in facts),
    )


@dataclass(frozen=True, slots=True)
class TrainedRouter:
    """The refitted model, its calibrated thresholds and what cross-validation said about the choice."""

    model: Estimator
    quality_target: float
    threshold: float
    content_thresholds: Mapping[str, tuple[float, float]]
    """content type -> (its quality target, its threshold)."""
    candidate: str
    cv_scores: Mapping[str, float]
    rows: int
    calibration_share: float
    calibration_quality: float
    sources: tuple[str, ...] = field(default=())
    target_thresholds: Mapping[float, float] = field(default_factory=dict)
    """quality target (0.50, 0.51, ... 1.00) -> its threshold, calibrated on the same out-of-fold estimates;
    budget-aware lowering reads it (empty in files written before it existed)."""

    def threshold_for(self, kind: ContentType | str) -> float:
        """The threshold for prompts of content type ``kind`` (its own when calibrated, else the global one)."""
        found = self.content_thresholds.get(str(kind))
        return self.threshold if found is None else found[1]

    def threshold_at(self, target: float) -> float | None:
        """The calibrated threshold of the smallest grid target at or above ``target`` (None: no grid saved).

        Rounding up keeps the delivered quality at or above ``target`` on the calibration rows.
        """
        above = [grid for grid in self.target_thresholds if grid >= target - 1e-9]
        if not above:
            return None
        return self.target_thresholds[min(above)]


def _fit(candidate: Candidate, data: TrainingData, embedder: str) -> Estimator:
    """``candidate`` fitted on ``data``; the ``correct`` target and kNN see each source's scores scaled to [0, 1]."""
    if candidate.neighbours > 0:
        assert data.embeddings is not None
        strong, weak = data.scaled()
        return fit_neighbours(data.embeddings, strong, weak, embedder=embedder, k=candidate.neighbours)
    strong, weak = data.scaled() if candidate.target == "correct" else (data.strong, data.weak)
    return fit_linear(
        data.text,
        data.embeddings if candidate.embedding else None,
        strong,
        weak,
        embedder=embedder,
        c=candidate.c,
        components=candidate.components,
        target=candidate.target,
    )


def _estimates(model: Estimator, data: TrainingData) -> FloatArray:
    return model.estimate_matrix(model.full_rows(data.text, data.embeddings if model.uses_embedding else None))


def out_of_fold(candidate: Candidate, data: TrainingData, embedder: str, *, seed: int = SEED) -> FloatArray:
    """Estimates for every row from a model fitted on the other folds (folds drawn with ``seed``)."""
    n = len(data)
    folds = min(FOLDS, n)
    order = np.random.default_rng(seed).permutation(n)
    estimates = np.zeros(n, dtype=np.float64)
    for fold in range(folds):
        held = order[fold::folds]
        kept = np.setdiff1d(order, held)
        model = _fit(candidate, data.subset(kept), embedder)
        estimates[held] = _estimates(model, data.subset(held))
    return estimates


def selection_score(estimates: FloatArray, data: TrainingData, target: float) -> float:
    """Mean ``strong_share_at_target`` over sources with at least 30 rows (all rows when none has)."""
    sources = np.asarray(data.sources)
    shares = []
    for source in sorted(set(data.sources)):
        mask = sources == source
        if mask.sum() >= MIN_SOURCE_ROWS:
            shares.append(strong_share_at_target(estimates[mask], data.strong[mask], data.weak[mask], target))
    if not shares:
        strong, weak = data.scaled()
        shares.append(strong_share_at_target(estimates, strong, weak, target))
    return float(np.mean(shares))


def train_router(
    data: TrainingData,
    *,
    embedder: str,
    quality_target: float = 0.95,
    content_targets: Mapping[str, float] | None = None,
    candidates: Sequence[Candidate] = CANDIDATES,
) -> TrainedRouter:
    """Choose, calibrate and refit a router on ``data`` (see the module docstring).

    Candidates needing an embedding are skipped when ``data`` has none, and the kNN
    candidates when it has more than :data:`MAX_NEIGHBOUR_ROWS` rows. ValueError
    for fewer than 10 rows (too few to cross-validate).
    """
    if len(data) < 10:
        raise ValueError(f"at least 10 outcome rows are needed to train a router, got {len(data)}")
    usable = [
        item
        for item in candidates
        if (not item.embedding or data.embeddings is not None)
        and (item.neighbours == 0 or len(data) <= MAX_NEIGHBOUR_ROWS)
    ]
    scores: dict[str, float] = {}
    best: tuple[float, Candidate, FloatArray] | None = None
    for candidate in usable:
        estimates = out_of_fold(candidate, data, embedder)
        score = float(
            np.mean(
                [selection_score(estimates, data, quality_target)]
                + [
                    selection_score(out_of_fold(candidate, data, embedder, seed=SEED + r), data, quality_target)
                    for r in range(1, REPEATS)
                ]
            )
        )
        scores[candidate.name] = round(score, 4)
        if best is None or score < best[0] - 1e-9:
            best = (score, candidate, estimates)
    assert best is not None
    _, chosen, estimates = best
    strong, weak = data.scaled()
    calibrated = threshold_for_target(estimates, strong, weak, quality_target)
    content: dict[str, tuple[float, float]] = {}
    kinds = np.asarray([str(kind) for kind in data.content])
    for kind, target in (content_targets or {}).items():
        mask = kinds == kind
        if mask.sum() >= MIN_CONTENT_ROWS:
            found = threshold_for_target(estimates[mask], strong[mask], weak[mask], target)
        else:  # too few rows of this type: the threshold for its target on all rows
            found = threshold_for_target(estimates, strong, weak, target)
        content[kind] = (target, found.threshold)
    model = _fit(chosen, data, embedder)
    grid = {round(step / 100, 2): _grid_threshold(estimates, strong, weak, step / 100) for step in range(50, 101)}
    return TrainedRouter(
        model=model,
        quality_target=quality_target,
        threshold=calibrated.threshold,
        content_thresholds=content,
        candidate=chosen.name,
        cv_scores=scores,
        rows=len(data),
        calibration_share=calibrated.strong_share,
        calibration_quality=calibrated.quality,
        sources=tuple(sorted(set(data.sources))),
        target_thresholds=grid,
    )


def _grid_threshold(estimates: FloatArray, strong: FloatArray, weak: FloatArray, target: float) -> float:
    """The calibrated threshold for ``target``; infinity when the cheap tier alone meets it (no prompt is strong,
    however high a new prompt's estimate)."""
    calibrated = threshold_for_target(estimates, strong, weak, target)
    return math.inf if calibrated.strong_share == 0.0 else calibrated.threshold


def estimates_of(router: TrainedRouter, data: TrainingData) -> FloatArray:
    """The router's estimates for every row of ``data``."""
    return _estimates(router.model, data)


def thresholds_of(router: TrainedRouter, data: TrainingData) -> FloatArray:
    """Each row's threshold (by its content type)."""
    return np.asarray([router.threshold_for(kind) for kind in data.content], dtype=np.float64)
