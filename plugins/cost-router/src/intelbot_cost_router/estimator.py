"""The learned estimate of the strong tier's benefit, and the documented default without one.

:class:`LinearRouter` is a logistic model over the standardised feature vector
``[text features | prompt embedding]``, with one of two targets:

- ``benefit``: one multinomial regression predicting whether the strong tier's answer
  is better than the weak tier's, equal, or worse; the estimate is
  ``P(strong better) - P(weak better)``;
- ``correct``: two binary regressions, one per tier, predicting that tier's quality
  (0/1 correctness, or a score scaled to [0, 1] used as a soft label); the estimate is
  ``P(strong right) - P(weak right)``. Both targets estimate the expected benefit of
  the strong tier, in [-1, 1]; ``correct`` also learns from the "both right" and
  "both wrong" prompts, which the ``benefit`` target lumps together as ties.

:class:`NeighbourRouter` needs no fitting: its estimate for a prompt is the mean
benefit (strong quality minus weak quality, each source scaled to [0, 1]) of the ``k``
training prompts nearest to it by cosine similarity of the embedding.

Inference is plain numpy (a matrix-vector product and a softmax or two sigmoids, or one
matrix-vector product and a partial sort), so the router file holds numbers only, never
pickled code, and the bot does not import scikit-learn to route. :func:`model_from_dict`
reads either kind back.

:func:`default_estimate` is the rule used when no router has been trained: a
documented difficulty score from text features alone (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot_cost_router.features import FEATURE_NAMES, PromptFacts

FloatArray = npt.NDArray[np.float64]
TIE_TOLERANCE = 1e-9
"""Outcomes closer than this are a tie (neither tier's answer is better)."""
TARGETS = ("benefit", "correct")
"""What a :class:`LinearRouter` predicts (see the module docstring)."""
CORRECT_CLASSES = (1, -1)
"""The ``classes`` of a ``correct`` model: row 0 is the strong tier (+), row 1 the weak tier (-)."""


def benefit_labels(strong: FloatArray, weak: FloatArray) -> npt.NDArray[np.int64]:
    """-1 where the weak tier did better, 0 for a tie, +1 where the strong tier did better."""
    difference = strong - weak
    return np.where(difference > TIE_TOLERANCE, 1, np.where(difference < -TIE_TOLERANCE, -1, 0)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class LinearRouter:
    """A fitted router: standardisation, then one linear function per row of ``coef``, then the link.

    With ``target`` ``benefit`` the link is a softmax and ``classes`` are the label values
    (-1, 0, +1) the rows of ``coef`` belong to; with ``correct`` each row goes through a
    sigmoid (row 0: P(strong right), row 1: P(weak right)) and ``classes`` is
    :data:`CORRECT_CLASSES`. Either way the estimate is ``link(logits) @ classes``.
    ``embedder``/``dimensions`` name the embedding the model was trained on ("" and 0
    for a text-features-only model). With a ``projection`` (``k x dimensions``, and its
    ``projection_mean``) the embedding is reduced to ``k`` principal components before
    the linear part. ``estimate`` takes the text features and, for a model with an
    embedding, the prompt's embedding.
    """

    feature_names: tuple[str, ...]
    embedder: str
    dimensions: int
    mean: FloatArray
    scale: FloatArray
    classes: tuple[int, ...]
    coef: FloatArray
    intercept: FloatArray
    projection: FloatArray | None = None
    projection_mean: FloatArray | None = None
    target: str = "benefit"

    @property
    def uses_embedding(self) -> bool:
        return self.dimensions > 0

    @property
    def description(self) -> str:
        """What the model sees, for reports: ``text``, ``text+embedding`` or ``text+embedding/pcaK``."""
        if not self.uses_embedding:
            return "text"
        if self.projection is None:
            return "text+embedding"
        return f"text+embedding/pca{self.projection.shape[0]}"

    def full_rows(self, text: FloatArray, embeddings: FloatArray | None) -> FloatArray:
        """The model's input rows from text-feature rows and (for an embedding model) embedding rows."""
        if not self.uses_embedding:
            return text
        if embeddings is None or embeddings.shape[-1] != self.dimensions:
            raise ValueError(f"this router needs {self.dimensions}-dimensional embeddings from {self.embedder}")
        reduced = embeddings
        if self.projection is not None and self.projection_mean is not None:
            reduced = (embeddings - self.projection_mean) @ self.projection.T
        return np.hstack([text, reduced])

    def estimate_matrix(self, features: FloatArray) -> FloatArray:
        """Estimates for rows of full feature vectors (text features, then the embedding)."""
        z = (features - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        if self.target == "correct":
            weights = 1.0 / (1.0 + np.exp(-np.clip(logits, -500.0, 500.0)))
        else:
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.exp(logits)
            weights /= weights.sum(axis=1, keepdims=True)
        result: FloatArray = weights @ np.asarray(self.classes, dtype=np.float64)
        return result

    def estimate(self, text: FloatArray, embedding: npt.NDArray[np.floating[Any]] | None) -> float:
        """The estimate for one prompt; ValueError when the model needs an embedding and none is given."""
        rows = None if embedding is None else np.asarray(embedding, dtype=np.float64).reshape(1, -1)
        return float(self.estimate_matrix(self.full_rows(text.reshape(1, -1), rows))[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "linear",
            "target": self.target,
            "feature_names": list(self.feature_names),
            "embedder": self.embedder,
            "dimensions": self.dimensions,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "classes": list(self.classes),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "projection": None if self.projection is None else self.projection.tolist(),
            "projection_mean": None if self.projection_mean is None else self.projection_mean.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearRouter:
        """The router saved by :meth:`to_dict`; ValueError naming what is wrong.

        A model saved before ``target`` existed has no such key and is a ``benefit`` model.
        """
        if data.get("kind") != "linear":
            raise ValueError(f"unknown model kind {data.get('kind')!r}")
        target = str(data.get("target", "benefit"))
        if target not in TARGETS:
            raise ValueError(f"unknown model target {target!r} (this version knows {', '.join(TARGETS)})")
        names = tuple(str(name) for name in data["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError("the router was trained on other text features (retrain it with this version)")
        dimensions = int(data["dimensions"])
        projection = None if data.get("projection") is None else np.asarray(data["projection"], dtype=np.float64)
        projection_mean = (
            None if data.get("projection_mean") is None else np.asarray(data["projection_mean"], dtype=np.float64)
        )
        if projection is not None and (
            projection.ndim != 2
            or projection.shape[1] != dimensions
            or projection_mean is None
            or projection_mean.shape != (dimensions,)
        ):
            raise ValueError("the model's embedding projection does not match its dimensions")
        width = len(names) + (projection.shape[0] if projection is not None else dimensions)
        mean = np.asarray(data["mean"], dtype=np.float64)
        scale = np.asarray(data["scale"], dtype=np.float64)
        coef = np.asarray(data["coef"], dtype=np.float64)
        intercept = np.asarray(data["intercept"], dtype=np.float64)
        classes = tuple(int(value) for value in data["classes"])
        if mean.shape != (width,) or scale.shape != (width,) or coef.shape != (len(classes), width):
            raise ValueError("the model's arrays do not match its feature count")
        if intercept.shape != (len(classes),) or not np.all(scale > 0):
            raise ValueError("the model's intercepts or scales are malformed")
        if not all(np.isfinite(array).all() for array in (mean, scale, coef, intercept)):
            raise ValueError("the model holds non-finite numbers")
        if target == "correct" and classes != CORRECT_CLASSES:
            raise ValueError(f"a correct-target model has classes {CORRECT_CLASSES}, not {classes}")
        return cls(
            names,
            str(data["embedder"]),
            dimensions,
            mean,
            scale,
            classes,
            coef,
            intercept,
            projection,
            projection_mean,
            target,
        )


@dataclass(frozen=True, slots=True)
class NeighbourRouter:
    """The mean benefit of the ``k`` training prompts nearest by cosine of the embedding (text features unused).

    ``vectors`` are the training prompts' embeddings scaled to unit length (``n x
    dimensions``), ``gains`` their benefits ``strong - weak`` on a [0, 1] quality scale,
    so the estimate is in [-1, 1] like :class:`LinearRouter`'s.
    """

    embedder: str
    dimensions: int
    k: int
    vectors: FloatArray
    gains: FloatArray

    @property
    def uses_embedding(self) -> bool:
        return True

    @property
    def description(self) -> str:
        return f"embedding kNN k={self.k}"

    def full_rows(self, text: FloatArray, embeddings: FloatArray | None) -> FloatArray:
        """The model's input rows: the embeddings (ValueError when missing or of another width)."""
        if embeddings is None or embeddings.shape[-1] != self.dimensions:
            raise ValueError(f"this router needs {self.dimensions}-dimensional embeddings from {self.embedder}")
        return embeddings

    def estimate_matrix(self, features: FloatArray) -> FloatArray:
        """Estimates for rows of embeddings: the mean gain of each row's ``k`` nearest training prompts."""
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        similarity = (features / np.where(norms > 0, norms, 1.0)) @ self.vectors.T
        k = min(self.k, self.vectors.shape[0])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        result: FloatArray = self.gains[nearest].mean(axis=1)
        return result

    def estimate(self, text: FloatArray, embedding: npt.NDArray[np.floating[Any]] | None) -> float:
        """The estimate for one prompt; ValueError without an embedding.

        One matrix-vector product over the contiguous ``vectors`` (not a 1-row matrix product,
        which a multi-threaded BLAS makes many times slower on a busy machine), then a partial sort.
        """
        rows = None if embedding is None else np.asarray(embedding, dtype=np.float64).reshape(1, -1)
        query = self.full_rows(text.reshape(1, -1), rows)[0]
        similarity = self.vectors @ query  # the query's norm does not change the order
        k = min(self.k, similarity.size)
        return float(self.gains[np.argpartition(-similarity, k - 1)[:k]].mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "neighbours",
            "embedder": self.embedder,
            "dimensions": self.dimensions,
            "k": self.k,
            "vectors": np.round(self.vectors, 6).tolist(),
            "gains": self.gains.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeighbourRouter:
        """The router saved by :meth:`to_dict`; ValueError naming what is wrong."""
        if data.get("kind") != "neighbours":
            raise ValueError(f"unknown model kind {data.get('kind')!r}")
        dimensions, k = int(data["dimensions"]), int(data["k"])
        vectors = np.asarray(data["vectors"], dtype=np.float64)
        gains = np.asarray(data["gains"], dtype=np.float64)
        if dimensions <= 0 or k <= 0 or vectors.ndim != 2 or vectors.shape[1] != dimensions:
            raise ValueError("the neighbours' vectors do not match their dimensions")
        if gains.shape != (vectors.shape[0],) or vectors.shape[0] == 0:
            raise ValueError("one gain per neighbour vector is needed")
        if not (np.isfinite(vectors).all() and np.isfinite(gains).all()):
            raise ValueError("the model holds non-finite numbers")
        return cls(str(data["embedder"]), dimensions, k, vectors, gains)


Estimator = LinearRouter | NeighbourRouter
"""Either learned model: both offer ``uses_embedding``, ``embedder``, ``dimensions``, ``description``,
``full_rows``, ``estimate_matrix``, ``estimate`` and ``to_dict``."""


def model_from_dict(data: dict[str, Any]) -> Estimator:
    """The model saved by ``to_dict`` of either kind; ValueError naming what is wrong."""
    if data.get("kind") == "neighbours":
        return NeighbourRouter.from_dict(data)
    return LinearRouter.from_dict(data)


def fit_neighbours(
    embeddings: FloatArray, strong: FloatArray, weak: FloatArray, *, embedder: str, k: int
) -> NeighbourRouter:
    """A :class:`NeighbourRouter` over these rows; ``strong`` and ``weak`` on a [0, 1] scale."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    vectors = np.asarray(embeddings, dtype=np.float64) / np.where(norms > 0, norms, 1.0)
    gains = np.asarray(strong, dtype=np.float64) - np.asarray(weak, dtype=np.float64)
    return NeighbourRouter(embedder, int(embeddings.shape[1]), k, vectors, gains)


def fit_linear(
    text: FloatArray,
    embeddings: FloatArray | None,
    strong: FloatArray,
    weak: FloatArray,
    *,
    embedder: str,
    c: float,
    components: int | None = None,
    sample_weight: FloatArray | None = None,
    target: str = "benefit",
) -> LinearRouter:
    """Fit a :class:`LinearRouter` (L2-regularised, strength ``1/c``) on text-feature rows and embeddings.

    ``embeddings`` None fits a text-features-only model; ``components`` reduces the
    embedding to that many principal components (fitted on these rows) first.
    ``target`` ``correct`` needs ``strong`` and ``weak`` on a [0, 1] scale (values
    outside are clipped): each tier's quality is its soft label (a row counts as
    right with weight ``q`` and wrong with weight ``1 - q``).
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}")
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    labels = benefit_labels(strong, weak)
    dimensions = 0 if embeddings is None else int(embeddings.shape[1])
    projection: FloatArray | None = None
    projection_mean: FloatArray | None = None
    if embeddings is not None and components is not None:
        projection_mean = embeddings.mean(axis=0)
        centred = embeddings - projection_mean
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projection = np.ascontiguousarray(vt[: min(components, vt.shape[0])])
    shell = LinearRouter(
        FEATURE_NAMES,
        embedder if embeddings is not None else "",
        dimensions,
        np.zeros(0),
        np.ones(0),
        (0,),
        np.zeros((1, 0)),
        np.zeros(1),
        projection,
        projection_mean,
    )
    features = shell.full_rows(text, embeddings)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (features - mean) / scale

    def fitted(classes: tuple[int, ...], coef: FloatArray, intercept: FloatArray, kind: str) -> LinearRouter:
        return LinearRouter(
            FEATURE_NAMES, shell.embedder, dimensions, mean, scale, classes, coef, intercept, projection,
            projection_mean, kind,
        )  # fmt: skip

    if target == "correct":
        rows = [_fit_correctness(z, quality, c, sample_weight) for quality in (strong, weak)]
        coefficients = np.vstack([row[0] for row in rows])
        return fitted(CORRECT_CLASSES, coefficients, np.asarray([row[1] for row in rows], dtype=np.float64), "correct")
    present = sorted(set(labels.tolist()))
    if len(present) == 1:  # one outcome only: a constant estimate equal to that outcome
        return fitted((present[0],), np.zeros((1, features.shape[1])), np.zeros(1), "benefit")
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(z, labels, sample_weight=sample_weight)
    classes = tuple(int(value) for value in model.classes_)
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:  # binary: P(classes[1]) = sigmoid(w.z + b) = softmax([0, w.z + b])[1]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return fitted(classes, coef, intercept, "benefit")


def _fit_correctness(
    z: FloatArray, quality: FloatArray, c: float, sample_weight: FloatArray | None
) -> tuple[FloatArray, float]:
    """(coefficients, intercept) of a binary logistic regression of ``quality`` in [0, 1] as a soft label."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    q = np.clip(np.asarray(quality, dtype=np.float64), 0.0, 1.0)
    base = np.ones_like(q) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    right, wrong = float((base * q).sum()), float((base * (1.0 - q)).sum())
    if right <= 0.0 or wrong <= 0.0:  # one outcome only: a constant probability near it
        share = min(max(right / max(right + wrong, 1e-12), 1e-6), 1.0 - 1e-6)
        return np.zeros(z.shape[1]), math.log(share / (1.0 - share))
    model = LogisticRegression(C=c, max_iter=2000)
    labels = np.concatenate([np.ones(q.size, dtype=np.int64), np.zeros(q.size, dtype=np.int64)])
    model.fit(np.vstack([z, z]), labels, sample_weight=np.concatenate([base * q, base * (1.0 - q)]))
    coef = np.asarray(model.coef_[0], dtype=np.float64)
    intercept = float(model.intercept_[0])
    if int(model.classes_[1]) != 1:  # sklearn orders classes ascending, so classes_[1] is 1
        coef, intercept = -coef, -intercept
    return coef, intercept


def default_estimate(facts: PromptFacts) -> float:
    """The router's estimate with no trained model: a difficulty score from text features alone, in [0, 1).

    The weak tier is most often worse on long, multi-step problems: many numbers to
    combine, several sentences of conditions, explicit reasoning or code. The score
    adds, each capped so no single signal dominates:

    - length: ``log1p(words) / 6`` (about 0.4 at 10 words, 1 at 400), up to 1;
    - quantities: ``numbers / 6``, up to 1 (a word problem with six figures scores 1);
    - steps: ``sentences / 8``, up to 1;
    - reasoning words (why, explain, step, if, each ...): ``count / 5``, up to 1;
    - code: 1 for a code fence or code-looking lines, else 0;
    - conversation depth: ``depth / 4``, up to 1;

    minus 0.5 for a multiple-choice question (options A-D, answered in one letter),
    then squashes the sum ``x`` to ``x / (1 + x)`` (0 for an empty prompt). It is
    a ranking, not a probability: its threshold comes from ``default_threshold``
    until ``intelbot router train`` calibrates a learned model to ``quality_target``.
    """
    code = 1.0 if facts.code_fence or facts.code_tokens / max(facts.lines, 1) >= 2.0 else 0.0
    score = (
        min(math.log1p(facts.words) / 6.0, 1.0)
        + min(facts.numbers / 6.0, 1.0)
        + min(facts.sentences / 8.0, 1.0)
        + min(facts.reasoning_words / 5.0, 1.0)
        + code
        + min(facts.depth / 4.0, 1.0)
        - (0.5 if facts.choices >= 2 else 0.0)
    )
    score = max(score, 0.0)
    return score / (1.0 + score)
