"""The plugin's settings: ``[default.plugins.cost_router]`` (validated, with defaults).

=====================  ==========  =============================================================
key                    default     meaning
=====================  ==========  =============================================================
enabled                true        the feature flag (settings.toml ships it switched off)
quality_target         0.95        share of the strong tier's quality to keep; ``train``
                                   calibrates the threshold that meets it on the outcome data
content_thresholds     {}          per content type (code, math, creative, chat) its own quality
                                   target, e.g. ``{ code = 0.99 }``; calibrated like the global one
weak_tier              "small"     the catalog tier of the cheap models
strong_tier            "large"     the catalog tier of the strong models
router_file            ""          "" means ``<data_dir>/cost_router/router.json`` (written by
                                   ``intelbot router train --save``)
default_threshold      0.75        with no router file: the text-only default rule's score at or
                                   above which a turn goes to the strong tier (not calibrated)
use_embedding          true        false: never embed; a router file that needs an embedding is
                                   then not used
embedding              {}          overrides of ``[default.embedding]`` for this plugin
store_prompts          true        keep each routed prompt with its decision (needed by
                                   ``train --from-feedback``); false stores decisions only
budget_lowering        false       lower the quality target as the guild's spend approaches
                                   ``[default.discord] daily_guild_cap_usd`` (see ``budget.py``)
budget_start           0.5         share of the daily cap spent at which lowering starts
budget_floor           0.80        the quality target once the cap is reached (<= quality_target)
reask_window_seconds   120         the same asker asking a close question (``intelbot.reask``) this
                                   soon after a routed answer marks that answer ``reasked``; 0: off
=====================  ==========  =============================================================
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from intelbot.plugin import PluginSettings, lower_keys
from intelbot_cost_router.features import ContentType

PREFIX = "plugins.cost_router"


class RouterSettings(PluginSettings):
    """``[default.plugins.cost_router]``, validated (the table above gives each key's meaning)."""

    quality_target: float = Field(0.95, gt=0.0, le=1.0, strict=False)
    content_thresholds: dict[str, float] = Field(default_factory=dict, strict=False)
    weak_tier: str = Field("small", min_length=1)
    strong_tier: str = Field("large", min_length=1)
    router_file: str = ""
    default_threshold: float = Field(0.75, ge=0.0, le=1.0, strict=False)
    use_embedding: bool = True
    embedding: dict[str, Any] = Field(default_factory=dict)
    store_prompts: bool = True
    budget_lowering: bool = False
    budget_start: float = Field(0.5, ge=0.0, lt=1.0, strict=False)
    budget_floor: float = Field(0.80, gt=0.0, le=1.0, strict=False)
    reask_window_seconds: float = Field(120.0, ge=0.0, le=86_400.0, strict=False)

    @model_validator(mode="after")
    def _floor_below_target(self) -> RouterSettings:
        if self.budget_floor > self.quality_target:
            raise ValueError(
                f"budget_floor ({self.budget_floor}) must not be above quality_target ({self.quality_target})"
            )
        return self

    @field_validator("content_thresholds", mode="before")
    @classmethod
    def _content_types(cls, value: Any) -> Any:
        value = lower_keys(value)
        if not isinstance(value, dict):
            return value
        known = {kind.value for kind in ContentType}
        for kind, target in value.items():
            if kind not in known:
                raise ValueError(f"unknown content type {kind!r}; choose among {', '.join(sorted(known))}")
            if isinstance(target, bool) or not isinstance(target, int | float) or not 0.0 < float(target) <= 1.0:
                raise ValueError(f"the quality target for {kind} must be a number in (0, 1], got {target!r}")
        return {kind: float(target) for kind, target in value.items()}

    @field_validator("embedding", mode="before")
    @classmethod
    def _lower_embedding(cls, value: Any) -> Any:
        return lower_keys(value)
