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
========================  ===========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intelbot.errors import ConfigurationError
from intelbot_semantic_cache.index import INDEX_KINDS

PREFIX = "plugins.semantic_cache"


@dataclass(frozen=True)
class CacheSettings:
    """Validated settings; build with :meth:`from_mapping`."""

    similarity_threshold: float = 0.97
    calibration_file: str = ""
    index: str = "hybrid"
    hybrid_switch_at: int = 20_000
    hnsw_expansion_search: int = 128
    candidates: int = 8
    ttl_seconds: float = 1800.0
    max_ttl_seconds: float = 86_400.0
    ttl_growth: float = 2.0
    max_entries: int = 100_000
    max_memory_mb: float = 256.0
    share_across_guilds: bool = False
    embedding: dict[str, Any] = field(default_factory=dict)
    index_file: str = ""

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> CacheSettings:
        """Validate ``raw`` (keys compared without case); ConfigurationError names the bad key."""
        values = {str(key).lower(): value for key, value in raw.items()}
        values.pop("enabled", None)
        known = set(cls.__dataclass_fields__)
        for key in values:
            if key not in known:
                raise ConfigurationError(f"unknown setting {key!r}", key=f"{PREFIX}.{key}")
        threshold = _number(values, "similarity_threshold", 0.97, low=0.0, high=1.0)
        index = str(values.get("index", "hybrid")).lower()
        if index not in INDEX_KINDS:
            raise ConfigurationError(
                f"index must be one of {', '.join(INDEX_KINDS)}, got {index!r}", key=f"{PREFIX}.index"
            )
        ttl = _number(values, "ttl_seconds", 1800.0, low=0.0)
        max_ttl = _number(values, "max_ttl_seconds", max(86_400.0, ttl), low=0.0)
        if max_ttl < ttl:
            raise ConfigurationError("max_ttl_seconds must be >= ttl_seconds", key=f"{PREFIX}.max_ttl_seconds")
        share = values.get("share_across_guilds", False)
        if not isinstance(share, bool):
            raise ConfigurationError(
                f"share_across_guilds must be true or false, got {share!r}", key=f"{PREFIX}.share_across_guilds"
            )
        embedding = values.get("embedding", {}) or {}
        if not isinstance(embedding, Mapping):
            raise ConfigurationError("embedding must be a table", key=f"{PREFIX}.embedding")
        return cls(
            similarity_threshold=threshold,
            calibration_file=str(values.get("calibration_file", "") or ""),
            index=index,
            hybrid_switch_at=int(_number(values, "hybrid_switch_at", 20_000, low=1, integer=True)),
            hnsw_expansion_search=int(_number(values, "hnsw_expansion_search", 128, low=1, high=100_000, integer=True)),
            candidates=int(_number(values, "candidates", 8, low=1, high=1000, integer=True)),
            ttl_seconds=ttl,
            max_ttl_seconds=max_ttl,
            ttl_growth=_number(values, "ttl_growth", 2.0, low=1.0),
            max_entries=int(_number(values, "max_entries", 100_000, low=1, integer=True)),
            max_memory_mb=_number(values, "max_memory_mb", 256.0, low=0.001),
            share_across_guilds=share,
            embedding=dict(embedding),
            index_file=str(values.get("index_file", "") or ""),
        )


def _number(
    values: Mapping[str, Any],
    key: str,
    default: float,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> float:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise ConfigurationError(f"{key} must be {kind}, got {value!r}", key=f"{PREFIX}.{key}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigurationError(f"{key} must be in [{low}, {high}], got {value!r}", key=f"{PREFIX}.{key}")
    return float(value)
