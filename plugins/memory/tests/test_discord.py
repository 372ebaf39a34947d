"""/remember, /recall, /forget and /ask with the memory plugin, through real hikari and lightbulb against the
loopback Discord, in both connection modes."""

from __future__ import annotations

from typing import Any

import pytest

from intelbot.embedding import Embedder
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.openai_server import OpenAIServer
from intelbot.testing.scripted_replies import Reply
from intelbot_memory.plugin import MemoryPlugin

MODEL = "gpt-4o-mini"


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_a_remembered_fact_augments_a_later_ask_and_stays_in_its_guild(
    make_kernel: Any, make_discord: Any, openai_server: OpenAIServer, minilm: Embedder, discord_mode: str
) -> None:
    kernel = await make_kernel(
        plugins=[MemoryPlugin.configured(embedder=minilm)],
        settings={
            "providers": {"openai": openai_server.provider_settings()},
            "llm": {"default_model": MODEL, "max_attempts": 1},
        },
    )
    discord = await make_discord(kernel)
    alice, bob = discord.member(703), discord.member(704)

    stored = await discord.slash("remember", user=alice, text="The staging database lives on host db-7.")
    assert stored.messages[-1].content == "Remembered." and stored.messages[-1].ephemeral

    openai_server.script(Reply("It is on db-7."))
    answer = await discord.slash("ask", user=bob, question="Which host is the staging database on?")
    chat = [request for request in openai_server.requests if request.path.endswith("/chat/completions")][-1]
    system = " ".join(m["content"] for m in chat.body["messages"] if m["role"] == "system")
    assert "The staging database lives on host db-7." in system
    assert "1 memory used" in answer.text

    recalled = await discord.slash("recall", user=bob, query="staging database host")
    assert recalled.messages[-1].content.startswith("1. The staging database lives on host db-7. (")
    elsewhere = await discord.slash("recall", user=alice, query="staging database host", guild_id=DEFAULT_GUILD + 9)
    assert elsewhere.messages[-1].content == "Nothing remembered matches that."
    in_dm = await discord.slash("recall", user=alice, query="staging database host", guild_id=None)
    assert in_dm.messages[-1].content == "Nothing remembered matches that."

    by_bob = await discord.slash("forget", user=bob)
    assert by_bob.messages[-1].content == "Forgot 0 memories."
    by_alice = await discord.slash("forget", user=alice)
    assert by_alice.messages[-1].content == "Forgot 1 memory."
    gone = await discord.slash("recall", user=bob, query="staging database host")
    assert gone.messages[-1].content == "Nothing remembered matches that."


async def test_direct_message_memories_belong_to_one_user(
    make_kernel: Any, make_discord: Any, minilm: Embedder
) -> None:
    discord = await make_discord(await make_kernel(plugins=[MemoryPlugin.configured(embedder=minilm)]))
    alice, bob = discord.member(703), discord.member(704)
    await discord.slash("remember", user=alice, text="My dentist appointment is on the 14th.", guild_id=None)
    mine = await discord.slash("recall", user=alice, query="when is the dentist?", guild_id=None)
    theirs = await discord.slash("recall", user=bob, query="when is the dentist?", guild_id=None)
    in_guild = await discord.slash("recall", user=alice, query="when is the dentist?")
    assert mine.messages[-1].content.startswith("1. My dentist appointment is on the 14th.")
    assert theirs.messages[-1].content == "Nothing remembered matches that."
    assert in_guild.messages[-1].content == "Nothing remembered matches that."
