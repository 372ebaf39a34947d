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
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from intelbot.embedding.base import Embedder, EmbedderUnavailable
from intelbot.errors import ConfigurationError
from intelbot.plugin import SettingsTable
from intelbot.settings import validated

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
    typed = validated(EmbeddingSettings, dict(config), "embedding")
    backend = typed.backend
    batch_size, lru_size = typed.batch_size, typed.lru_size
    if backend == "none":
        return None
    if backend == "onnx":
        return _onnx_embedder(typed, data_dir)
    if backend == "sentence-transformers":
        from intelbot.embedding.sentence_transformer import BUNDLED_MODEL, SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            str(config.get("model", BUNDLED_MODEL)),
            device=str(config.get("device", "cpu")),
            threads=typed.threads or None,
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


def _onnx_embedder(config: EmbeddingSettings, data_dir: Path | None) -> Embedder:
    """The bundled model on ONNX Runtime, loading (and, once, exporting) in a background thread."""
    from intelbot.embedding.background import BackgroundEmbedder
    from intelbot.embedding.bundled import BUNDLED_MODEL, BUNDLED_NAME, bundled_dimensions
    from intelbot.embedding.onnx_model import load_bundled_onnx

    model = config.model or BUNDLED_MODEL
    if model != BUNDLED_MODEL:
        raise ConfigurationError(
            f"the onnx backend runs the bundled {BUNDLED_MODEL} only, not {model!r}; "
            'use backend = "sentence-transformers" or "fastembed" for other models',
            key="embedding.model",
        )
    threads = config.threads or None
    onnx_dir = config.onnx_dir
    export = config.export_on_first_use
    wait_seconds = config.load_wait_seconds
    batch_size, lru_size = config.batch_size, config.lru_size
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


class EmbeddingSettings(SettingsTable):
    """``[default.embedding]`` (or a plugin's ``embedding`` overrides merged over it), validated.

    The keys of the table in this module's docstring; ``api_key`` (openai) is a secret.
    """

    backend: Literal["onnx", "sentence-transformers", "fastembed", "openai", "none"] = "onnx"
    model: str | None = None
    device: str = "cpu"
    batch_size: int = Field(64, ge=0)
    lru_size: int = Field(1024, ge=0)
    threads: int = Field(1, ge=0)
    load_wait_seconds: float = Field(2.0, ge=0)
    onnx_dir: str = ""
    export_on_first_use: bool = True
    cache_dir: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    dimensions: int | None = Field(None, gt=0)
    timeout: float = Field(30.0, gt=0)

    @field_validator("backend", mode="before")
    @classmethod
    def _lower_backend(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        return SecretStr(value) if isinstance(value, str) else value


def check_embedding_config(config: Mapping[str, Any]) -> None:
    """Validate an ``embedding`` table with :class:`EmbeddingSettings`, loading nothing.

    ConfigurationError names the key.
    """
    validated(EmbeddingSettings, dict(config), "embedding")
