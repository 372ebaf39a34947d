"""Choosing an embedder from settings, shared by every plugin in the process.

Settings (``[default.embedding]``; a plugin may pass its own overrides)::

    backend = "sentence-transformers"   # or "fastembed", "openai", "none"
    model = "all-MiniLM-L6-v2"           # backend-specific model name
    batch_size = 64
    lru_size = 1024
    threads = 1                          # sentence-transformers: torch threads (0 = torch's default)
    # fastembed: cache_dir;  openai: base_url, api_key (else $OPENAI_API_KEY), dimensions, timeout

Loading a model takes seconds and memory, so embedders are kept per distinct
configuration: the cache and memory plugins asking for the same backend and
model get the same object. Loading blocks; async callers run the factory in a
worker thread (``await asyncio.to_thread(embedder_from_settings, settings)``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from intelbot.embedding.base import Embedder, EmbedderUnavailable
from intelbot.errors import ConfigurationError

log = logging.getLogger(__name__)

BACKENDS = ("sentence-transformers", "fastembed", "openai", "none")
_loaded: dict[str, Embedder] = {}
_lock = threading.Lock()


def embedding_config(settings: Any, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``embedding`` settings table merged with ``overrides`` (keys lower-cased)."""
    base: Mapping[str, Any] = {}
    if settings is not None:
        raw = settings.get("embedding") if hasattr(settings, "get") else None
        base = raw or {}
    merged = {str(key).lower(): value for key, value in dict(base).items()}
    merged.update({str(key).lower(): value for key, value in dict(overrides or {}).items()})
    return merged


def build_embedder(config: Mapping[str, Any]) -> Embedder | None:
    """A new embedder for ``config``; None for backend "none". Raises EmbedderUnavailable or ConfigurationError."""
    backend = str(config.get("backend", "sentence-transformers")).lower()
    batch_size = _int(config, "batch_size", 64)
    lru_size = _int(config, "lru_size", 1024)
    if backend == "none":
        return None
    if backend == "sentence-transformers":
        from intelbot.embedding.sentence_transformer import BUNDLED_MODEL, SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            str(config.get("model", BUNDLED_MODEL)),
            device=str(config.get("device", "cpu")),
            threads=_int(config, "threads", 1) or None,
            batch_size=batch_size,
            lru_size=lru_size,
        )
    if backend == "fastembed":
        from intelbot.embedding.fastembed_model import DEFAULT_MODEL, FastEmbedEmbedder

        cache_dir = config.get("cache_dir")
        return FastEmbedEmbedder(
            str(config.get("model", DEFAULT_MODEL)),
            cache_dir=str(cache_dir) if cache_dir else None,
            batch_size=batch_size,
            lru_size=lru_size,
        )
    if backend == "openai":
        from intelbot.embedding.openai_api import OpenAIEmbedder

        dimensions = config.get("dimensions")
        return OpenAIEmbedder(
            str(config.get("model", "text-embedding-3-small")),
            api_key=config.get("api_key") or os.environ.get("OPENAI_API_KEY"),
            base_url=config.get("base_url"),
            dimensions=int(dimensions) if dimensions else None,
            timeout=float(config.get("timeout", 30.0)),
            batch_size=batch_size,
            lru_size=lru_size,
        )
    raise ConfigurationError(
        f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}", key="embedding.backend"
    )


def embedder_from_settings(settings: Any, overrides: Mapping[str, Any] | None = None) -> Embedder | None:
    """The process-wide embedder for this configuration, or None when there is none.

    None means "no semantic matching": backend "none", or a backend that cannot run
    here (the reason is logged at WARNING, without secrets). The caller should say
    so at start-up. A misconfiguration that is not about availability (an unknown
    backend name, a bad number) raises ConfigurationError naming the key.
    """
    config = embedding_config(settings, overrides)
    key = json.dumps({k: v for k, v in config.items() if k != "api_key"}, sort_keys=True, default=str)
    key += "|" + str(hash(config.get("api_key")))
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            embedder = build_embedder(config)
        except EmbedderUnavailable as error:
            log.warning("no embedder available: %s", error.message)
            return None
        if embedder is not None:
            _loaded[key] = embedder
        return embedder


def _int(config: Mapping[str, Any], name: str, default: int) -> int:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be an integer >= 0, got {value!r}", key=f"embedding.{name}")
    return value


def check_embedding_config(config: Mapping[str, Any]) -> None:
    """Validate an ``embedding`` table without loading anything; ConfigurationError names the key."""
    backend = str(config.get("backend", "sentence-transformers")).lower()
    if backend not in BACKENDS:
        raise ConfigurationError(
            f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}", key="embedding.backend"
        )
    for name, default in (("batch_size", 64), ("lru_size", 1024), ("threads", 1)):
        _int(config, name, default)
