"""The match rule: when is a stored question close enough to answer a new one?

Two rules, one interface (``scores`` then compare with ``threshold``):

- ``cosine`` (default): the score is the cosine similarity of the two embeddings.
- ``learned``: the probability, from a model fitted by ``intelbot cache calibrate``
  on labelled pairs, that the two questions ask the same thing. Two stages
  (:class:`PairModel`):

  1. a model of the two unit vectors, one of:

     - the **logistic** stage (the default): a logistic model over their cosine,
       element-wise product and absolute difference;
     - the **adapter** (format 3, :mod:`.adapter`, opt-in): the cosine of the two
       vectors after a learned square matrix, scaled and shifted to log-odds.

     Both learn which directions of disagreement matter ("YouTube" against
     "education") and which do not (rephrasing);
  2. gradient-boosted trees over the cosine, stage 1's log-odds and cheap features of
     the two texts (:mod:`.text_features`: word and trigram overlap, length, numbers,
     negation, question words, names), which catch what the vectors blur
     ("how" against "why", "2016" against "2017").

  Only candidates whose cosine reaches the model's ``floor`` are scored; the others
  score 0 without running the model, so a clear miss costs one vector lookup. The
  rule re-scores only the ``candidates`` nearest by cosine: it never widens the
  search, it sharpens the decision.

A rule is saved as JSON (format :data:`RULE_FORMAT`: threshold, model arrays, the
embedder it was fitted for, the text features it was fitted with) and refused when
the cache runs another embedder. A file written before formats were numbered
(format 1: cosine, or the logistic stage alone) is migrated on load, and a format-2
file (no adapter) is read as it is: both mean exactly what they meant before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.embedding import Vectors
from intelbot.errors import ConfigurationError
from intelbot_semantic_cache.adapter import Adapter
from intelbot_semantic_cache.boosted_trees import BoostedTrees
from intelbot_semantic_cache.text_features import TEXT_FEATURES, QuestionText, text_features

Scores = npt.NDArray[np.float64]
RULE_FORMAT = 3  # 3 added the adapter stage; 2 and 1 are still read
CALIBRATION_KEY = "plugins.semantic_cache.calibration_file"
# columns the trees read, in order: the cosine, stage 1's log-odds, then the text features
TREE_FEATURES: tuple[str, ...] = ("cosine", "vector_log_odds", *TEXT_FEATURES)


def pair_features(query: Vectors, candidates: Vectors) -> npt.NDArray[np.float64]:
    """Features of (query, candidate) pairs: [cosine, query*candidate, |query-candidate|, 1] per row."""
    query = np.asarray(query, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    if query.ndim == 1:
        query = np.broadcast_to(query, candidates.shape)
    product = query * candidates
    cosine = product.sum(axis=1, keepdims=True)
    return np.hstack([cosine, product, np.abs(query - candidates), np.ones((len(candidates), 1))])


def tree_rows(
    cosines: npt.NDArray[np.float64], vector_log_odds: npt.NDArray[np.float64], text: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """The trees' input (columns :data:`TREE_FEATURES`) from its three parts."""
    return np.hstack([np.reshape(cosines, (-1, 1)), np.reshape(vector_log_odds, (-1, 1)), text])


def fit_weights(
    features: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    *,
    l2: float = 1.0,
    iterations: int = 25,
    start: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """L2-regularised logistic regression by Newton's method (the last column, the bias, is not regularised).

    ``start``: initial weights (a nearby solution converges in a few steps).
    """
    if len(features) == 0 or len(set(labels.tolist())) < 2:
        raise ValueError("fitting needs both matching and non-matching examples")
    weights = np.zeros(features.shape[1]) if start is None else np.array(start, dtype=np.float64)
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
class PairModel:
    """The learned rule's model: stage 1, optional stage 2 ``trees``, and the ``floor``.

    Stage 1 is the ``adapter`` when there is one (``vector_weights`` is then empty),
    else the logistic ``vector_weights`` (2d + 2).
    """

    vector_weights: npt.NDArray[np.float64]
    trees: BoostedTrees | None = None
    floor: float = 0.0
    adapter: Adapter | None = None

    @property
    def stage(self) -> str:
        return "logistic" if self.adapter is None else "adapter"

    def vector_log_odds(self, query: Vectors, candidates: Vectors) -> npt.NDArray[np.float64]:
        if self.adapter is not None:
            return self.adapter.log_odds(query, candidates)
        return np.asarray(pair_features(query, candidates) @ self.vector_weights, dtype=np.float64)

    def probabilities(
        self,
        query: Vectors,
        candidates: Vectors,
        cosines: npt.NDArray[np.float64],
        query_text: str,
        candidate_texts: Sequence[str],
    ) -> Scores:
        """P(same question) for each candidate at or above the floor; 0 below it."""
        cosines = np.asarray(cosines, dtype=np.float64)
        scores = np.zeros(len(cosines))
        scored = np.flatnonzero(cosines >= self.floor)
        if len(scored) == 0:
            return scores
        candidates = np.asarray(candidates)[scored]
        log_odds = self.vector_log_odds(query, candidates)
        if self.trees is not None:
            if len(candidate_texts) != len(cosines):
                raise ValueError("the learned rule needs the text of every candidate")
            parsed = QuestionText.parse(query_text)
            text = text_features(parsed, [QuestionText.parse(candidate_texts[int(i)]) for i in scored])
            log_odds = self.trees.decision(tree_rows(cosines[scored], log_odds, text))
        scores[scored] = _sigmoid(log_odds)
        return scores

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "vector_weights": [float(value) for value in self.vector_weights],
            "adapter": None if self.adapter is None else self.adapter.to_json(),
            "trees": None if self.trees is None else self.trees.to_json(),
            "tree_features": list(TREE_FEATURES),
            "floor": self.floor,
        }


