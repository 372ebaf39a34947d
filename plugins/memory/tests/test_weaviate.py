"""The weaviate backend in real kernels, through weaviate-client against the loopback Weaviate: outages never
fail a turn, writes are retried, /health says why memory is off, tenants go inactive when idle."""

from __future__ import annotations

from typing import Any

import pytest

from intelbot import MemoryQuery, MemoryRecord, TurnContext
from intelbot.embedding import Embedder
from intelbot.testing.llm_servers import OpenAIServer, Reply
from intelbot.testing.weaviate import LoopbackWeaviate
from intelbot_memory.plugin import MemoryPlugin
from intelbot_memory.records import Scope
from intelbot_memory.settings import MemorySettings

MODEL = "gpt-4o-mini"


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def weaviate_plugin(server: LoopbackWeaviate, minilm: Embedder, **weaviate: Any) -> MemoryPlugin:
    connection = {
        "http_port": server.http_port,
        "grpc_port": server.grpc_port,
        "api_key": server.api_key,
        "retry_base_seconds": 0.01,
        "timeout_seconds": 2,
        **weaviate,
    }
    return MemoryPlugin(MemorySettings(backend="weaviate", weaviate=connection), embedder=minilm)  # type: ignore[arg-type]


def kernel_settings(server: OpenAIServer) -> dict[str, Any]:
    return {"providers": {"openai": server.provider_settings()}, "llm": {"default_model": MODEL, "max_attempts": 1}}


def last_system_prompt(server: OpenAIServer) -> str:
    request = [item for item in server.requests if item.path.endswith("/chat/completions")][-1]
    return " ".join(m["content"] for m in request.body["messages"] if m["role"] == "system")


