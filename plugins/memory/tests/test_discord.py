"""/remember, /recall, /forget and /ask with the memory plugin, through real hikari and lightbulb against the
loopback Discord, in both connection modes."""

from __future__ import annotations

import re
from typing import Any

import hikari
import pytest

from intelbot.embedding import Embedder
from intelbot.frontends.discord.commands.memory import NOT_A_MANAGER, ONLY_YOURS_IN_DMS
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.openai_server import OpenAIServer
from intelbot.testing.scripted_replies import Reply
from intelbot.testing.weaviate import LoopbackWeaviate
from intelbot_memory.plugin import MemoryPlugin
from intelbot_memory.settings import MemorySettings

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


def memory_plugin(backend: str, minilm: Embedder, weaviate: LoopbackWeaviate) -> MemoryPlugin:
    if backend == "local":
        return MemoryPlugin.configured(embedder=minilm)
    connection = {
        "http_port": weaviate.http_port,
        "grpc_port": weaviate.grpc_port,
        "api_key": weaviate.api_key,
        "retry_base_seconds": 0.01,
        "timeout_seconds": 5,
    }
    return MemoryPlugin(MemorySettings(backend="weaviate", weaviate=connection), embedder=minilm)  # type: ignore[arg-type]


MANAGER = (
    hikari.Permissions.SEND_MESSAGES | hikari.Permissions.USE_APPLICATION_COMMANDS | hikari.Permissions.MANAGE_GUILD
)


@pytest.mark.parametrize("backend", ["local", "weaviate"])
@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_managers_forget_a_members_or_the_whole_guilds_memories_and_others_are_refused(
    make_kernel: Any, make_discord: Any, minilm: Embedder, weaviate_server: LoopbackWeaviate, backend: str
) -> None:
    discord = await make_discord(await make_kernel(plugins=[memory_plugin(backend, minilm, weaviate_server)]))
    alice, bob = discord.member(703), discord.member(704)
    moderator = discord.member(705, permissions=MANAGER)
    other_guild = DEFAULT_GUILD + 9
    await discord.slash("remember", user=alice, text="The staging database lives on host db-7.")
    await discord.slash("remember", user=bob, text="The release train leaves every Thursday.")
    await discord.slash("remember", user=alice, text="The staging database lives on host db-9.", guild_id=other_guild)

    async def recalled(query: str, guild_id: int = DEFAULT_GUILD) -> str:
        result = await discord.slash("recall", user=bob, query=query, guild_id=guild_id)
        return str(result.messages[-1].content)

    for options in ({"member": "703"}, {"everyone": True}):
        refused = await discord.slash("forget", user=bob, **options)
        assert refused.messages[-1].content == NOT_A_MANAGER and refused.messages[-1].ephemeral
    assert "db-7" in await recalled("staging database host")

    by_moderator = await discord.slash("forget", user=moderator, member="703")
    assert by_moderator.messages[-1].content == "Forgot 1 memory of <@703>."
    assert "db-7" not in await recalled("staging database host")
    assert "Thursday" in await recalled("when does the release train leave?")

    asked = await discord.slash("forget", user=moderator, everyone=True)
    prompt = asked.messages[-1].content
    assert prompt.startswith("This forgets every member's memories in this server and cannot be undone.")
    code = re.search(r"confirm:([A-Z0-9]+)`", prompt)
    assert code is not None
    assert "Thursday" in await recalled("when does the release train leave?"), "asking deletes nothing"
    wrong = await discord.slash("forget", user=moderator, everyone=True, confirm="WRONG1")
    assert wrong.messages[-1].content.startswith("That code is wrong or has expired.")
    stale = await discord.slash("forget", user=moderator, everyone=True, confirm=code.group(1))
    assert stale.messages[-1].content.startswith("That code is wrong"), "a newer code replaced the first"
    fresh = re.search(r"confirm:([A-Z0-9]+)`", stale.messages[-1].content)
    assert fresh is not None
    done = await discord.slash("forget", user=moderator, everyone=True, confirm=fresh.group(1))
    assert done.messages[-1].content == "Forgot 1 memory of this server."
    assert await recalled("when does the release train leave?") == "Nothing remembered matches that."
    assert "db-9" in await recalled("staging database host", other_guild), "another guild keeps its memories"
    again = await discord.slash("forget", user=moderator, everyone=True, confirm=fresh.group(1))
    assert again.messages[-1].content.startswith("That code is wrong"), "a code works once"


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_forget_for_someone_else_in_direct_messages_is_refused(
    make_kernel: Any, make_discord: Any, minilm: Embedder
) -> None:
    discord = await make_discord(await make_kernel(plugins=[MemoryPlugin.configured(embedder=minilm)]))
    alice, bob = discord.member(703), discord.member(704, permissions=MANAGER)
    await discord.slash("remember", user=alice, text="My dentist appointment is on the 14th.", guild_id=None)
    for options in ({"member": "703"}, {"everyone": True}):
        refused = await discord.slash("forget", user=bob, guild_id=None, **options)
        assert refused.messages[-1].content == ONLY_YOURS_IN_DMS
    mine = await discord.slash("recall", user=alice, query="when is the dentist?", guild_id=None)
    assert mine.messages[-1].content.startswith("1. My dentist appointment is on the 14th.")
    own = await discord.slash("forget", user=alice, guild_id=None, member="703")
    assert own.messages[-1].content == "Forgot 1 memory."
