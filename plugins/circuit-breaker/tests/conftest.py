"""Fixtures of the circuit-breaker tests: a controllable clock, the test Redis and unique Redis key prefixes.

The Redis used is ``INTELBOT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from intelbot.testing.clock import ManualClock

REDIS_URL_ENV = "INTELBOT_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000.0)


@pytest.fixture
def redis_url() -> str:
    """The Redis the tests share state through: ``INTELBOT_TEST_REDIS_URL`` or the local one."""
    return os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


@pytest_asyncio.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"intelbot-test:breaker:{uuid.uuid4().hex}"
    yield prefix
    client = redis_asyncio.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