async def test_remembered_facts_augment_turns_through_weaviate(
    make_kernel: Any, weaviate_server: LoopbackWeaviate, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(
        plugins=[weaviate_plugin(weaviate_server, minilm)], settings=kernel_settings(openai_server)
    )
    ctx = TurnContext(guild_id=7, user_id=70)
    assert await kernel.store(MemoryRecord("Our on-call rotation changes every Monday.", guild_id=7, user_id=70), ctx)
    openai_server.script(Reply("Mondays."))
    await kernel.ask("When does the on-call rotation change?", TurnContext(guild_id=7, user_id=71))
    assert "Our on-call rotation changes every Monday." in last_system_prompt(openai_server)
    tenants = weaviate_server.data.collection("IntelbotMemory").tenants
    assert set(tenants) == {"g7"}
    assert await kernel.query(MemoryQuery("on-call rotation", guild_id=8, user_id=70), ctx) == []


async def test_an_outage_never_fails_a_turn_and_health_says_why(
    make_kernel: Any, weaviate_server: LoopbackWeaviate, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(
        plugins=[weaviate_plugin(weaviate_server, minilm, timeout_seconds=0.5)], settings=kernel_settings(openai_server)
    )
    ctx = TurnContext(guild_id=7, user_id=70)
    await kernel.store(MemoryRecord("The VPN server is vpn.example.org.", guild_id=7, user_id=70), ctx)
    weaviate_server.fail("unavailable")
    openai_server.script(Reply("Answered without memory."))
    answer = await kernel.ask("What is the VPN server?", TurnContext(guild_id=7, user_id=70))
    assert answer.text == "Answered without memory."
    assert "vpn.example.org" not in last_system_prompt(openai_server)
    health = await kernel.health()
    assert any("memory: weaviate UNAVAILABLE (search failed" in line for line in health), health
    stored = await kernel.store(MemoryRecord("This one is lost.", guild_id=7, user_id=70), ctx)
    assert stored == []  # not acknowledged: every attempt failed
    figures = (await kernel.stats())["memory"]
    assert figures["failed_writes"] == 1 and figures["write_retries"] == 3
    weaviate_server.heal()
    openai_server.script(Reply("With memory."))
    await kernel.ask("What is the VPN server?", TurnContext(guild_id=7, user_id=70))
    assert "vpn.example.org" in last_system_prompt(openai_server)
    assert not any("UNAVAILABLE" in line for line in await kernel.health())


async def test_a_slow_weaviate_times_out_and_the_turn_goes_on(
    make_kernel: Any, weaviate_server: LoopbackWeaviate, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    memory = weaviate_plugin(weaviate_server, minilm, timeout_seconds=0.3)
    kernel = await make_kernel(plugins=[memory], settings=kernel_settings(openai_server))
    await kernel.store(MemoryRecord("Standup is at ten.", guild_id=7, user_id=70), TurnContext(guild_id=7))
    weaviate_server.fail("slow", delay=1.5, times=1)
    openai_server.script(Reply("Fine."))
    answer = await kernel.ask("When is standup?", TurnContext(guild_id=7, user_id=70))
    assert answer.text == "Fine."
    assert memory.augment_skipped == 1


async def test_writes_are_retried_through_transient_errors(
    make_kernel: Any, weaviate_server: LoopbackWeaviate, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=[weaviate_plugin(weaviate_server, minilm)])
    ctx = TurnContext(guild_id=7, user_id=70)
    await kernel.store(MemoryRecord("Warm-up so the tenant exists.", guild_id=7, user_id=70), ctx)
    weaviate_server.calls.clear()
    weaviate_server.fail("500", times=2)  # the duplicate search meets one, the first batch write the other
    ids = await kernel.store(MemoryRecord("The printer is on floor three.", guild_id=7, user_id=70), ctx)
    assert len(ids) == 1
    assert (await kernel.stats())["memory"]["write_retries"] == 1
    assert weaviate_server.calls.count("grpc BatchObjects") == 2
    hits = await kernel.query(MemoryQuery("where is the printer?", guild_id=7, user_id=70), ctx)
    assert hits[0].record.id == ids[0]


async def test_weaviate_down_at_start_up_loads_the_plugin_and_connects_later(
    make_kernel: Any, minilm: Embedder
) -> None:
    server = LoopbackWeaviate(api_key="late-key")
    memory = weaviate_plugin(server, minilm)
    kernel = await make_kernel(plugins=[memory])
    assert any("weaviate unavailable at start-up" in line for line in await kernel.health())
    async with server:
        assert memory.memory is not None
        memory.memory.reopen_seconds = 0
        ids = await kernel.store(MemoryRecord("Connected at last.", guild_id=1, user_id=2), TurnContext(guild_id=1))
        assert len(ids) == 1
        assert server.object_count() == 1


async def test_idle_tenants_go_inactive_and_wake_on_use(weaviate_server: LoopbackWeaviate, minilm: Embedder) -> None:
    from pydantic import SecretStr

    from intelbot_memory.settings import WeaviateSettings
    from intelbot_memory.weaviate_backend.backend import WeaviateBackend

    ticks = Ticks()
    settings = WeaviateSettings(
        http_port=weaviate_server.http_port,
        grpc_port=weaviate_server.grpc_port,
        api_key=SecretStr(weaviate_server.api_key),
        idle_seconds=60,
    )
    backend = WeaviateBackend(settings, minilm, clock=ticks)
    await backend.open()
    try:
        from intelbot_memory.records import Memory, MemorySearch

        busy, quiet = Memory("busy guild note", Scope(1)), Memory("quiet guild note", Scope(2))
        await backend.add([busy, quiet], await minilm.embed([busy.text, quiet.text]))
        ticks.now += 50
        await backend.search(MemorySearch(Scope(1), (await minilm.embed(["note"]))[0], now=0))
        ticks.now += 20
        assert await backend.deactivate_idle() == ["g2"]
        tenants = weaviate_server.data.collection("IntelbotMemory").tenants
        assert tenants["g2"].status == "INACTIVE" and tenants["g1"].status == "ACTIVE"
        hits = await backend.search(MemorySearch(Scope(2), (await minilm.embed(["note"]))[0], now=0))
        assert [hit.memory.id for hit in hits] == [quiet.id]
        assert tenants["g2"].status == "ACTIVE"
    finally:
        await backend.close()


class CrashBeforeDelete(RuntimeError):
    """Stands for the process dying between a merge's write and its delete."""


async def test_a_merge_interrupted_before_its_delete_shows_no_duplicate_and_completes_at_the_next_open(
    weaviate_server: LoopbackWeaviate, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import SecretStr

    from intelbot_memory.records import Memory, MemorySearch
    from intelbot_memory.settings import WeaviateSettings
    from intelbot_memory.weaviate_backend.backend import WeaviateBackend

    settings = WeaviateSettings(
        http_port=weaviate_server.http_port,
        grpc_port=weaviate_server.grpc_port,
        api_key=SecretStr(weaviate_server.api_key),
    )
    old, new = Memory("Standup is at 9:30.", Scope(1)), Memory("The standup is at 9:30.", Scope(1))
    kept = Memory("Lunch is at noon.", Scope(1))
    vectors = await minilm.embed([old.text, new.text, kept.text])
    backend = WeaviateBackend(settings, minilm)
    await backend.open()

    async def crash(*_args: Any) -> int:
        raise CrashBeforeDelete

    try:
        await backend.add([old, kept], vectors[[0, 2]])
        monkeypatch.setattr(backend, "delete", crash)
        with pytest.raises(CrashBeforeDelete):
            await backend.add([new], vectors[1:2], replaces=[old.id])
        stored = weaviate_server.data.collection("IntelbotMemory").tenants["g1"].objects
        assert sorted(obj.properties["memory_id"] for obj in stored.values()) == sorted([old.id, new.id, kept.id])
        hits = await backend.search(MemorySearch(Scope(1), vectors[0], limit=5, now=0))
        assert [hit.memory.id for hit in hits] == [new.id, kept.id], "the replaced memory is hidden"
    finally:
        await backend.close()

    reopened = WeaviateBackend(settings, minilm)
    await reopened.open()  # completes the interrupted merge
    try:
        stored = weaviate_server.data.collection("IntelbotMemory").tenants["g1"].objects
        assert sorted(obj.properties["memory_id"] for obj in stored.values()) == sorted([new.id, kept.id])
        merged = next(obj for obj in stored.values() if obj.properties["memory_id"] == new.id)
        assert merged.properties["merge_pending"] == "" and merged.properties["replaces"] == [old.id]
        assert await reopened.complete_merges() == 0
    finally:
        await reopened.close()
