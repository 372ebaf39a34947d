"""A gradient-boosted tree ensemble as plain arrays: evaluated with NumPy, saved as JSON.

``intelbot cache calibrate`` fits scikit-learn's ``HistGradientBoostingClassifier``
and converts it here (:func:`from_sklearn`); the cache itself only evaluates
(:meth:`BoostedTrees.decision`), so scikit-learn is needed to calibrate, not to serve,
and a rule file is data (JSON), never code (no pickle).

All trees are stored in one set of node arrays; ``roots`` holds where each tree
starts. A node sends a row left when its feature is <= the node's threshold (or is
NaN and the node says missing values go left). The decision is ``baseline`` plus
the leaf values reached in every tree: a log-odds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BoostedTrees:
    """Node arrays of every tree (children are absolute node indices) and where each tree starts."""

    baseline: float
    roots: IntArray
    feature: IntArray
    threshold: FloatArray
    missing_left: npt.NDArray[np.bool_]
    left: IntArray
    right: IntArray
    leaf: npt.NDArray[np.bool_]
    value: FloatArray
    depth: int

    @property
    def features_used(self) -> int:
        """One more than the largest feature index any split reads (0 for stumps only)."""
        splits = self.feature[~self.leaf]
        return int(splits.max()) + 1 if len(splits) else 0

    def decision(self, rows: FloatArray) -> FloatArray:
        """The log-odds for each row of ``rows`` (shape (n, features))."""
        rows = np.asarray(rows, dtype=np.float64)
        count = len(rows)
        if count == 0:
            return np.zeros(0)
        nodes = np.broadcast_to(self.roots, (count, len(self.roots))).copy()
        row_index = np.arange(count)[:, None]
        for _ in range(self.depth):
            inner = ~self.leaf[nodes]
            if not inner.any():
                break
            values = rows[row_index, self.feature[nodes]]
            go_left = np.where(np.isnan(values), self.missing_left[nodes], values <= self.threshold[nodes])
            step = np.where(go_left, self.left[nodes], self.right[nodes])
            nodes = np.where(inner, step, nodes)
        return np.asarray(self.baseline + self.value[nodes].sum(axis=1), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "roots": self.roots.tolist(),
            "feature": self.feature.tolist(),
            "threshold": [float(value) for value in self.threshold],
            "missing_left": self.missing_left.astype(int).tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "leaf": self.leaf.astype(int).tolist(),
            "value": [float(value) for value in self.value],
            "depth": self.depth,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BoostedTrees:
        """Rebuild from :meth:`to_json`; ValueError when the arrays are inconsistent."""
        feature = np.asarray(data["feature"], dtype=np.int64)
        count = len(feature)
        trees = cls(
            baseline=float(data["baseline"]),
            roots=np.asarray(data["roots"], dtype=np.int64),
            feature=feature,
            threshold=np.asarray(data["threshold"], dtype=np.float64),
            missing_left=np.asarray(data["missing_left"], dtype=bool),
            left=np.asarray(data["left"], dtype=np.int64),
            right=np.asarray(data["right"], dtype=np.int64),
            leaf=np.asarray(data["leaf"], dtype=bool),
            value=np.asarray(data["value"], dtype=np.float64),
            depth=int(data["depth"]),
        )
        arrays = (trees.threshold, trees.missing_left, trees.left, trees.right, trees.leaf, trees.value)
        if any(len(array) != count for array in arrays):
            raise ValueError("the tree arrays have different lengths")
        inner = ~trees.leaf
        children = np.concatenate([trees.left[inner], trees.right[inner], trees.roots])
        if len(children) and (children.min() < 0 or children.max() >= count):
            raise ValueError("a tree node points outside the node arrays")
        if trees.depth < 0:
            raise ValueError("negative tree depth")
        return trees


def from_sklearn(model: Any) -> BoostedTrees:
    """Convert a fitted binary ``HistGradientBoostingClassifier`` (numeric features only).

    Reads the fitted predictors' node arrays (``_predictors``, ``_baseline_prediction``);
    tested against ``model.decision_function`` so a change there fails loudly.
    """
    predictors = [trees[0] for trees in model._predictors]
    offsets = np.cumsum([0] + [len(predictor.nodes) for predictor in predictors])
    nodes = np.concatenate([predictor.nodes for predictor in predictors])
    shift = np.repeat(offsets[:-1], [len(predictor.nodes) for predictor in predictors])
    if "is_categorical" in (nodes.dtype.names or ()) and nodes["is_categorical"].any():
        raise ValueError("categorical splits are not supported")
    return BoostedTrees(
        baseline=float(np.asarray(model._baseline_prediction).reshape(-1)[0]),
        roots=offsets[:-1].astype(np.int64),
        feature=nodes["feature_idx"].astype(np.int64),
        threshold=nodes["num_threshold"].astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(bool),
        left=(nodes["left"].astype(np.int64) + shift),
        right=(nodes["right"].astype(np.int64) + shift),
        leaf=nodes["is_leaf"].astype(bool),
        value=nodes["value"].astype(np.float64),
        depth=int(nodes["depth"].max()) if len(nodes) else 0,
    )
