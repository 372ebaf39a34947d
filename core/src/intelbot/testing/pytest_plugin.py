"""pytest fixtures of the intelbot test kit (loaded through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from intelbot.testing.discord.fixtures import discord, discord_mode, loopback_discord, make_discord
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import anthropic_server, openai_server
from intelbot.testing.redis_server import private_redis

__all__ = [
    "anthropic_server",
    "discord",
    "discord_mode",
    "loopback_discord",
    "make_discord",
    "make_kernel",
    "openai_server",
    "private_redis",
]


@pytest_asyncio.fixture
async def make_kernel(tmp_path: Path) -> AsyncIterator[KernelFactory]:
    """``kernel = await make_kernel(plugins=[...], settings={...})``; every kernel is stopped at teardown."""
    factory = KernelFactory(tmp_path / "kernels")
    try:
        yield factory
    finally:
        await factory.close()
