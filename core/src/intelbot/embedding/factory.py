"""Choosing an embedder from settings, shared by every plugin in the process.

Settings (``[default.embedding]``; a plugin may pass its own overrides)::

    backend = "onnx"                     # or "sentence-transformers", "fastembed", "openai", "none"
    model = "all-MiniLM-L6-v2"           # backend-specific model name (onnx: the bundled model only)
    batch_size = 64
    lru_size = 1024
    threads = 1                          # onnx / sentence-transformers: intra-op threads (0 = the runtime's default)
    load_wait_seconds = 2.0              # onnx: how long a turn waits for a model still loading
    onnx_dir = ""                        # onnx: the export's directory ("" = installed, then data_dir/models)
    export_on_first_use = true           # onnx: export when no usable copy exists (else report it)
    # fastembed: cache_dir;  openai: base_url, api_key (else $OPENAI_API_KEY), dimensions, timeout

Loading a model takes time and memory, so embedders are kept per distinct
configuration: the cache and memory plugins asking for the same backend and
model get the same object. The onnx backend returns at once and loads in a
background thread (:class:`BackgroundEmbedder`); the other local backends load
when built, which blocks, so async callers run the factory in a worker thread
(``await asyncio.to_thread(embedder_from_settings, settings)``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from intelbot.embedding.base import Embedder, EmbedderUnavailable
from intelbot.errors import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "onnx"
BACKENDS = ("onnx", "sentence-transformers", "fastembed", "openai", "none")
DEFAULTS: dict[str, Any] = {
    "backend": DEFAULT_BACKEND,
    "model": "all-MiniLM-L6-v2",
    "batch_size": 64,
    "lru_size": 1024,
    "threads": 1,
    "load_wait_seconds": 2.0,
    "onnx_dir": "",
    "export_on_first_use": True,
}
_UNSET = object()
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


def data_dir_of(settings: Any) -> Path | None:
    """The kernel's ``data_dir`` (relative to the settings directory), or None without settings."""
    if settings is None or not hasattr(settings, "get"):
        return None
    path = Path(str(settings.get("data_dir", "data") or "data"))
    return path if path.is_absolute() else Path(str(settings.get("settings_dir", "."))) / path


def build_embedder(config: Mapping[str, Any], *, data_dir: Path | None = None) -> Embedder | None:
    """A new embedder for ``config``; None for backend "none". Raises EmbedderUnavailable or ConfigurationError.

    ``data_dir`` is where the onnx backend may export the bundled model on first use.
    """
    backend = str(config.get("backend", DEFAULT_BACKEND)).lower()
    batch_size = _int(config, "batch_size", 64)
    lru_size = _int(config, "lru_size", 1024)
    if backend == "none":
        return None
    if backend == "onnx":
        return _onnx_embedder(config, data_dir, batch_size=batch_size, lru_size=lru_size)
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


def _onnx_embedder(config: Mapping[str, Any], data_dir: Path | None, *, batch_size: int, lru_size: int) -> Embedder:
    """The bundled model on ONNX Runtime, loading (and, once, exporting) in a background thread."""
    from intelbot.embedding.background import BackgroundEmbedder
    from intelbot.embedding.bundled import BUNDLED_MODEL, BUNDLED_NAME, bundled_dimensions
    from intelbot.embedding.onnx_model import load_bundled_onnx

    model = str(config.get("model", BUNDLED_MODEL))
    if model != BUNDLED_MODEL:
        raise ConfigurationError(
            f"the onnx backend runs the bundled {BUNDLED_MODEL} only, not {model!r}; "
            'use backend = "sentence-transformers" or "fastembed" for other models',
            key="embedding.model",
        )
    threads = _int(config, "threads", 1) or None
    onnx_dir = str(config.get("onnx_dir") or "")
    export = _bool(config, "export_on_first_use", True)
    wait_seconds = _seconds(config, "load_wait_seconds", 2.0)
    dimensions = bundled_dimensions()  # reads a small JSON file; raises EmbedderUnavailable without the package
    return BackgroundEmbedder(
        lambda: load_bundled_onnx(
            onnx_dir=Path(onnx_dir) if onnx_dir else None,
            data_dir=data_dir,
            export=export,
            threads=threads,
            batch_size=batch_size,
            lru_size=lru_size,
        ),
        name=BUNDLED_NAME,
        dimensions=dimensions,
        wait_seconds=wait_seconds,
        description=f"{BUNDLED_MODEL} on ONNX Runtime",
    )


def embedder_from_settings(settings: Any, overrides: Mapping[str, Any] | None = None) -> Embedder | None:
    """The process-wide embedder for this configuration, or None when there is none.

    None means "no semantic matching": backend "none", or a backend that cannot run
    here (the reason is logged at WARNING, without secrets). The caller should say
    so at start-up. A misconfiguration that is not about availability (an unknown
    backend name, a bad number) raises ConfigurationError naming the key.
    """
    config = embedding_config(settings, overrides)
    # Keyed by what differs from the defaults, so {} and the same values spelt out share one embedder.
    # data_dir is not part of the key: it only says where a first-use export goes (the first caller's wins).
    significant = {k: v for k, v in config.items() if k != "api_key" and DEFAULTS.get(k, _UNSET) != v}
    key = json.dumps(significant, sort_keys=True, default=str) + "|" + str(hash(config.get("api_key")))
    data_dir = data_dir_of(settings)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            embedder = build_embedder(config, data_dir=data_dir)
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


def _bool(config: Mapping[str, Any], name: str, default: bool) -> bool:
    value = config.get(name, default)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be true or false, got {value!r}", key=f"embedding.{name}")
    return value


def _seconds(config: Mapping[str, Any], name: str, default: float) -> float:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}", key=f"embedding.{name}")
    return float(value)


def check_embedding_config(config: Mapping[str, Any]) -> None:
    """Validate an ``embedding`` table without loading anything; ConfigurationError names the key."""
    backend = str(config.get("backend", DEFAULT_BACKEND)).lower()
    if backend not in BACKENDS:
        raise ConfigurationError(
            f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}", key="embedding.backend"
        )
    for name, default in (("batch_size", 64), ("lru_size", 1024), ("threads", 1)):
        _int(config, name, default)
    _bool(config, "export_on_first_use", True)
    _seconds(config, "load_wait_seconds", 2.0)
    onnx_dir = config.get("onnx_dir", "")
    if not isinstance(onnx_dir, str):
        raise ConfigurationError(f"onnx_dir must be a directory path, got {onnx_dir!r}", key="embedding.onnx_dir")
