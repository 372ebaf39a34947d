"""pytest fixtures for testing Discord commands against the loopback Discord.

- ``loopback_discord``: a started :class:`LoopbackDiscord` (REST + gateway on 127.0.0.1).
- ``discord_mode``: ``"interactions"`` unless parametrized
  (``@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])``).
- ``make_discord``: ``harness = await make_discord(kernel, mode=None, **settings)`` boots the
  front end of ``kernel`` (``mode`` defaults to ``discord_mode``; keywords override
  :class:`intelbot.discord.config.DiscordSettings` fields); stopped at teardown.
- ``discord``: a harness on a default kernel (echo model, no plugins) in ``discord_mode``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from intelbot.kernel import Kernel
from intelbot.testing.discord.harness import DiscordHarness, Mode
from intelbot.testing.discord.server import LoopbackDiscord

MakeDiscord = Callable[..., Awaitable[DiscordHarness]]


@pytest_asyncio.fixture
async def loopback_discord() -> AsyncIterator[LoopbackDiscord]:
    async with LoopbackDiscord() as loopback:
        yield loopback


@pytest.fixture
def discord_mode() -> Mode:
    return "interactions"


@pytest_asyncio.fixture
async def make_discord(loopback_discord: LoopbackDiscord, discord_mode: Mode) -> AsyncIterator[MakeDiscord]:
    harnesses: list[DiscordHarness] = []

    async def boot(kernel: Kernel, mode: Mode | None = None, **settings: Any) -> DiscordHarness:
        harness = await DiscordHarness.boot(kernel, loopback_discord, mode or discord_mode, **settings)
        harnesses.append(harness)
        return harness

    try:
        yield boot
    finally:
        for harness in reversed(harnesses):
            await harness.close()


@pytest_asyncio.fixture
async def discord(make_kernel: Callable[..., Awaitable[Kernel]], make_discord: MakeDiscord) -> DiscordHarness:
    return await make_discord(await make_kernel())
