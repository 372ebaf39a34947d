"""Lifetimes and limits: TTL expiry, adaptive extension on hits, eviction by entries and by memory."""

from __future__ import annotations

from typing import Any

from intelbot import Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.testing.kernels import loaded_plugin
from intelbot_semantic_cache.plugin import SemanticCachePlugin


def cache_settings(**values: Any) -> dict[str, Any]:
    return {"plugins": {"semantic_cache": {"similarity_threshold": 0.9, **values}}}


async def test_entries_expire_after_the_base_ttl(make_kernel: Any, minilm: Embedder, clock: Any) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)],
        settings=cache_settings(ttl_seconds=100, max_ttl_seconds=1000),
    )
    await kernel.ask("Where is the Eiffel Tower?", TurnContext(guild_id=1))
    clock.advance(99)
    assert (await kernel.ask("Where is the Eiffel Tower?", TurnContext(guild_id=1))).source is Source.CACHE
    clock.advance(2 * 100 + 1)  # the hit at 99 s extended the life to 99 + 200 s
    expired = await kernel.ask("Where is the Eiffel Tower?", TurnContext(guild_id=1))
    assert expired.source is Source.PROVIDER
    paraphrase_after_expiry = await kernel.ask("Where's the Eiffel Tower located?", TurnContext(guild_id=2))
    assert paraphrase_after_expiry.source is Source.PROVIDER


async def test_hits_extend_the_ttl_up_to_the_maximum(make_kernel: Any, minilm: Embedder, clock: Any) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)],
        settings=cache_settings(ttl_seconds=100, max_ttl_seconds=350, ttl_growth=2.0),
    )
    plugin = loaded_plugin(kernel, SemanticCachePlugin)
    ctx = TurnContext(guild_id=1)
    await kernel.ask("What is the speed of light?", ctx)
    assert plugin.cache is not None
    (entry,) = plugin.cache.entries.values()
    assert entry.expires_at == clock.now + 100
    clock.advance(50)
    assert (await kernel.ask("What is the speed of light?", TurnContext(guild_id=1))).source is Source.CACHE
    assert entry.expires_at == clock.now + 200  # 1 hit: 100 * 2
    clock.advance(150)  # past the base TTL, inside the extended one
    assert (await kernel.ask("What is the speed of light?", TurnContext(guild_id=1))).source is Source.CACHE
    assert entry.expires_at == clock.now + 350  # 2 hits: 400, capped at 350
    clock.advance(351)
    assert (await kernel.ask("What is the speed of light?", TurnContext(guild_id=1))).source is Source.PROVIDER


async def test_eviction_by_entries_removes_the_least_valuable(make_kernel: Any, minilm: Embedder, clock: Any) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)], settings=cache_settings(max_entries=3)
    )
    plugin = loaded_plugin(kernel, SemanticCachePlugin)
    questions = ["What is photosynthesis?", "Who painted the Mona Lisa?", "How tall is Mount Everest?"]
    for question in questions:
        await kernel.ask(question, TurnContext(guild_id=1))
        clock.advance(10)
    for _ in range(2):
        assert (await kernel.ask(questions[0], TurnContext(guild_id=1))).source is Source.CACHE
    await kernel.ask("How many moons does Jupiter have?", TurnContext(guild_id=1))
    assert plugin.cache is not None
    kept = {entry.prompt for entry in plugin.cache.entries.values()}
    assert len(kept) <= 3
    assert questions[0] in kept  # hit twice: most valuable
    assert "How many moons does Jupiter have?" in kept  # newest
    assert questions[1] not in kept  # never hit and idle longest
    assert (await kernel.ask(questions[1], TurnContext(guild_id=1))).source is Source.PROVIDER
    stats = (await kernel.stats())["semantic_cache"]
    assert stats["evicted_entries"] >= 1


async def test_eviction_by_memory(make_kernel: Any, minilm: Embedder, clock: Any) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)],
        settings=cache_settings(max_memory_mb=0.1, index="exact"),
    )
    plugin = loaded_plugin(kernel, SemanticCachePlugin)
    topics = [
        "volcanoes",
        "banking",
        "violins",
        "glaciers",
        "taxes",
        "poetry",
        "engines",
        "saffron",
        "rugby",
        "orbits",
        "lawsuits",
        "mangoes",
        "tundra",
        "chess",
        "vaccines",
        "bridges",
        "jazz",
        "deserts",
        "origami",
        "satellites",
        "cheese",
        "elections",
        "spiders",
        "tattoos",
        "sailing",
        "coffee",
        "dinosaurs",
        "marathons",
        "pottery",
        "submarines",
    ]
    for topic in topics:
        await kernel.ask(f"Tell me everything about {topic}. " + f"{topic} " * 100, TurnContext(guild_id=1))
        clock.advance(1)
    assert plugin.cache is not None
    assert plugin.cache.size_bytes() <= 0.1 * 1024 * 1024
    assert 0 < len(plugin.cache.entries) < len(topics)
    stats = (await kernel.stats())["semantic_cache"]
    assert stats.get("evicted_memory", 0) >= 1, stats
