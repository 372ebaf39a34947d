"""The memory plugin in real kernels: the memory hooks, compaction, augmentation, turns, sweeping, status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from intelbot import MemoryQuery, MemoryRecord, TurnContext
from intelbot.embedding import Embedder
from intelbot.frontends.footer import describe
from intelbot.testing.llm_servers import OpenAIServer, Reply
from intelbot_memory.local.tables import MEMORIES
from intelbot_memory.plugin import MemoryPlugin
from intelbot_memory.settings import MemorySettings

MODEL = "gpt-4o-mini"


def plugin(minilm: Embedder, clock: Any = None, **settings: Any) -> MemoryPlugin:
    extra: dict[str, Any] = {"embedder": minilm}
    if clock is not None:
        extra["clock"] = clock
    return MemoryPlugin(MemorySettings(**settings), **extra)


def kernel_settings(server: OpenAIServer) -> dict[str, Any]:
    return {"providers": {"openai": server.provider_settings()}, "llm": {"default_model": MODEL, "max_attempts": 1}}


def system_prompts(server: OpenAIServer) -> list[str]:
    prompts = []
    for request in server.requests:
        if request.path.endswith("/chat/completions"):
            prompts.append(" ".join(m["content"] for m in request.body["messages"] if m["role"] == "system"))
    return prompts


async def rows(kernel: Any) -> list[Any]:
    async with kernel.database.engine.connect() as connection:
        return list(await connection.execute(select(MEMORIES).order_by(MEMORIES.c.id)))


async def test_remember_recall_forget_through_the_kernel(make_kernel: Any, minilm: Embedder) -> None:
    kernel = await make_kernel(plugins=[plugin(minilm)])
    ctx = TurnContext(guild_id=1, user_id=10, channel_id=5)
    assert kernel.has_memory
    ids = await kernel.store(MemoryRecord("Our standup is at 9:30 every weekday.", guild_id=1, user_id=10), ctx)
    assert len(ids) == 1
    hits = await kernel.query(MemoryQuery("what time is standup?", guild_id=1, user_id=11), ctx)
    assert [hit.record.id for hit in hits] == ids and hits[0].backend == "local"
    assert hits[0].record.metadata["channel_id"] == 5
    assert await kernel.query(MemoryQuery("what time is standup?", guild_id=2, user_id=10), ctx) == []
    assert await kernel.query(MemoryQuery("what time is standup?", guild_id=None, user_id=10), ctx) == []
    assert await kernel.forget(1, 11, ctx) == 0
    assert await kernel.forget(1, 10, ctx) == 1
    assert await kernel.query(MemoryQuery("what time is standup?", guild_id=1, user_id=10), ctx) == []


async def test_compaction_deletes_exactly_the_merged_near_duplicates(make_kernel: Any, minilm: Embedder) -> None:
    kernel = await make_kernel(plugins=[plugin(minilm)])
    mine = TurnContext(guild_id=1, user_id=10)

    async def remember(text: str, user_id: int = 10, guild_id: int = 1) -> str:
        ids = await kernel.store(MemoryRecord(text, guild_id=guild_id, user_id=user_id), mine)
        return str(ids[0])

    dog = await remember("My dog's name is Rex.")
    cat = await remember("My cat's name is Rex.")  # cosine 0.93 to the dog: a different fact, kept
    called = await remember("My dog is called Rex")  # cosine 0.94: kept at the default threshold 0.95
    someone_else = await remember("my dogs name is rex", user_id=11)  # same text, other user: kept
    other_guild = await remember("my dogs name is rex", guild_id=2)  # same text, other guild: kept
    plugin_obj = next(p for p in kernel.manager.get_plugins() if isinstance(p, MemoryPlugin))
    memory = plugin_obj.memory
    assert memory is not None
    before = {row.uid for row in await rows(kernel)}
    assert before == {dog, cat, called, someone_else, other_guild}
    from intelbot_memory.records import Memory, Scope

    duplicate = Memory("my dogs name is rex", Scope(1), user_id=10)
    stored = await memory.store(duplicate, await memory.embed(duplicate.text))
    assert stored.merged == [dog]
    after = {row.uid for row in await rows(kernel)}
    assert after == (before - {dog}) | {duplicate.id}


async def test_a_remembered_fact_augments_later_turns_of_that_guild_only(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=[plugin(minilm)], settings=kernel_settings(openai_server))
    here = TurnContext(guild_id=1, user_id=10)
    await kernel.store(MemoryRecord("The project codename is Bluefin.", guild_id=1, user_id=10), here)
    await kernel.store(MemoryRecord("The cafeteria closes at 3pm.", guild_id=1, user_id=10), here)
    openai_server.script(Reply("It is Bluefin."), Reply("No idea."))
    answer = await kernel.ask("What is the project codename?", TurnContext(guild_id=1, user_id=12))
    elsewhere = await kernel.ask("What is the project codename?", TurnContext(guild_id=2, user_id=12))
    first, second = system_prompts(openai_server)
    assert "The project codename is Bluefin." in first
    assert "cafeteria" not in first  # below the score floor
    assert "Bluefin" not in second
    assert "1 memory used" in describe(answer)
    assert "memor" not in describe(elsewhere)


async def test_augmentation_respects_k_and_the_token_budget(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(
        plugins=[plugin(minilm, k=3, token_budget=60, score_floor=0.2)], settings=kernel_settings(openai_server)
    )
    ctx = TurnContext(guild_id=1, user_id=10)
    facts = [f"Release {number} of the mobile app ships in week {number + 10}." for number in range(6)]
    for text in facts:
        await kernel.store(MemoryRecord(text, guild_id=1, user_id=10), ctx)
    await kernel.ask("When does the mobile app release ship?", TurnContext(guild_id=1, user_id=10))
    (prompt,) = system_prompts(openai_server)
    included = [text for text in facts if text in prompt]
    assert 1 <= len(included) < 3  # k would allow 3; 60 tokens do not


async def test_turns_are_remembered_only_when_switched_on(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    off = await make_kernel(plugins=[plugin(minilm)], settings=kernel_settings(openai_server), name="off")
    await off.ask("Which database do we use?", TurnContext(guild_id=1, user_id=10))
    assert await rows(off) == []
    on_plugin = plugin(minilm, remember_turns=True, turn_batch_size=2, turn_batch_seconds=0)
    on = await make_kernel(plugins=[on_plugin], settings=kernel_settings(openai_server), name="on")
    await on.ask("Which database do we use?", TurnContext(guild_id=1, user_id=10))
    assert await rows(on) == []  # batched: one turn waits for a second
    await on.ask("Which queue do we use?", TurnContext(guild_id=1, user_id=10))
    written = await rows(on)
    assert [row.kind for row in written] == ["turn", "turn"]
    assert written[0].text.startswith("Q: Which database do we use?\nA: ")
    await on.ask("Which cache do we use?", TurnContext(guild_id=1, user_id=10))
    await on.stop()
    reopened = await make_kernel(plugins=[plugin(minilm)], settings={"data_dir": str(on.settings.data_dir)})
    assert len(await rows(reopened)) == 3  # the pending turn was written at shutdown


async def test_the_sweep_removes_expired_memories(make_kernel: Any, minilm: Embedder, clock: Any) -> None:
    memory_plugin = plugin(minilm, clock=clock, fact_ttl_days=1, sweep_seconds=0.05)
    kernel = await make_kernel(plugins=[memory_plugin])
    ctx = TurnContext(guild_id=1, user_id=10)
    record = MemoryRecord("The parking permit is in the top drawer.", guild_id=1, user_id=10, created_at=clock())
    await kernel.store(record, ctx)
    assert len(await rows(kernel)) == 1
    clock.advance(86_401)
    for _ in range(100):
        if not await rows(kernel):
            break
        await asyncio.sleep(0.05)
    assert await rows(kernel) == []
    stats = (await kernel.stats())["memory"]
    assert stats["entries"] == 0


async def test_stats_and_health(make_kernel: Any, minilm: Embedder) -> None:
    kernel = await make_kernel(plugins=[plugin(minilm)])
    await kernel.store(MemoryRecord("Lunch is at noon.", guild_id=1, user_id=10), TurnContext(guild_id=1))
    stats = (await kernel.stats())["memory"]
    assert stats["entries"] == 1 and stats["backend"] == "local" and stats["indexed"] == 1
    health = await kernel.health()
    assert any(line.startswith("memory: local, 1 memories") for line in health)
    exposition = kernel.metrics.get_sample_value("intelbot_memory_entries", {"backend": "local"})
    assert exposition == 1.0
    assert kernel.metrics.get_sample_value("intelbot_memory_stored_total", {"kind": "fact"}) == 1.0


@pytest.mark.parametrize("bad", [{"k": 0}, {"backend": "redis"}, {"weaviate": {"api_key": 3, "port": 1}}])
def test_bad_settings_name_the_key(bad: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        MemorySettings(**bad)
    assert next(iter(bad)) in str(raised.value)
