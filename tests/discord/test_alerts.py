"""Operator alerts raised through the kernel reach a Discord channel, pinging nobody."""

from __future__ import annotations

import pytest

from intelbot.testing.discord import DiscordHarness, LoopbackDiscord
from intelbot.testing.discord.harness import MakeDiscord
from intelbot.testing.kernels import KernelFactory

ALERT_CHANNEL = 424242


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_an_alert_is_posted_to_its_channel_without_pings(
    discord: DiscordHarness, loopback_discord: LoopbackDiscord, discord_mode: str
) -> None:
    delivered = await discord.kernel.alert("openai: server_error at 40% @everyone", channel_id=ALERT_CHANNEL)
    assert delivered == 1
    (message,) = loopback_discord.rest.channel_messages
    assert message.channel_id == ALERT_CHANNEL
    assert message.content == "openai: server_error at 40% @everyone"
    assert not message.pings.anyone


async def test_an_alert_without_a_channel_posts_nothing(
    discord: DiscordHarness, loopback_discord: LoopbackDiscord
) -> None:
    await discord.kernel.alert("no channel configured")
    assert loopback_discord.rest.channel_messages == []


async def test_a_failing_alert_sender_is_isolated(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    received: list[tuple[str, int | None]] = []

    async def broken(message: str, channel_id: int | None) -> None:
        raise RuntimeError("channel gone")

    async def working(message: str, channel_id: int | None) -> None:
        received.append((message, channel_id))

    kernel.alert_senders.extend([broken, working])
    assert await kernel.alert("provider down", channel_id=7) == 1
    assert received == [("provider down", 7)]


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_the_sender_is_added_at_start_and_removed_at_stop(
    make_kernel: KernelFactory, make_discord: MakeDiscord, discord_mode: str
) -> None:
    kernel = await make_kernel()
    harness = await make_discord(kernel)
    assert len(kernel.alert_senders) == 1
    await harness.close()
    assert kernel.alert_senders == []
