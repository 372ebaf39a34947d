"""/plugins list|enable|disable: server-side permission checks, per-guild effect, outcome by outcome."""

from __future__ import annotations

import hikari
import pytest
from sqlalchemy import text

from intelbot import LLMRequest, LLMResponse, Source, TurnContext, hookimpl
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot.testing.discord.server import TEST_OWNER_ID

OTHER_GUILD = DEFAULT_GUILD + 1
PLUGIN = "canned_cache"


class CannedCache:
    """A stand-in for the semantic cache: answers every call itself, before the provider."""

    name = PLUGIN

    @hookimpl(tryfirst=True)
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse:
        return LLMResponse(text=f"cached: {request.prompt}", model=request.model, provider="cache", source=Source.CACHE)


@pytest.fixture
async def discord(make_kernel, make_discord) -> DiscordHarness:
    return await make_discord(await make_kernel(plugins=[CannedCache()]))


def answered_by_cache(result) -> bool:
    return result.contents[0].startswith("cached: ")


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_member_without_manage_server_is_refused(discord: DiscordHarness) -> None:
    member = discord.member(601)  # Discord hid nothing: the bot must check by itself

    result = await discord.slash("plugins", "disable", user=member, name=PLUGIN)

    [message] = result.messages
    assert message.ephemeral and "Manage Server" in message.content
    assert discord.kernel.plugin_enabled_for(DEFAULT_GUILD, PLUGIN)
    assert answered_by_cache(await discord.slash("ask", question="still cached?"))


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_admin_disables_for_their_guild_only(discord: DiscordHarness) -> None:
    admin = discord.member(602, permissions=hikari.Permissions.MANAGE_GUILD)

    result = await discord.slash("plugins", "disable", user=admin, name=PLUGIN)

    assert result.messages[-1].content == f"`{PLUGIN}`: disabled"
    assert result.messages[-1].ephemeral
    here = await discord.slash("ask", question="who answers here?")
    elsewhere = await discord.slash("ask", question="who answers there?", guild_id=OTHER_GUILD)
    assert here.contents[0].startswith("Echo: who answers here?")
    assert answered_by_cache(elsewhere)

    listing = await discord.slash("plugins", "list", user=discord.member(603))
    assert f"`{PLUGIN}`: off in this server" in listing.text
    listing_elsewhere = await discord.slash("plugins", "list", guild_id=OTHER_GUILD)
    assert f"`{PLUGIN}`: on" in listing_elsewhere.text

    enabled = await discord.slash("plugins", "enable", user=admin, name=PLUGIN)
    assert enabled.messages[-1].content == f"`{PLUGIN}`: enabled"
    assert answered_by_cache(await discord.slash("ask", question="back?"))


async def test_outcomes_are_reported_one_by_one(discord: DiscordHarness) -> None:
    admin = discord.member(604, permissions=hikari.Permissions.ADMINISTRATOR)

    first = await discord.slash("plugins", "enable", user=admin, name=f"{PLUGIN}, no_such_plugin builtin:echo")
    second = await discord.slash("plugins", "disable", user=admin, name=f"{PLUGIN} {PLUGIN}")
    third = await discord.slash("plugins", "disable", user=admin, name=PLUGIN)

    assert first.messages[-1].content.splitlines() == [
        f"`{PLUGIN}`: already enabled",
        "`no_such_plugin`: unknown plugin",
        "`builtin:echo`: unknown plugin",
    ]
    assert second.messages[-1].content == f"`{PLUGIN}`: disabled"
    assert third.messages[-1].content == f"`{PLUGIN}`: already disabled"


async def test_switch_that_fails_reports_the_reason(discord: DiscordHarness) -> None:
    admin = discord.member(605, permissions=hikari.Permissions.MANAGE_GUILD)
    async with discord.kernel.database.engine.begin() as connection:  # the switch can no longer be stored
        await connection.execute(text("DROP TABLE guild_plugin_switches"))

    result = await discord.slash("plugins", "disable", user=admin, name=PLUGIN)

    line = result.messages[-1].content
    assert line == f"`{PLUGIN}`: failed: OperationalError"
    assert discord.kernel.plugin_enabled_for(DEFAULT_GUILD, PLUGIN)


async def test_bot_owner_may_switch_without_guild_permissions(discord: DiscordHarness) -> None:
    owner = discord.member(TEST_OWNER_ID)  # the application's owner, as Discord reports it

    result = await discord.slash("plugins", "disable", user=owner, name=PLUGIN)

    assert result.messages[-1].content == f"`{PLUGIN}`: disabled"


async def test_switching_in_a_dm_is_refused(discord: DiscordHarness) -> None:
    result = await discord.slash("plugins", "disable", user=discord.member(TEST_OWNER_ID), guild_id=None, name=PLUGIN)

    assert "in a server" in result.messages[-1].content
