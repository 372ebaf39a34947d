"""Gateway mode: the websocket protocol (zlib-stream, heartbeats) and resuming after a dropped connection."""

from __future__ import annotations

import pytest

from intelbot.testing.discord import DiscordHarness

pytestmark = pytest.mark.parametrize("discord_mode", ["gateway"])


async def test_gateway_session_uses_zlib_stream_and_heartbeats(discord: DiscordHarness) -> None:
    gateway = discord.loopback.gateway

    assert gateway.compressions == ["zlib-stream"]
    assert gateway.identifies == 1
    assert gateway.heartbeats >= 1  # hikari sends its first heartbeat at once and gets an ACK


async def test_recovers_after_the_connection_drops_mid_session(discord: DiscordHarness) -> None:
    gateway = discord.loopback.gateway
    before = await discord.slash("ask", question="before the drop")
    assert before.contents[0].startswith("Echo: before the drop")

    await gateway.drop()
    assert not gateway.connected
    await gateway.wait_ready(within=20)  # hikari backs off 1-2 s, reconnects and sends RESUME
    after = await discord.slash("ask", question="after the drop")

    assert after.deferred and after.contents[0].startswith("Echo: after the drop")
    assert gateway.connections == 2
    assert gateway.identifies == 1 and gateway.resumes == 1  # resumed, not a new session
    assert gateway.compressions == ["zlib-stream", "zlib-stream"]
