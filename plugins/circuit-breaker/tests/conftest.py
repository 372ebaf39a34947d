"""Fixtures of the circuit-breaker tests: a controllable clock and unique Redis key prefixes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as redis_asyncio

from intelbot_circuit_breaker.manual_clock import ManualClock

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest_asyncio.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"intelbot-test:breaker:{uuid.uuid4().hex}"
    yield prefix
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