@dataclass(frozen=True)
class MatchRule:
    """Scores candidates and says which pass. ``model`` None means plain cosine."""

    threshold: float
    model: PairModel | None = None
    embedder: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "cosine" if self.model is None else "learned"

    def scores(
        self,
        query: Vectors,
        candidates: Vectors,
        cosines: npt.NDArray[np.float32],
        *,
        query_text: str,
        candidate_texts: Sequence[str],
    ) -> Scores:
        """One score per candidate, comparable with ``threshold`` (higher is a better match)."""
        if self.model is None:
            return np.asarray(cosines, dtype=np.float64)
        return self.model.probabilities(query, candidates, np.asarray(cosines), query_text, candidate_texts)

    def with_threshold(self, threshold: float) -> MatchRule:
        return MatchRule(threshold, self.model, self.embedder, dict(self.notes))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RULE_FORMAT,
            "kind": self.kind,
            "threshold": self.threshold,
            "embedder": self.embedder,
            "model": None if self.model is None else self.model.to_json(),
            "notes": self.notes,
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path, *, embedder: str, dimensions: int) -> MatchRule:
        """Read a rule file (format 2, or format 1 migrated); ConfigurationError naming the file when it cannot be used.

        Refused: unreadable or malformed files, a newer format, a rule fitted for
        another embedder or dimension, trees fitted on other text features.
        """

        def refuse(message: str) -> ConfigurationError:
            return ConfigurationError(message, key=CALIBRATION_KEY, file=str(path))

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            version = data.get("format", 1)
            if not isinstance(version, int) or version > RULE_FORMAT or version < 1:
                raise refuse(
                    f"the calibration has format {version!r}; this version reads formats 1 to {RULE_FORMAT}: "
                    "upgrade intelbot-semantic-cache or run `intelbot cache calibrate --save` again"
                )
            threshold = float(data["threshold"])
            fitted_for = str(data.get("embedder", ""))
            notes = dict(data.get("notes") or {})
            if version == 1:
                weights = data.get("weights")
                model_data = None if weights is None else {"vector_weights": weights, "trees": None, "floor": 0.0}
                notes["migrated_from_format"] = 1
            else:
                model_data = data.get("model")
            if model_data is None:
                return cls(threshold, None, fitted_for, notes)
            weights = np.asarray(model_data["vector_weights"], dtype=np.float64)
            adapter_data = model_data.get("adapter") if version >= 3 else None
            adapter = None if adapter_data is None else Adapter.from_json(adapter_data)
            trees_data = model_data.get("trees")
            if trees_data is not None and list(model_data.get("tree_features", [])) != list(TREE_FEATURES):
                raise refuse(
                    "the calibration's trees were fitted on other pair features than this version computes; "
                    "run `intelbot cache calibrate --save` again"
                )
            trees = None if trees_data is None else BoostedTrees.from_json(trees_data)
            floor = float(model_data.get("floor", 0.0))
        except ConfigurationError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise refuse(f"cannot read the calibration: {type(error).__name__}") from None
        fitted_dimensions = adapter.dimensions if adapter is not None else (len(weights) - 2) // 2
        shape_fits = adapter.dimensions == dimensions if adapter is not None else weights.shape == (2 * dimensions + 2,)
        if fitted_for != embedder or not shape_fits:
            raise refuse(
                f"the calibration was fitted for embedder {fitted_for!r} ({fitted_dimensions} dimensions), "
                f"but the cache runs {embedder!r} ({dimensions} dimensions); run `intelbot cache calibrate` again"
            )
        if trees is not None and trees.features_used > len(TREE_FEATURES):
            raise refuse("the calibration's trees read more features than this version computes")
        return cls(threshold, PairModel(weights, trees, floor, adapter), fitted_for, notes)
