"""Restart restores the cache; a corrupt or stale index file is rebuilt from the database, never trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intelbot import Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.kernel import Kernel
from intelbot.settings import load_settings
from intelbot.testing.kernels import loaded_plugin
from intelbot_semantic_cache.index import HybridIndex
from intelbot_semantic_cache.plugin import SemanticCachePlugin

QUESTIONS = ["How do I reset my password?", "What are the server rules?", "When is the next community event?"]


def shared_settings(directory: Path, **cache: Any) -> dict[str, Any]:
    return {"data_dir": str(directory), "plugins": {"semantic_cache": {"similarity_threshold": 0.9, **cache}}}


async def fill(make_kernel: Any, directory: Path, embedder: Embedder, **cache: Any) -> Kernel:
    kernel: Kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=embedder)], settings=shared_settings(directory, **cache)
    )
    for question in QUESTIONS:
        await kernel.ask(question, TurnContext(guild_id=7))
    await kernel.stop()
    return kernel


async def reopen(
    make_kernel: Any, directory: Path, embedder: Embedder, **cache: Any
) -> tuple[Kernel, SemanticCachePlugin]:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=embedder)], settings=shared_settings(directory, **cache)
    )
    plugin = loaded_plugin(kernel, SemanticCachePlugin)
    return kernel, plugin


async def test_restart_restores_entries_and_index(make_kernel: Any, minilm: Embedder, tmp_path: Path) -> None:
    await fill(make_kernel, tmp_path / "data", minilm)
    index_file = tmp_path / "data" / "semantic_cache" / "index.npz"
    assert index_file.exists()
    kernel, plugin = await reopen(make_kernel, tmp_path / "data", minilm)
    assert plugin.cache is not None
    assert plugin.cache.index_status.startswith("restored 3 vectors")
    hit = await kernel.ask("How can I reset my password?", TurnContext(guild_id=7))
    assert hit.source is Source.CACHE and hit.metadata["cache_hit"] == "semantic"
    assert (await kernel.ask("What are the server rules?", TurnContext(guild_id=7))).source is Source.CACHE


async def test_corrupt_index_file_is_rebuilt_from_the_database(
    make_kernel: Any, minilm: Embedder, tmp_path: Path
) -> None:
    await fill(make_kernel, tmp_path / "data", minilm)
    index_file = tmp_path / "data" / "semantic_cache" / "index.npz"
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    index_file.write_bytes(bytes(data))
    kernel, plugin = await reopen(make_kernel, tmp_path / "data", minilm)
    assert plugin.cache is not None
    assert plugin.cache.index_status.startswith("rebuilt 3 vectors from the database")
    hit = await kernel.ask("How can I reset my password?", TurnContext(guild_id=7))
    assert hit.source is Source.CACHE and hit.metadata["cache_hit"] == "semantic"


async def test_index_file_not_matching_the_database_is_rebuilt(
    make_kernel: Any, minilm: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "data"
    await fill(make_kernel, directory, minilm)
    index_file = directory / "semantic_cache" / "index.npz"
    stale = index_file.read_bytes()
    kernel, plugin = await reopen(make_kernel, directory, minilm)
    await kernel.ask("Who moderates this server?", TurnContext(guild_id=7))
    await kernel.stop()
    index_file.write_bytes(stale)  # a valid file from before the last entry was added
    kernel, plugin = await reopen(make_kernel, directory, minilm)
    assert plugin.cache is not None
    assert "rebuilt 4 vectors" in plugin.cache.index_status
    assert "entries differ from the database" in plugin.cache.index_status
    hit = await kernel.ask("Who moderates the server?", TurnContext(guild_id=7))
    assert hit.source is Source.CACHE


async def test_missing_index_file_is_rebuilt(make_kernel: Any, minilm: Embedder, tmp_path: Path) -> None:
    await fill(make_kernel, tmp_path / "data", minilm, index="approximate")
    (tmp_path / "data" / "semantic_cache" / "index.npz").unlink()
    kernel, plugin = await reopen(make_kernel, tmp_path / "data", minilm, index="approximate")
    assert plugin.cache is not None and "no index file" in plugin.cache.index_status
    assert (await kernel.ask("How can I reset my password?", TurnContext(guild_id=7))).source is Source.CACHE


async def test_plugin_turned_off_by_its_flag_leaves_every_turn_to_the_provider(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.delenv("INTELBOT_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv("INTELBOT_PLUGINS__SEMANTIC_CACHE__ENABLED", "false")
    settings = load_settings(tmp_path, overrides={"data_dir": str(tmp_path / "data"), "llm": {"default_model": "echo"}})
    kernel = await Kernel.start(settings)
    try:
        info = kernel.plugin_info("semantic_cache")
        assert info is not None and not info.enabled and not info.loaded
        for _ in range(2):
            response = await kernel.ask("What are the server rules?", TurnContext(guild_id=1))
            assert response.source is Source.PROVIDER
        assert "semantic_cache" not in await kernel.stats()
    finally:
        await kernel.stop()


async def test_hybrid_index_switches_to_hnsw_and_restores_the_graph(
    make_kernel: Any, minilm: Embedder, tmp_path: Path
) -> None:
    directory = tmp_path / "data"
    await fill(make_kernel, directory, minilm, hybrid_switch_at=2)
    kernel, plugin = await reopen(make_kernel, directory, minilm, hybrid_switch_at=2)
    assert plugin.cache is not None and plugin.cache.index_status.startswith("restored 3 vectors")
    (index,) = plugin.cache.indexes.values()
    assert isinstance(index, HybridIndex) and index.graph is not None and len(index.graph) == 3
    hit = await kernel.ask("How can I reset my password?", TurnContext(guild_id=7))
    assert hit.source is Source.CACHE
    exact = float(np.dot(*(await minilm.embed(["How can I reset my password?", "How do I reset my password?"]))))
    assert hit.metadata["similarity"] == pytest.approx(exact, abs=1e-5)  # re-scored in float32, not int8


async def test_hits_survive_a_restart_and_per_process_figures_say_so(
    make_kernel: Any, tmp_path: Path, minilm: Embedder
) -> None:
    directory = tmp_path / "shared"
    kernel, _ = await reopen(make_kernel, directory, minilm)
    for _ in range(3):  # one miss, then two exact hits
        await kernel.ask("What is the boiling point of water?", TurnContext(guild_id=7))
    await kernel.stop()

    kernel, plugin = await reopen(make_kernel, directory, minilm)
    assert plugin.cache is not None
    figures = plugin.cache.stats()
    assert figures["hits_on_kept_entries"] == 2  # durable: kept with the entry in the database
    assert figures["hits_exact"] == 0 and "hits_exact" in figures["per_process"]  # this process served none yet
    assert "entries" not in figures["per_process"]
