"""Turns outside any guild are private to their user and front end (issue 9, item 9)."""

from __future__ import annotations

from typing import Any

from intelbot import LLMRequest, Message, Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.testing.llm_servers import OpenAIServer, Reply
from intelbot_semantic_cache.scope import scope_key

MODEL = "gpt-4o-mini"


def settings_for(server: OpenAIServer, **cache: Any) -> dict[str, Any]:
    return {
        "providers": {"openai": server.provider_settings()},
        "llm": {"default_model": MODEL, "max_attempts": 1},
        "plugins": {"semantic_cache": {"similarity_threshold": 0.9, **cache}},
    }


def dm(user_id: int) -> TurnContext:
    return TurnContext(guild_id=None, user_id=user_id, frontend="discord")


async def test_a_dm_answer_is_served_to_its_user_only_never_to_another_user_or_the_operator(
    make_kernel: Any, openai_server: OpenAIServer, minilm: Embedder
) -> None:
    settings = settings_for(openai_server, share_across_guilds=True)
    kernel = await make_kernel(plugins=["semantic_cache"], settings=settings)
    openai_server.script(Reply("Alice, your order 1234 ships Monday."))
    alice = await kernel.ask("When does my order ship?", dm(1))
    assert alice.source is Source.PROVIDER

    again = await kernel.ask("When will my order ship?", dm(1))  # a paraphrase, same user: served
    assert again.source is Source.CACHE and again.text == alice.text

    bob = await kernel.ask("When will my order ship?", dm(2))
    assert bob.source is Source.PROVIDER and bob.text != alice.text
    operator = await kernel.ask("When does my order ship?", TurnContext(frontend="console"))
    assert operator.source is Source.PROVIDER and operator.text != alice.text
    cli = await kernel.ask("When does my order ship?", TurnContext(frontend="cli"))
    assert cli.source is Source.CACHE and cli.text == operator.text  # the console and CLI are one operator
    in_a_guild = await kernel.ask("When does my order ship?", TurnContext(guild_id=5, user_id=1))
    assert in_a_guild.source is Source.PROVIDER


def test_guild_scopes_do_not_depend_on_the_user_or_front_end() -> None:
    request = LLMRequest(messages=[Message("user", "hi")], model=MODEL)
    keys = {
        scope_key(request, 7, share_across_guilds=False, user_id=user, frontend=frontend)
        for user in (None, 1, 2)
        for frontend in ("discord", "api")
    }
    assert len(keys) == 1
    private = {
        scope_key(request, None, share_across_guilds=False, user_id=user, frontend=frontend)
        for user, frontend in ((1, "discord"), (2, "discord"), (None, "console"), (1, "api"))
    }
    assert len(private) == 4
