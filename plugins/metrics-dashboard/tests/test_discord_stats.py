"""Discord ``/stats`` through the loopback Discord (both modes): the summary of /api/summary, ephemeral, no pings."""

from __future__ import annotations

import json
from typing import Any

import hikari
import pytest

from intelbot.contract import TurnContext
from intelbot.testing.discord.harness import DEFAULT_GUILD, SlashResult
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import OpenAIServer

from .conftest import boot, run_workload

OWNER = 777_000_000_000_000_001

OTHER_GUILD = 555_000_000_000_000_005


def embed_of(result: SlashResult) -> dict[str, Any]:
    """The one embed of the initial response (the HTTP reply in interactions mode, the callback in gateway mode)."""
    if result.reply is not None and result.reply.body:
        data = json.loads(result.reply.body)["data"]
    else:
        assert result.callback is not None
        data = result.callback.data
    assert data["flags"] & hikari.MessageFlag.EPHEMERAL
    assert data["allowed_mentions"] == {"parse": []} or data["allowed_mentions"].get("parse") == []
    (embed,) = data["embeds"]
    return dict(embed)


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed["fields"]}


@pytest.mark.parametrize("discord_mode", ["interactions", "gateway"])
async def test_stats_for_members_managers_and_owners(
    make_kernel: KernelFactory, openai_server: OpenAIServer, make_discord: Any
) -> None:
    kernel, _plugin = await boot(make_kernel, openai_server)
    done = await run_workload(kernel, openai_server)
    for _ in range(2):
        await kernel.ask("a question of this server", TurnContext(guild_id=DEFAULT_GUILD, user_id=4))
    await kernel.ask("another server's question", TurnContext(guild_id=OTHER_GUILD, user_id=5))
    answered = done.answered + 3
    cached = done.cached + 1
    discord = await make_discord(kernel, owner_ids=(OWNER,))

    member = fields(embed_of(await discord.slash("stats")))
    assert member["Turns"].startswith(f"{answered:,} in all, {answered:,} today")
    assert f"cache {cached:,}" in member["Turns"]
    assert f"hit rate {cached / answered:.1%} ({cached:,} turns)" == member["Cache"]
    assert "openai/primary: " in member["Breakers"]
    assert "server_error" in member["Errors (since start)"]
    assert "This server today" not in member and "Top servers by spend today" not in member

    manager = discord.member(704, permissions=hikari.Permissions.MANAGE_GUILD)
    managed = fields(embed_of(await discord.slash("stats", user=manager)))
    here = await kernel.ledger.summary(guild_id=DEFAULT_GUILD)
    assert managed["This server today"] == f"${here.cost_usd:.4f} ({here.calls:,} calls)"
    assert here.calls == 2 and here.cost_usd > 0  # the provider call and the cache hit (a ledger row at no cost)
    assert str(OTHER_GUILD) not in json.dumps(managed)  # a manager sees only their own server

    owner = fields(embed_of(await discord.slash("stats", user=discord.member(OWNER))))
    top = owner["Top servers by spend today"].splitlines()
    assert any(line.startswith(f"{OTHER_GUILD}: $") for line in top)
    assert any(line.startswith(f"{DEFAULT_GUILD}: $") for line in top)
    assert owner["Cost"] == member["Cost"]
