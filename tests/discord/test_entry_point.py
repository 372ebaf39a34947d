"""``run_discord(kernel)``, the entry point of ``intelbot run``: reads [default.discord], serves, stops cleanly."""

from __future__ import annotations

import asyncio

import pytest

from intelbot.frontends.discord.bot import run_discord
from intelbot.testing.discord import LoopbackDiscord


@pytest.mark.parametrize("mode", ["gateway", "interactions"])
async def test_run_discord_reads_settings_serves_and_stops_when_cancelled(
    make_kernel, loopback_discord: LoopbackDiscord, mode: str
) -> None:
    settings = {
        "discord": {
            "token": loopback_discord.token,
            "mode": mode,
            "rest_url": loopback_discord.rest_url,
            "public_key": loopback_discord.public_key_hex,
            "host": "127.0.0.1",
            "port": 0,
            "dev_guilds": [1234],
        }
    }
    kernel = await make_kernel(settings=settings)

    task = asyncio.create_task(run_discord(kernel))
    await loopback_discord.rest.wait_for_request(lambda r: r.method == "PUT" and "/guilds/1234/" in r.path, 15)
    assert not task.done()
    assert "ask" in loopback_discord.rest.commands[1234]  # registered in the development guild
    if mode == "gateway":
        assert loopback_discord.gateway.connected
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not loopback_discord.gateway.connected
    assert all(request.authorization == f"Bot {loopback_discord.token}" for request in loopback_discord.requests)
