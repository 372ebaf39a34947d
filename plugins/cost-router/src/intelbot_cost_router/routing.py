"""The per-turn decision: estimate, threshold for the prompt's content type, tier, model.

:class:`RoutingRule` turns a prompt (text features, conversation depth and, for a
learned router, its embedding) into a :class:`Choice`. The learned rule uses the
router file's model and calibrated thresholds; the default rule uses
:func:`~intelbot_cost_router.estimator.default_estimate` and ``default_threshold``.
:func:`model_for_tier` picks the catalog's cheapest model of a tier whose provider
is configured.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.catalog import ModelCatalog, ModelSpec
from intelbot_cost_router.estimator import default_estimate
from intelbot_cost_router.features import ContentType, content_type_of, features_of, prompt_facts
from intelbot_cost_router.training import TrainedRouter


@dataclass(frozen=True, slots=True)
class Choice:
    """What the router decided for one prompt."""

    strong: bool
    estimate: float
    threshold: float
    content_type: ContentType
    rule: str
    """``learned`` (a router file) or ``default`` (the text-only rule)."""


class RoutingRule:
    """Decides strong or weak for a prompt: the learned router when given, else the default rule.

    ``router`` None means the default rule with ``default_threshold``. A learned router
    that needs an embedding gets it from the caller (``needs_embedding``).
    """

    def __init__(self, router: TrainedRouter | None, *, default_threshold: float) -> None:
        self.router = router
        self.default_threshold = default_threshold

    @property
    def needs_embedding(self) -> bool:
        return self.router is not None and self.router.model.uses_embedding

    @property
    def kind(self) -> str:
        return "default" if self.router is None else "learned"

    def decide(
        self,
        prompt: str,
        depth: int,
        embedding: npt.NDArray[np.floating[Any]] | None,
        *,
        threshold: float | None = None,
    ) -> Choice:
        """The choice for ``prompt`` (``embedding`` is required when :attr:`needs_embedding`).

        ``threshold`` (a lowered target's, for the learned rule) replaces the global threshold
        for content types without a target of their own.
        """
        facts = prompt_facts(prompt, depth)
        kind = content_type_of(facts)
        if self.router is None:
            estimate = default_estimate(facts)
            return Choice(estimate >= self.default_threshold, estimate, self.default_threshold, kind, "default")
        text = np.asarray(features_of(facts), dtype=np.float64)
        estimate = self.router.model.estimate(text, embedding)
        if threshold is None or str(kind) in self.router.content_thresholds:
            threshold = self.router.threshold_for(kind)
        return Choice(estimate >= threshold, estimate, threshold, kind, "learned")


def model_for_tier(catalog: ModelCatalog, providers: Collection[str], tier: str) -> ModelSpec | None:
    """The cheapest catalog model of ``tier`` whose provider is configured, or None."""
    for spec in catalog.in_tier(tier):
        if spec.provider in providers:
            return spec
    return None
