"""/usage, /health, memory commands, plugins' own commands, and failures shown without details."""

from __future__ import annotations

import hikari
import lightbulb
import pytest

from intelbot import MemoryHit, MemoryQuery, MemoryRecord, TurnContext, hookimpl
from intelbot.frontends.discord.bot import FAILURE_MESSAGE, SWITCHED_OFF_MESSAGE
from intelbot.frontends.discord.commands.memory import MEMORY_OFF
from intelbot.frontends.discord.services import DiscordServices
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import DEFAULT_GUILD

PRICED_ECHO = {"models": {"echo": {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}}}


class ListMemory:
    """An in-memory memory plugin."""

    name = "list_memory"

    def __init__(self) -> None:
        self.records: list[MemoryRecord] = []

    @hookimpl
    def store(self, record: MemoryRecord, ctx: TurnContext) -> str:
        self.records.append(record)
        return record.id

    @hookimpl
    def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit]:
        return [
            MemoryHit(record, 0.9 if query.text in record.text else 0.1, self.name)
            for record in self.records
            if record.guild_id == query.guild_id
        ]

    @hookimpl
    def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> int:
        kept = [r for r in self.records if not (r.guild_id == guild_id and r.user_id == user_id)]
        deleted = len(self.records) - len(kept)
        self.records[:] = kept
        return deleted


class CacheStatsCommands:
    """A plugin contributing its own slash command through ``discord_loaders``."""

    name = "stats_plugin"

    def __init__(self) -> None:
        self.loader = lightbulb.Loader()
        group = lightbulb.Group("cache", "Cache commands")

        @group.register
        class Stats(lightbulb.SlashCommand, name="stats", description="Cache statistics"):
            @lightbulb.invoke
            async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
                await ctx.respond(f"cache stats for {services.config.mode} mode", ephemeral=True, user_mentions=False)

        @self.loader.command
        class Explode(lightbulb.SlashCommand, name="explode", description="Always fails"):
            @lightbulb.invoke
            async def invoke(self, ctx: lightbulb.Context) -> None:
                raise RuntimeError("api_key=sk-live-secret must never reach Discord")

        self.loader.command(group)

    @hookimpl
    def discord_loaders(self) -> lightbulb.Loader:
        return self.loader


class BrokenLoadable(lightbulb.Loadable):
    async def load(self, client: lightbulb.Client) -> None:
        raise RuntimeError("this plugin's commands cannot load")

    async def unload(self, client: lightbulb.Client) -> None:
        return None


class BrokenCommands:
    name = "broken_commands"

    @hookimpl
    def discord_loaders(self) -> list[lightbulb.Loader]:
        loader = lightbulb.Loader()
        loader.add(BrokenLoadable())
        return [loader]


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_usage_reports_guild_and_user_from_the_ledger(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(settings=PRICED_ECHO))
    alice, bob = discord.member(701), discord.member(702)
    await discord.slash("ask", question="first question", user=alice)
    await discord.slash("ask", question="second question here", user=bob)
    await discord.slash("ask", question="elsewhere", user=alice, guild_id=DEFAULT_GUILD + 5)

    result = await discord.slash("usage", user=alice)

    ledger = discord.kernel.ledger
    guild = await ledger.summary(guild_id=DEFAULT_GUILD)
    mine = await ledger.summary(guild_id=DEFAULT_GUILD, user_id=alice.id)
    assert guild.calls == 2 and mine.calls == 1
    [message] = result.messages
    assert message.ephemeral
    lines = message.content.splitlines()
    assert lines[0] == f"This server, today: {guild.tokens:,} tokens, ${guild.cost_usd:.4f} (2 calls)"
    assert lines[1] == f"This server, this month: {guild.tokens:,} tokens, ${guild.cost_usd:.4f} (2 calls)"
    assert lines[2] == f"You in this server, today: {mine.tokens:,} tokens, ${mine.cost_usd:.4f} (1 call)"


async def test_health_shows_the_kernel_lines(discord: DiscordHarness) -> None:
    result = await discord.slash("health")

    [message] = result.messages
    assert message.ephemeral
    assert message.content.startswith("- discord: interactions mode")
    for line in await discord.kernel.health():
        assert f"- {line}" in message.content


@pytest.mark.parametrize("command", [("remember", {"text": "x"}), ("recall", {"query": "x"}), ("forget", {})])
async def test_memory_commands_say_memory_is_off_without_a_memory_plugin(discord: DiscordHarness, command) -> None:
    name, options = command
    result = await discord.slash(name, **options)

    [message] = result.messages
    assert message.ephemeral and message.content == MEMORY_OFF


async def test_remember_recall_forget_through_the_memory_hooks(make_kernel, make_discord) -> None:
    memory = ListMemory()
    discord = await make_discord(await make_kernel(plugins=[memory]))
    alice = discord.member(703)

    stored = await discord.slash("remember", user=alice, text="the deploy password rotates on Mondays")
    await discord.slash("remember", user=alice, text="other guild secret", guild_id=DEFAULT_GUILD + 9)
    recalled = await discord.slash("recall", user=alice, query="deploy")
    forgotten = await discord.slash("forget", user=alice)
    empty = await discord.slash("recall", user=alice, query="deploy")

    assert stored.messages[-1].content == "Remembered." and stored.messages[-1].ephemeral
    assert recalled.messages[-1].content == "1. the deploy password rotates on Mondays (0.90)"
    assert "other guild secret" not in recalled.text
    assert forgotten.messages[-1].content == "Forgot 1 memory."
    assert empty.messages[-1].content == "Nothing remembered matches that."
    assert [r.text for r in memory.records] == ["other guild secret"]


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_hook_discord_loaders_commands_are_registered_and_run(make_kernel, make_discord, discord_mode) -> None:
    discord = await make_discord(await make_kernel(plugins=[CacheStatsCommands(), BrokenCommands()]))

    result = await discord.slash("cache", "stats")

    assert result.contents == [f"cache stats for {discord_mode} mode"]
    assert discord.frontend.failed_plugins == {"broken_commands": "RuntimeError"}
    assert (await discord.slash("ask", question="still fine")).contents[0].startswith("Echo: still fine")


async def test_plugin_commands_are_refused_where_the_plugin_is_switched_off(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(plugins=[CacheStatsCommands()]))
    admin = discord.member(704, permissions=hikari.Permissions.MANAGE_GUILD)
    await discord.slash("plugins", "disable", user=admin, name="stats_plugin")

    here = await discord.slash("cache", "stats")
    elsewhere = await discord.slash("cache", "stats", guild_id=DEFAULT_GUILD + 3)

    [message] = here.messages
    assert message.ephemeral and message.content == SWITCHED_OFF_MESSAGE.format(plugin="stats_plugin")
    assert elsewhere.contents == ["cache stats for interactions mode"]
    assert discord.frontend.tracker.failed == 0


async def test_plugin_commands_are_absent_when_the_plugin_is_not_loaded(discord: DiscordHarness) -> None:
    registered = discord.loopback.rest.commands[None]

    assert set(registered) == {"ask", "remember", "recall", "forget", "plugins", "usage", "health"}


async def test_a_failing_command_tells_the_user_without_details(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(plugins=[CacheStatsCommands()]))

    result = await discord.slash("explode")

    [message] = result.messages
    assert message.content == FAILURE_MESSAGE and message.ephemeral
    assert "secret" not in result.text
    assert discord.frontend.tracker.failed == 1
