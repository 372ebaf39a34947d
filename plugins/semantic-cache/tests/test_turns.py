"""The cache in real kernel turns: exact and semantic hits, misses, scope and guild isolation, what is never stored."""

from __future__ import annotations

from typing import Any

import pytest

from intelbot import LLMRequest, Message, Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.errors import IntelbotError
from intelbot.testing.kernels import loaded_plugin
from intelbot.testing.llm_servers import OpenAIServer, Reply, Status
from intelbot_semantic_cache.plugin import SemanticCachePlugin

MODEL = "gpt-4o-mini"


def settings_for(server: OpenAIServer, **cache: Any) -> dict[str, Any]:
    return {
        "providers": {"openai": server.provider_settings()},
        "llm": {"default_model": MODEL, "max_attempts": 1},
        "plugins": {"semantic_cache": {"similarity_threshold": 0.9, **cache}},
    }


def chat_requests(server: OpenAIServer) -> int:
    return sum(1 for request in server.requests if request.path.endswith("/chat/completions"))


async def test_exact_hit_skips_the_provider_and_reports_savings(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))
    first = await kernel.ask("What is the capital of France?", TurnContext(guild_id=1))
    assert first.source is Source.PROVIDER
    second = await kernel.ask("what is the capital of france", TurnContext(guild_id=1))
    assert chat_requests(openai_server) == 1
    assert second.source is Source.CACHE
    assert second.served_by == "semantic_cache"
    assert second.text == first.text
    assert second.cost_usd == 0.0
    assert second.metadata["cache_hit"] == "exact"
    assert second.metadata["saved_input_tokens"] == first.usage.input_tokens
    assert second.metadata["saved_output_tokens"] == first.usage.output_tokens
    assert second.metadata["saved_usd"] == pytest.approx(first.cost_usd)
    assert first.cost_usd > 0
    stats = (await kernel.stats())["semantic_cache"]
    assert stats["hits_exact"] == 1 and stats["misses"] == 1 and stats["entries"] == 1
    assert stats["usd_saved"] == pytest.approx(first.cost_usd, abs=1e-6)
    assert kernel.metrics.get_sample_value("intelbot_cache_hits_total", {"kind": "exact"}) == 1.0
    assert kernel.metrics.get_sample_value("intelbot_cache_entries") == 1.0


async def test_semantic_hit_and_miss(make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))
    stored = await kernel.ask("How do I reset my password?", TurnContext(guild_id=1))
    paraphrase = await kernel.ask("How can I reset my password?", TurnContext(guild_id=1))
    assert paraphrase.source is Source.CACHE
    assert paraphrase.metadata["cache_hit"] == "semantic"
    assert 0.9 <= paraphrase.metadata["similarity"] < 1.0
    assert paraphrase.text == stored.text
    unrelated = await kernel.ask("What is the boiling point of water on Mars?", TurnContext(guild_id=1))
    assert unrelated.source is Source.PROVIDER
    assert chat_requests(openai_server) == 2
    stats = (await kernel.stats())["semantic_cache"]
    assert (stats["hits_semantic"], stats["misses"], stats["entries"]) == (1, 2, 2)


async def test_guilds_are_isolated_unless_sharing_is_on(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))
    await kernel.ask("Which channel has the rules?", TurnContext(guild_id=1))
    other_guild = await kernel.ask("Which channel has the rules?", TurnContext(guild_id=2))
    assert other_guild.source is Source.PROVIDER
    same_guild = await kernel.ask("Which channel has the rules?", TurnContext(guild_id=1))
    assert same_guild.source is Source.CACHE

    shared = await make_kernel(
        plugins=["semantic_cache"], settings=settings_for(openai_server, share_across_guilds=True)
    )
    await shared.ask("Which channel has the rules?", TurnContext(guild_id=1))
    assert (await shared.ask("Which channel has the rules?", TurnContext(guild_id=2))).source is Source.CACHE


async def test_scope_includes_system_prompt_model_and_sampling(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))

    def request(**changes: Any) -> LLMRequest:
        values: dict[str, Any] = {
            "messages": [Message("user", "Tell me a joke about cats")],
            "model": MODEL,
            "system": "Be brief.",
        }
        values.update(changes)
        return LLMRequest(**values)

    await kernel.complete(request(), TurnContext(guild_id=5))
    assert (await kernel.complete(request(), TurnContext(guild_id=5))).source is Source.CACHE
    for changed in (
        request(system="Be verbose."),
        request(temperature=1.2),
        request(max_tokens=5),
        request(model="gpt-4-1"),
        request(tier="small"),
        request(
            messages=[
                Message("user", "hi"),
                Message("assistant", "hello"),
                Message("user", "Tell me a joke about cats"),
            ]
        ),
    ):
        assert (await kernel.complete(changed, TurnContext(guild_id=5))).source is Source.PROVIDER
    assert chat_requests(openai_server) == 7


async def test_errors_truncated_and_uncacheable_answers_are_not_stored(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))
    question = "Summarise the server rules"
    openai_server.script(Status(500))
    with pytest.raises(IntelbotError):
        await kernel.ask(question, TurnContext(guild_id=1))
    openai_server.script(Reply("The rules are", stop_reason="length"))
    truncated = await kernel.ask(question, TurnContext(guild_id=1))
    assert truncated.source is Source.PROVIDER and not truncated.complete
    openai_server.script(Reply("", refusal="I cannot help with that"))
    await kernel.ask(question, TurnContext(guild_id=1))
    uncacheable = await kernel.ask(question, TurnContext(guild_id=1), cacheable=False)
    assert uncacheable.source is Source.PROVIDER
    stats = (await kernel.stats())["semantic_cache"]
    assert stats["entries"] == 0
    assert stats["skipped_max_tokens"] == 1 and stats["skipped_uncacheable"] == 1 and stats["bypassed"] == 1
    again = await kernel.ask(question, TurnContext(guild_id=1))
    assert again.source is Source.PROVIDER
    assert (await kernel.ask(question, TurnContext(guild_id=1))).source is Source.CACHE


async def test_an_uncacheable_request_is_not_served_from_the_cache(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings_for(openai_server))
    await kernel.ask("What time is it in Tokyo?", TurnContext(guild_id=1))
    fresh = await kernel.ask("What time is it in Tokyo?", TurnContext(guild_id=1), cacheable=False)
    assert fresh.source is Source.PROVIDER
    assert chat_requests(openai_server) == 2


async def test_without_an_embedder_exact_matches_still_work(
    make_kernel: Any, openai_server: OpenAIServer, clock: Any
) -> None:
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=None)], settings=settings_for(openai_server)
    )
    assert loaded_plugin(kernel, SemanticCachePlugin).embedder_override is None
    await kernel.ask("How do I reset my password?", TurnContext(guild_id=1))
    assert (await kernel.ask("How do I reset my password", TurnContext(guild_id=1))).source is Source.CACHE
    assert (await kernel.ask("How can I reset my password?", TurnContext(guild_id=1))).source is Source.PROVIDER
    assert any("exact matches only" in line for line in await kernel.health())
