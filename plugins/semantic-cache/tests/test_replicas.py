"""Two kernels on one database agree on the cache: stores, clears and expiries reach the other replica.

Each kernel is a real replica (the kit's KernelFactory, its own data directory and
index file, the same database: an SQLite file or a fresh PostgreSQL database). The
other replica must see a change within ``BOUND`` seconds with the feed polled every
``POLL`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import hikari
import pytest
import pytest_asyncio

from intelbot import Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.kernel import Kernel
from intelbot.testing.clock import ManualClock
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.kernels import loaded_plugin
from intelbot.testing.postgres import fresh_database
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.plugin import SemanticCachePlugin

POLL = 0.05
BOUND = 3.0  # generous: the machine is shared; the benchmark measures the real delay
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """One database for both replicas."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        return
    async with fresh_database() as url:
        yield url


async def replica(
    make_kernel: Any, embedder: Embedder, database_url: str, directory: Path, clock: Callable[[], float] = time.time
) -> tuple[Kernel, SemanticCache]:
    kernel: Kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=embedder, clock=clock)],
        settings={
            "data_dir": str(directory),
            "database_url": database_url,
            "plugins": {
                "semantic_cache": {"similarity_threshold": 0.9, "change_poll_seconds": POLL, "ttl_seconds": 100}
            },
        },
    )
    cache = loaded_plugin(kernel, SemanticCachePlugin).cache
    assert cache is not None
    return kernel, cache


async def replicas(
    make_kernel: Any, embedder: Embedder, database_url: str, tmp_path: Path, clock: Callable[[], float] = time.time
) -> tuple[tuple[Kernel, SemanticCache], tuple[Kernel, SemanticCache]]:
    first = await replica(make_kernel, embedder, database_url, tmp_path / "a", clock)
    second = await replica(make_kernel, embedder, database_url, tmp_path / "b", clock)
    return first, second


async def within(bound: float, condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds; fail after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not seen by the other replica within {bound} s")
        await asyncio.sleep(0.01)


def prompts(cache: SemanticCache) -> set[tuple[int | None, str]]:
    return {(entry.guild_id, entry.prompt) for entry in cache.entries.values()}


async def test_an_entry_stored_by_one_replica_is_a_hit_on_the_other(
    make_kernel: Any, minilm: Embedder, database_url: str, tmp_path: Path
) -> None:
    (first, first_cache), (second, second_cache) = await replicas(make_kernel, minilm, database_url, tmp_path)
    assert (await first.ask(QUESTION, TurnContext(guild_id=7))).source is Source.PROVIDER
    await within(BOUND, lambda: prompts(second_cache) == {(7, QUESTION)})
    exact = await second.ask(QUESTION, TurnContext(guild_id=7))
    semantic = await second.ask(PARAPHRASE, TurnContext(guild_id=7))
    assert (exact.source, exact.metadata["cache_hit"]) == (Source.CACHE, "exact")
    assert (semantic.source, semantic.metadata["cache_hit"]) == (Source.CACHE, "semantic")
    # guild scoping holds on the other replica too
    assert (await second.ask(QUESTION, TurnContext(guild_id=8))).source is Source.PROVIDER
    await within(BOUND, lambda: prompts(first_cache) == {(7, QUESTION), (8, QUESTION)})
    assert (await first.ask(PARAPHRASE, TurnContext(guild_id=8))).source is Source.CACHE


async def test_a_clear_on_one_replica_is_honoured_by_both_and_keeps_other_guilds(
    make_kernel: Any, minilm: Embedder, database_url: str, tmp_path: Path
) -> None:
    (first, first_cache), (second, second_cache) = await replicas(make_kernel, minilm, database_url, tmp_path)
    await first.ask(QUESTION, TurnContext(guild_id=7))
    await second.ask("What are the server rules?", TurnContext(guild_id=8))
    both = {(7, QUESTION), (8, "What are the server rules?")}
    await within(BOUND, lambda: prompts(first_cache) == prompts(second_cache) == both)
    assert await second_cache.clear(7) == 1  # the plugin's clear path, on the replica that did not store it
    await within(BOUND, lambda: prompts(first_cache) == prompts(second_cache) == {(8, "What are the server rules?")})
    assert (await first.ask(PARAPHRASE, TurnContext(guild_id=7))).source is Source.PROVIDER
    assert (await first.ask("What are the server rules?", TurnContext(guild_id=8))).source is Source.CACHE


async def test_slash_cache_clear_on_one_replica_is_honoured_by_the_other(
    make_kernel: Any, make_discord: Any, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = [
        await make_kernel(
            plugins=["semantic_cache"],  # loaded by name, as in a deployment (the default embedder)
            settings={
                "data_dir": str(tmp_path / name),
                "database_url": url,
                "plugins": {"semantic_cache": {"change_poll_seconds": POLL}},
            },
        )
        for name in ("a", "b")
    ]
    await second.ask(QUESTION, TurnContext(guild_id=DEFAULT_GUILD))
    discord = await make_discord(first)
    admin = discord.member(704, permissions=hikari.Permissions.MANAGE_GUILD)
    first_cache, second_cache = (loaded_plugin(kernel, SemanticCachePlugin).cache for kernel in (first, second))
    assert first_cache is not None and second_cache is not None
    await within(BOUND, lambda: len(first_cache.entries) == 1)
    cleared = await discord.slash("cache", "clear", user=admin)
    assert cleared.contents == ["Removed 1 cached answers of this server."]
    await within(BOUND, lambda: not second_cache.entries)
    assert (await second.ask(QUESTION, TurnContext(guild_id=DEFAULT_GUILD))).source is Source.PROVIDER


async def test_expiry_is_seen_by_both_and_a_hit_on_one_keeps_the_entry_on_the_other(
    make_kernel: Any, minilm: Embedder, database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    (first, first_cache), (second, second_cache) = await replicas(make_kernel, minilm, database_url, tmp_path, clock)
    await first.ask(QUESTION, TurnContext(guild_id=7))
    await within(BOUND, lambda: prompts(second_cache) == {(7, QUESTION)})
    clock.advance(90)  # ttl_seconds is 100
    assert (await second.ask(QUESTION, TurnContext(guild_id=7))).source is Source.CACHE  # life extended (row too)
    clock.advance(20)  # past the first lifetime: the first replica's copy looks expired
    await first_cache.enforce_limits()  # its sweep finds the row extended by the other's hit and keeps it
    await asyncio.sleep(POLL * 4)
    assert prompts(second_cache) == prompts(first_cache) == {(7, QUESTION)}
    assert (await first.ask(PARAPHRASE, TurnContext(guild_id=7))).source is Source.CACHE
    clock.advance(10_000)  # past every lifetime: one replica's sweep removes it from both
    await first_cache.enforce_limits()
    assert not first_cache.entries
    await within(BOUND, lambda: not second_cache.entries)
    assert (await second.ask(QUESTION, TurnContext(guild_id=7))).source is Source.PROVIDER
