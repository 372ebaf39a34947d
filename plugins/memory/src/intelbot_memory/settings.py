"""The settings of ``[default.plugins.memory]`` and ``[default.plugins.memory.weaviate]``.

Every key is documented in the repository's settings.toml and the plugin README.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr

from intelbot.plugin import PluginSettings, SettingsTable
from intelbot_memory.local.keyword import MATCH_BUDGET
from intelbot_memory.local.vector_index import EXPANSION_SEARCH

BACKENDS = ("local", "weaviate")


class WeaviateSettings(SettingsTable):
    """How to reach Weaviate (``[default.plugins.memory.weaviate]``); the API key is never printed."""

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    http_secure: bool = False
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=1, le=65535)
    grpc_secure: bool = False
    api_key: SecretStr = SecretStr("")
    collection: str = Field("IntelbotMemory", pattern=r"^[A-Z][A-Za-z0-9_]*$")
    timeout_seconds: float = Field(10.0, gt=0)
    idle_seconds: float = Field(3600.0, ge=0, description="set a tenant INACTIVE after this long unused; 0 = never")
    write_attempts: int = Field(4, ge=1, le=20)
    retry_base_seconds: float = Field(0.2, ge=0)
    skip_init_checks: bool = False


class MemorySettings(PluginSettings):
    """``[default.plugins.memory]``: which backend, how memories join conversations, compaction and expiry."""

    backend: Literal["local", "weaviate"] = "local"
    augment: bool = True
    remember_turns: bool = False
    k: int = Field(4, ge=1, le=50)
    score_floor: float = Field(0.35, ge=-1.0, le=1.0)
    token_budget: int = Field(400, ge=0)
    search: Literal["vector", "hybrid"] = "hybrid"
    hybrid_alpha: float = Field(0.75, ge=0.0, le=1.0)
    duplicate_threshold: float = Field(0.95, gt=0.0, le=1.0)
    fact_ttl_days: float = Field(0.0, ge=0, description="0 = facts never expire")
    turn_ttl_days: float = Field(30.0, ge=0, description="0 = turns never expire")
    sweep_seconds: float = Field(300.0, ge=0, description="0 = no periodic sweep")
    turn_batch_size: int = Field(16, ge=1)
    turn_batch_seconds: float = Field(5.0, ge=0)
    max_text_chars: int = Field(2000, ge=1)
    index_dir: str = ""
    hnsw_min_entries: int = Field(256, ge=0, description="scopes smaller than this are searched exactly")
    expansion_search: int = Field(EXPANSION_SEARCH, ge=8)
    rescore_candidates: int = Field(
        40, ge=0, description="graph candidates re-ranked by exact float32 cosine (at least 4 x k); 0 = off"
    )
    keyword_match_budget: int = Field(
        MATCH_BUDGET, ge=0, description="hybrid: at most this many keyword-matching rows are ranked (the rarest terms)"
    )
    embedding: dict[str, Any] = Field(default_factory=dict)
    weaviate: WeaviateSettings = Field(default_factory=WeaviateSettings)  # type: ignore[arg-type]
