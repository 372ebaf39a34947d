"""The shared embedder interface (intelbot.embedding): MiniLM offline, LRU, batching, OpenAI, fastembed."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np
import pytest

from intelbot.embedding import Embedder, EmbedderUnavailable, build_embedder, embedder_from_settings
from intelbot.embedding.openai_api import OpenAIEmbedder
from intelbot.errors import ConfigurationError, ErrorCategory, ProviderError
from intelbot.testing.llm_servers import OpenAIServer, Status


async def test_minilm_gives_unit_vectors_that_rank_paraphrases_first(minilm: Embedder) -> None:
    texts = [
        "How do I bake bread?",
        "What is the way to bake a loaf of bread?",
        "Who won the football world cup in 2010?",
    ]
    vectors = await minilm.embed(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.3
    assert minilm.name == "sentence-transformers/all-MiniLM-L6-v2"


async def test_lru_and_duplicates_embed_each_text_once(minilm: Embedder) -> None:
    from intelbot.embedding.sentence_transformer import SentenceTransformerEmbedder

    assert isinstance(minilm, SentenceTransformerEmbedder)
    calls: list[list[str]] = []
    original = minilm._embed_blocking

    def counting(texts: list[str]) -> Any:
        calls.append(list(texts))
        return original(texts)

    minilm._embed_blocking = counting  # type: ignore[method-assign]  # counts calls to the model
    try:
        first = await minilm.embed(["lru probe one", "lru probe two", "lru probe one"])
        again = await minilm.embed(["lru probe two"])
    finally:
        del minilm._embed_blocking
    assert calls == [["lru probe one", "lru probe two"]]
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(again[0], first[1])


async def test_batches_give_the_same_vectors_as_one_call(minilm: Embedder) -> None:
    from intelbot.embedding.sentence_transformer import SentenceTransformerEmbedder

    small_batches = SentenceTransformerEmbedder(batch_size=2, lru_size=0)
    texts = [f"batch probe number {number}" for number in range(5)]
    np.testing.assert_allclose(await small_batches.embed(texts), await minilm.embed(texts), atol=1e-5)


async def test_openai_embedder_against_the_loopback_server(openai_server: OpenAIServer) -> None:
    embedder = OpenAIEmbedder(
        "text-embedding-3-small",
        api_key=openai_server.api_key,
        base_url=openai_server.base_url,
        dimensions=64,
        batch_size=2,
    )
    try:
        openai_server.embeddings["scripted"] = [3.0, 4.0] + [0.0] * 62
        vectors = await embedder.embed(["scripted", "second text", "third text"])
        assert vectors.shape == (3, 64)
        np.testing.assert_allclose(vectors[0, :2], [0.6, 0.8], atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        sent = [request.body["input"] for request in openai_server.requests if request.path.endswith("/embeddings")]
        assert sent == [["scripted", "second text"], ["third text"]]
        openai_server.script(Status(401))
        with pytest.raises(ProviderError) as failure:
            await embedder.embed(["not cached yet"])
        assert failure.value.category is ErrorCategory.AUTHENTICATION
        assert str(openai_server.api_key) not in str(failure.value)
    finally:
        await embedder.aclose()


def test_factory_selects_by_name_and_shares_loaded_models(minilm: Embedder) -> None:
    assert embedder_from_settings(None, {"backend": "sentence-transformers"}) is minilm
    assert embedder_from_settings(None, {"backend": "none"}) is None
    with pytest.raises(ConfigurationError, match=r"embedding\.backend"):
        embedder_from_settings(None, {"backend": "word2vec"})


def test_openai_embedder_needs_known_dimensions() -> None:
    with pytest.raises(ConfigurationError, match=r"embedding\.dimensions"):
        build_embedder({"backend": "openai", "model": "my-local-model", "api_key": "x"})


@pytest.mark.skipif(importlib.util.find_spec("fastembed") is not None, reason="fastembed is installed here")
def test_fastembed_without_the_package_is_reported_and_yields_no_embedder(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(EmbedderUnavailable, match="pip install fastembed"):
        build_embedder({"backend": "fastembed"})
    with caplog.at_level(logging.WARNING):
        assert embedder_from_settings(None, {"backend": "fastembed"}) is None
    assert "fastembed" in caplog.text


def test_fastembed_that_cannot_fetch_its_model_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """fastembed downloads on first use; offline, its constructor raises (a stand-in: fastembed is not installed)."""
    import importlib.machinery
    import types

    attempts: list[str] = []

    class TextEmbedding:
        def __init__(self, model_name: str, cache_dir: str | None = None) -> None:
            attempts.append(model_name)
            raise ConnectionError("Could not download model from HuggingFace")

    fake = types.ModuleType("fastembed")
    fake.__spec__ = importlib.machinery.ModuleSpec("fastembed", None)
    fake.TextEmbedding = TextEmbedding  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "fastembed", fake)
    with pytest.raises(EmbedderUnavailable) as failure:
        build_embedder({"backend": "fastembed", "model": "BAAI/bge-small-en-v1.5"})
    assert attempts == ["BAAI/bge-small-en-v1.5"]
    message = str(failure.value)
    assert (
        "fastembed cannot load model 'BAAI/bge-small-en-v1.5'" in message
        and "downloads the model on first use" in message
    )
    assert "embedding.model" in message
