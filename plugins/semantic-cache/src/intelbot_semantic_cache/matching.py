"""The match rule: when is a stored question close enough to answer a new one?

Two rules, one interface (``scores`` then compare with ``threshold``):

- ``cosine`` (default): the score is the cosine similarity of the two embeddings.
- ``learned``: the score is a logistic model of the pair, fitted by
  ``intelbot cache calibrate`` on labelled pairs: features are the cosine, the
  element-wise product and the absolute difference of the two unit vectors, so it
  learns which directions of disagreement matter ("YouTube" against "education")
  and which do not (rephrasing). It only re-scores the ``candidates`` nearest by
  cosine, so it never widens the search, it sharpens the decision.

A rule is saved as JSON (threshold, weights, the embedder it was fitted for) and
refused when the cache runs another embedder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.embedding import Vectors
from intelbot.errors import ConfigurationError

Scores = npt.NDArray[np.float64]


def pair_features(query: Vectors, candidates: Vectors) -> npt.NDArray[np.float64]:
    """Features of (query, candidate) pairs: [cosine, query*candidate, |query-candidate|, 1] per row."""
    query = np.asarray(query, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    if query.ndim == 1:
        query = np.broadcast_to(query, candidates.shape)
    product = query * candidates
    cosine = product.sum(axis=1, keepdims=True)
    return np.hstack([cosine, product, np.abs(query - candidates), np.ones((len(candidates), 1))])


def fit_weights(
    features: npt.NDArray[np.float64], labels: npt.NDArray[np.float64], *, l2: float = 1.0, iterations: int = 25
) -> npt.NDArray[np.float64]:
    """L2-regularised logistic regression by Newton's method (the last column, the bias, is not regularised)."""
    if len(features) == 0 or len(set(labels.tolist())) < 2:
        raise ValueError("fitting needs both matching and non-matching examples")
    weights = np.zeros(features.shape[1])
    penalty = np.full(features.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        probabilities = _sigmoid(features @ weights)
        gradient = features.T @ (probabilities - labels) + penalty * weights
        hessian = (features * (probabilities * (1 - probabilities))[:, None]).T @ features + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
        weights -= step
        if float(np.max(np.abs(step))) < 1e-6:
            break
    return weights


def _sigmoid(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(values, -60, 60))), dtype=np.float64)


@dataclass(frozen=True)
class MatchRule:
    """Scores candidates and says which pass. ``weights`` None means plain cosine."""

    threshold: float
    weights: npt.NDArray[np.float64] | None = None
    embedder: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "cosine" if self.weights is None else "learned"

    def scores(self, query: Vectors, candidates: Vectors, cosines: npt.NDArray[np.float32]) -> Scores:
        """One score per candidate, comparable with ``threshold`` (higher is a better match)."""
        if self.weights is None:
            return np.asarray(cosines, dtype=np.float64)
        return _sigmoid(pair_features(query, candidates) @ self.weights)

    def with_threshold(self, threshold: float) -> MatchRule:
        return MatchRule(threshold, self.weights, self.embedder, dict(self.notes))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "threshold": self.threshold,
            "embedder": self.embedder,
            "weights": None if self.weights is None else [float(value) for value in self.weights],
            "notes": self.notes,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, *, embedder: str, dimensions: int) -> MatchRule:
        """Read a rule file; ConfigurationError naming the file when it is unreadable or made for another embedder."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            threshold = float(data["threshold"])
            weights = data.get("weights")
            fitted_for = str(data.get("embedder", ""))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(
                f"cannot read the calibration: {type(error).__name__}",
                key="plugins.semantic_cache.calibration_file",
                file=str(path),
            ) from None
        if weights is None:
            return cls(threshold, None, fitted_for, dict(data.get("notes") or {}))
        if fitted_for != embedder or len(weights) != 2 * dimensions + 2:
            raise ConfigurationError(
                f"the calibration was fitted for embedder {fitted_for!r} ({len(weights)} weights), "
                f"but the cache runs {embedder!r} ({dimensions} dimensions); run `intelbot cache calibrate` again",
                key="plugins.semantic_cache.calibration_file",
                file=str(path),
            )
        return cls(threshold, np.asarray(weights, dtype=np.float64), fitted_for, dict(data.get("notes") or {}))
