"""The plugin's settings: ``[default.plugins.semantic_cache]`` (validated, with defaults).

========================  ===========  ==========================================================
key                       default      meaning
========================  ===========  ==========================================================
similarity_threshold      0.97         cosine a stored question needs to answer a new one
calibration_file          ""           rule written by ``intelbot cache calibrate --save``; ""
                                       means ``<data_dir>/semantic_cache/calibration.json`` if it
                                       exists; it replaces similarity_threshold
index                     "hybrid"     ``exact``, ``approximate`` or ``hybrid``
hybrid_switch_at          20000        entries per scope above which hybrid adds the HNSW graph
hnsw_expansion_search     128          HNSW search breadth (ef): higher finds more, slower
candidates                8            nearest entries (by cosine) the rule looks at
ttl_seconds               1800         base lifetime of an entry
max_ttl_seconds           86400        lifetime cap for entries that keep being hit
ttl_growth                2.0          each hit multiplies the lifetime by this (adaptive TTL)
max_entries               100000       eviction above this many entries
max_memory_mb             256          eviction above this many MB (index + texts)
share_across_guilds       false        true lets guilds share answers (off: isolation)
embedding                 {}           overrides of ``[default.embedding]`` for this plugin
index_file                ""           "" means ``<data_dir>/semantic_cache/index.npz``
change_poll_seconds       1.0          how often the change feed of replicas sharing the database
                                       is read (entries stored, cleared or expired elsewhere); 0
                                       turns it off (a single replica)
learn_from_feedback       true         record which entry served which request and learn per-entry
                                       thresholds from 👍 / 👎 and re-asks (:mod:`.outcomes`);
                                       false: cache hits carry no buttons and nothing is learnt
reask_window_seconds      120          a question close to a hit, by the same user in the same
                                       channel within this many seconds, counts as half a 👎;
                                       0 counts no re-asks
near_exact_similarity     0.99         cosine at or above which a 👎 on a semantic hit drops the
                                       entry (its answer is bad, not the match)
========================  ===========  ==========================================================
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from intelbot.plugin import PluginSettings, lower_keys

PREFIX = "plugins.semantic_cache"
IndexKind = Literal["exact", "approximate", "hybrid"]


class CacheSettings(PluginSettings):
    """``[default.plugins.semantic_cache]``, validated (the table above gives each key's meaning)."""

    similarity_threshold: float = Field(0.97, ge=0.0, le=1.0, strict=False)
    calibration_file: str = ""
    index: IndexKind = "hybrid"
    hybrid_switch_at: int = Field(20_000, ge=1)
    hnsw_expansion_search: int = Field(128, ge=1, le=100_000)
    candidates: int = Field(8, ge=1, le=1000)
    ttl_seconds: float = Field(1800.0, ge=0.0)
    max_ttl_seconds: float = Field(86_400.0, ge=0.0)
    ttl_growth: float = Field(2.0, ge=1.0)
    max_entries: int = Field(100_000, ge=1)
    max_memory_mb: float = Field(256.0, ge=0.001)
    share_across_guilds: bool = False
    embedding: dict[str, Any] = Field(default_factory=dict)
    index_file: str = ""
    change_poll_seconds: float = Field(1.0, ge=0.0, le=3600.0)
    learn_from_feedback: bool = True
    reask_window_seconds: float = Field(120.0, ge=0.0, le=86_400.0)
    near_exact_similarity: float = Field(0.99, ge=0.0, le=1.0, strict=False)

    @field_validator("index", mode="before")
    @classmethod
    def _lower_index(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("embedding", mode="before")
    @classmethod
    def _embedding_table(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="before")
    @classmethod
    def _lifetime_cap_default(cls, data: Any) -> Any:
        """An unset ``max_ttl_seconds`` is at least ``ttl_seconds`` (a long base lifetime raises the cap)."""
        if isinstance(data, dict):
            data = lower_keys(data)
            ttl = data.get("ttl_seconds")
            if "max_ttl_seconds" not in data and isinstance(ttl, int | float) and not isinstance(ttl, bool):
                data = {**data, "max_ttl_seconds": max(86_400.0, float(ttl))}
        return data

    @field_validator("max_ttl_seconds")
    @classmethod
    def _cap_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("ttl_seconds", 0.0):
            raise ValueError("max_ttl_seconds must be >= ttl_seconds")
        return value
