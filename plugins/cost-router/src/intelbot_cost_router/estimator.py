"""The learned estimate of the strong tier's benefit, and the documented default without one.

:class:`LinearRouter` is a multinomial logistic regression over the standardised
feature vector ``[text features | prompt embedding]`` that predicts, for a prompt,
whether the strong tier's answer is better than the weak tier's, equal, or worse.
Its estimate is ``P(strong better) - P(weak better)``, in [-1, 1]: the expected sign
of the strong tier's benefit. Inference is plain numpy (a matrix-vector product and
a softmax), so the router file holds numbers only, never pickled code, and the bot
does not import scikit-learn to route.

:func:`default_estimate` is the rule used when no router has been trained: a
documented difficulty score from text features alone (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot_cost_router.features import FEATURE_NAMES, PromptFacts

FloatArray = npt.NDArray[np.float64]
TIE_TOLERANCE = 1e-9
"""Outcomes closer than this are a tie (neither tier's answer is better)."""


def benefit_labels(strong: FloatArray, weak: FloatArray) -> npt.NDArray[np.int64]:
    """-1 where the weak tier did better, 0 for a tie, +1 where the strong tier did better."""
    difference = strong - weak
    return np.where(difference > TIE_TOLERANCE, 1, np.where(difference < -TIE_TOLERANCE, -1, 0)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class LinearRouter:
    """A fitted router: standardisation, then one linear function per outcome class, then a softmax.

    ``classes`` are the label values (-1, 0, +1) the rows of ``coef`` belong to;
    ``embedder``/``dimensions`` name the embedding the model was trained on ("" and 0
    for a text-features-only model). ``estimate`` takes the text features and, for a
    model with an embedding, the prompt's embedding.
    """

    feature_names: tuple[str, ...]
    embedder: str
    dimensions: int
    mean: FloatArray
    scale: FloatArray
    classes: tuple[int, ...]
    coef: FloatArray
    intercept: FloatArray

    @property
    def uses_embedding(self) -> bool:
        return self.dimensions > 0

    def estimate_matrix(self, features: FloatArray) -> FloatArray:
        """Estimates for rows of full feature vectors (text features, then the embedding)."""
        z = (features - self.mean) / self.scale
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        result: FloatArray = weights @ np.asarray(self.classes, dtype=np.float64)
        return result

    def estimate(self, text: FloatArray, embedding: npt.NDArray[np.floating[Any]] | None) -> float:
        """The estimate for one prompt; ValueError when the model needs an embedding and none is given."""
        if self.uses_embedding:
            if embedding is None or embedding.shape[-1] != self.dimensions:
                raise ValueError(f"this router needs a {self.dimensions}-dimensional embedding from {self.embedder}")
            vector = np.concatenate([text, np.asarray(embedding, dtype=np.float64).ravel()])
        else:
            vector = text
        return float(self.estimate_matrix(vector.reshape(1, -1))[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "linear",
            "feature_names": list(self.feature_names),
            "embedder": self.embedder,
            "dimensions": self.dimensions,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "classes": list(self.classes),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearRouter:
        """The router saved by :meth:`to_dict`; ValueError naming what is wrong."""
        if data.get("kind") != "linear":
            raise ValueError(f"unknown model kind {data.get('kind')!r}")
        names = tuple(str(name) for name in data["feature_names"])
        if names != FEATURE_NAMES:
            raise ValueError("the router was trained on other text features (retrain it with this version)")
        dimensions = int(data["dimensions"])
        width = len(names) + dimensions
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
        return cls(names, str(data["embedder"]), dimensions, mean, scale, classes, coef, intercept)


def fit_linear(
    features: FloatArray,
    strong: FloatArray,
    weak: FloatArray,
    *,
    embedder: str,
    dimensions: int,
    c: float,
    sample_weight: FloatArray | None = None,
) -> LinearRouter:
    """Fit a :class:`LinearRouter` on full feature rows (L2-regularised, strength ``1/c``)."""
    from sklearn.linear_model import LogisticRegression

    labels = benefit_labels(strong, weak)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = (features - mean) / scale
    present = sorted(set(labels.tolist()))
    if len(present) == 1:  # one outcome only: a constant estimate equal to that outcome
        width = features.shape[1]
        return LinearRouter(
            FEATURE_NAMES, embedder, dimensions, mean, scale, (present[0],), np.zeros((1, width)), np.zeros(1)
        )
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(z, labels, sample_weight=sample_weight)
    classes = tuple(int(value) for value in model.classes_)
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if len(classes) == 2:  # binary: P(classes[1]) = sigmoid(w.z + b) = softmax([0, w.z + b])[1]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return LinearRouter(FEATURE_NAMES, embedder, dimensions, mean, scale, classes, coef, intercept)


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


def feature_matrix(text_rows: Sequence[FloatArray], embeddings: FloatArray | None) -> FloatArray:
    """Full feature rows: each row's text features, then its embedding when ``embeddings`` is given."""
    text = np.vstack(text_rows).astype(np.float64) if text_rows else np.zeros((0, len(FEATURE_NAMES)))
    if embeddings is None:
        return text
    return np.hstack([text, np.asarray(embeddings, dtype=np.float64)])
