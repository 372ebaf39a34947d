"""``/cache stats|clear`` through the loopback Discord, and ``intelbot cache stats|clear`` through the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import hikari
import pytest
from click.testing import CliRunner

from intelbot import Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.kernel import Kernel
from intelbot.settings import load_settings
from intelbot.testing.discord.harness import DEFAULT_GUILD
from intelbot_semantic_cache.cli import cache_group
from intelbot_semantic_cache.discord_commands import NOT_ALLOWED


async def test_cache_stats_and_clear_in_discord(make_kernel: Any, make_discord: Any, minilm: Embedder) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"])
    for guild in (DEFAULT_GUILD, DEFAULT_GUILD, DEFAULT_GUILD + 1):
        await kernel.ask("What are the rules of this server?", TurnContext(guild_id=guild))
    discord = await make_discord(kernel)

    stats = await discord.slash("cache", "stats")
    assert "1 entries for this server (2 in all)" in stats.text
    assert "1 exact" in stats.text

    refused = await discord.slash("cache", "clear")
    assert refused.contents == [NOT_ALLOWED]
    admin = discord.member(704, permissions=hikari.Permissions.MANAGE_GUILD)
    cleared = await discord.slash("cache", "clear", user=admin)
    assert cleared.contents == ["Removed 1 cached answers of this server."]
    assert all(message.ephemeral for message in cleared.messages + refused.messages + stats.messages)

    here = await kernel.ask("What are the rules of this server?", TurnContext(guild_id=DEFAULT_GUILD))
    elsewhere = await kernel.ask("What are the rules of this server?", TurnContext(guild_id=DEFAULT_GUILD + 1))
    assert (here.source, elsewhere.source) == (Source.PROVIDER, Source.CACHE)


def test_cli_stats_and_clear(minilm: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INTELBOT_LLM__DEFAULT_MODEL", "echo")
    monkeypatch.setenv("INTELBOT_LOAD_PLUGINS", "semantic_cache")

    async def fill() -> None:
        kernel = await Kernel.start(load_settings())
        try:
            for guild in (3, 4):
                await kernel.ask("How do I join the voice channel?", TurnContext(guild_id=guild))
        finally:
            await kernel.stop()

    asyncio.run(fill())
    runner = CliRunner()
    stats = runner.invoke(cache_group, ["stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout.strip().splitlines()[-1])["entries"] == 2
    cleared = runner.invoke(cache_group, ["clear", "--guild", "3"])
    assert cleared.exit_code == 0, cleared.output
    assert "removed 1 entries of guild 3" in cleared.stdout
    everything = runner.invoke(cache_group, ["clear"])
    assert "removed 1 entries" in everything.stdout

    monkeypatch.setenv("INTELBOT_LOAD_PLUGINS", "")
    missing = runner.invoke(cache_group, ["stats"])
    assert missing.exit_code == 1
    assert "not loaded" in missing.output
