"""Spend reservations shared by replicas through Redis, and their fallback to the process when Redis stops.

The shared tests use the test Redis (``INTELBOT_TEST_REDIS_URL``) under a unique key
prefix, deleted afterwards; the tests that stop Redis use a private ``redis-server``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import pytest_asyncio

from intelbot.redis_failover import RedisFailover, redis_client
from intelbot.spend_reservations import FailoverReservations, RedisReservations
from intelbot.spending import SpendingCap, SpendScope
from intelbot.testing.clock import ManualClock
from intelbot.testing.redis_server import PrivateRedis

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("INTELBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GUILD = 7


class SharedLedger:
    """``spent_since`` of replicas sharing one ledger: what is in it, and reads that can be held mid-way."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.reading = asyncio.Event()
        self._resumed = asyncio.Event()
        self._hold_next = False

    def hold(self) -> None:
        self._hold_next = True

    def resume(self) -> None:
        self._resumed.set()

    async def __call__(self, scope: SpendScope, since: datetime) -> float:
        amount = self.spent  # what the ledger holds when the read starts
        if self._hold_next:
            self._hold_next = False
            self.reading.set()
            await self._resumed.wait()
        return amount


@pytest_asyncio.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses on the shared Redis; its keys are deleted afterwards."""
    prefix = f"intelbot-test:spend:{uuid.uuid4().hex}"
    yield prefix
    client = redis_client(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def replica(url: str, prefix: str, ledger: SharedLedger, cap: float, **failover: object) -> SpendingCap:
    shared = RedisFailover.from_url(url, purpose="spend reservations", **failover)  # type: ignore[arg-type]
    reservations = FailoverReservations(RedisReservations(shared.client, prefix=prefix), shared)

    async def settle() -> None:
        return None

    return SpendingCap(cap, ledger, reservations=reservations, settle=settle)


async def test_two_replicas_near_the_cap_hold_only_the_calls_that_fit(prefix: str) -> None:
    ledger = SharedLedger()
    ledger.spent = 0.25
    replicas = [replica(REDIS_URL, prefix, ledger, 1.0) for _ in range(2)]  # room for 3 calls of 0.25 after 0.25
    inside = asyncio.Event()
    sorted_out = asyncio.Event()
    held = 0
    refusals: list[str] = []

    async def call(cap: SpendingCap) -> None:
        nonlocal held
        async with cap.reserve(GUILD, 0.25) as refusal:
            if refusal is not None:
                refusals.append(refusal)
            else:
                held += 1
            if held + len(refusals) == 10:
                sorted_out.set()
            if refusal is None:
                await inside.wait()  # every call that fits is running at once

    try:
        tasks = [asyncio.create_task(call(replicas[n % 2])) for n in range(10)]
        await asyncio.wait_for(sorted_out.wait(), 10)
        assert held == 3 and len(refusals) == 7  # in-process reservations would let each replica hold 3
        assert all("$0.7500 held by answers in progress" in refusal for refusal in refusals)
        inside.set()
        await asyncio.gather(*tasks)
        async with replicas[0].reserve(GUILD, 0.75) as after:  # every reservation was released
            assert after is None
    finally:
        for cap in replicas:
            await cap.aclose()


async def test_a_call_ending_on_another_replica_during_a_read_still_counts_for_it(prefix: str) -> None:
    ledger = SharedLedger()
    first, second = (replica(REDIS_URL, prefix, ledger, 1.0) for _ in range(2))
    try:
        running = first.reserve(GUILD, 0.6)
        assert await running.__aenter__() is None
        ledger.hold()  # the second replica's read sees the ledger before the first call's row is in it
        later = asyncio.create_task(_refusal(second, GUILD, 0.6))
        await ledger.reading.wait()
        ledger.spent = 0.6  # the first call's row is written...
        await running.__aexit__(None, None, None)  # ...and its reservation released on the other replica
        ledger.resume()
        refusal = await later
        assert refusal is not None  # 0.6 + 0.6 would cross 1.0, though the read saw nothing spent
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_user_is_capped_across_replicas_and_guilds(prefix: str) -> None:
    ledger = SharedLedger()
    caps = []
    for _ in range(2):
        shared = RedisFailover.from_url(REDIS_URL, purpose="spend reservations")
        reservations = FailoverReservations(RedisReservations(shared.client, prefix=prefix), shared)
        caps.append(SpendingCap(0.0, ledger, user_cap_usd=1.0, reservations=reservations))
    try:
        async with caps[0].reserve(GUILD, 0.6, user_id=42) as first:
            assert first is None
            async with caps[1].reserve(None, 0.6, user_id=42) as in_a_dm:  # a DM on another replica
                assert in_a_dm is not None and "you over your daily spending cap of $1.00" in in_a_dm
            async with caps[1].reserve(GUILD + 1, 0.6, user_id=43) as someone_else:
                assert someone_else is None
    finally:
        for cap in caps:
            await cap.aclose()


async def test_reservations_move_to_memory_when_redis_stops_and_back_when_it_answers(
    private_redis: PrivateRedis,
) -> None:
    ledger = SharedLedger()
    monotonic = ManualClock(start=0.0)
    cap = replica(private_redis.url, "intelbot-test:spend", ledger, 1.0, retry_seconds=2.0, clock=monotonic,
                  timeout_seconds=0.5)  # fmt: skip
    failover = cap.failover
    assert failover is not None
    try:
        async with cap.reserve(GUILD, 0.5) as refusal:
            assert refusal is None
            await private_redis.stop()  # the reservation was made in Redis; its release fails quietly
        assert failover.degraded is not None
        async with cap.reserve(GUILD, 0.6) as in_memory, cap.reserve(GUILD, 0.6) as crossing:
            assert in_memory is None  # held in this process now
            assert crossing is not None  # which still caps this process's calls
            assert cap.reserved(GUILD) == pytest.approx(0.6)
        await private_redis.start()
        monotonic.advance(2.0)
        async with cap.reserve(GUILD, 0.9) as back:
            assert back is None
            assert failover.degraded is None
            assert cap.reserved(GUILD) == 0  # held in Redis again, not in memory
            assert await _held_in_redis(private_redis.url, GUILD) == pytest.approx(0.9)
    finally:
        await cap.aclose()


async def _held_in_redis(url: str, guild_id: int) -> float:
    client = redis_client(url)
    try:
        store = RedisReservations(client, prefix="intelbot-test:spend")
        return await store.held(f"guild:{guild_id}", now=0.0)
    finally:
        await client.aclose()


async def _refusal(cap: SpendingCap, guild_id: int, amount: float) -> str | None:
    async with cap.reserve(guild_id, amount) as refusal:
        return refusal
