"""Guards and settings of the Discord front end, without Discord."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from intelbot.errors import ConfigurationError
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.frontends.discord.guards import Guards, SlidingWindowLimit
from intelbot.settings import load_settings
from intelbot.spending import SpendingCap
from intelbot.testing.discord import ManualClock

SETTINGS = DiscordSettings(token="t", max_question_chars=10, daily_guild_cap_usd=1.0)


async def test_sliding_window_counts_only_recent_events() -> None:
    clock = ManualClock()
    limit = SlidingWindowLimit(2, 10.0, clock=clock)
    assert await limit.acquire(1) is None
    clock.advance(4)
    assert await limit.acquire(1) is None
    assert await limit.acquire(1) == pytest.approx(6.0)  # refused: the first event leaves the window in 6 s
    assert await limit.acquire(2) is None  # other users have their own window
    clock.advance(6)
    assert await limit.acquire(1) is None
    assert await limit.acquire(1) is not None


async def test_sliding_window_forgets_users_whose_events_left_the_window() -> None:
    clock = ManualClock()
    limit = SlidingWindowLimit(2, 10.0, clock=clock)
    for user in range(1000):
        assert await limit.acquire(user) is None
    clock.advance(8)
    assert await limit.acquire(5) is None  # user 5 now has events at 0 and 8
    assert len(limit) == 1000

    clock.advance(2)  # the events at 0 leave the window: only user 5 (event at 8) is kept
    assert await limit.acquire(5000) is None
    assert len(limit) == 2
    assert await limit.acquire(5) is None  # its event at 0 has left the window: one place is free
    assert await limit.acquire(5) == pytest.approx(8.0)  # refused: events at 8 and 10, the one at 8 leaves in 8 s
    assert len(limit) == 2

    clock.advance(20)
    assert await limit.acquire(7) is None
    assert len(limit) == 1  # memory is bounded by the users active in one window


async def test_zero_means_no_rate_limit() -> None:
    limit = SlidingWindowLimit(0, 10.0)
    assert all([await limit.acquire(1) is None for _ in range(100)])


@pytest.mark.parametrize(("question", "refused"), [("", True), ("  \n", True), ("x" * 11, True), ("é" * 10, False)])
def test_question_checks(question: str, refused: bool) -> None:
    async def spent(scope: object, since: datetime) -> float:
        return 0.0

    assert (Guards(SETTINGS, SpendingCap(1.0, spent)).check_question(question) is not None) is refused


def test_settings_are_read_and_checked() -> None:
    table = {"discord": {"token": "abc", "mode": "interactions", "dev_guilds": [1, "2"], "port": "8081"}}
    config = DiscordSettings.from_settings(table)
    assert (config.mode, config.dev_guilds, config.port) == ("interactions", (1, 2), 8081)
    assert "abc" not in repr(config)


@pytest.mark.parametrize(
    ("discord", "key"),
    [
        ({}, "discord.token"),
        ({"token": "abc", "mode": "websocket"}, "discord.mode"),
        ({"token": "abc", "public_key": "nothex"}, "discord.public_key"),
        ({"token": "abc", "port": "eighty"}, "discord.port"),
        ({"token": "abc", "max_question_chars": 0}, "discord.max_question_chars"),
    ],
)
def test_bad_settings_name_the_key_and_never_the_token(discord: dict, key: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DiscordSettings.from_settings({"discord": discord})
    assert raised.value.key == key
    assert key in str(raised.value)
    assert "abc" not in str(raised.value)


def test_bad_mode_in_settings_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[default.discord]\nmode = "websocket"\n', encoding="utf-8")
    (tmp_path / ".secrets.toml").write_text('[default.discord]\ntoken = "sekrit-token"\n', encoding="utf-8")

    with pytest.raises(ConfigurationError) as raised:
        DiscordSettings.from_settings(load_settings(tmp_path))

    assert raised.value.key == "discord.mode"
    assert str(tmp_path / "settings.toml") in str(raised.value)
    assert "sekrit" not in str(raised.value)


@pytest.mark.redis
async def test_replicas_share_each_users_window_through_redis() -> None:
    import os
    import uuid

    import redis.asyncio

    from intelbot.frontends.discord.guards import RedisSlidingWindowLimit

    url = os.environ.get("INTELBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"intelbot-test:{uuid.uuid4().hex}"
    clock = ManualClock(start=1_700_000_000.0)
    replicas = [
        RedisSlidingWindowLimit(redis.asyncio.Redis.from_url(url), 2, 10.0, prefix=prefix, clock=clock)
        for _ in range(2)
    ]
    try:
        first, second = (Guards(SETTINGS, SpendingCap(1.0, _no_spend), rate=replica) for replica in replicas)
        assert await first.check_rate(7) is None
        clock.advance(4)
        assert await second.check_rate(7) is None
        refused = await first.check_rate(7)  # the third call within 10 s, whichever replica gets it
        assert refused is not None and "Try again in 6 s" in refused
        assert await second.check_rate(8) is None  # other users have their own window
        clock.advance(6)
        assert await second.check_rate(7) is None
        assert await replicas[0].acquire(7) == pytest.approx(4.0)
    finally:
        cleanup = replicas[0].client
        keys = [key async for key in cleanup.scan_iter(f"{prefix}:*")]
        if keys:
            await cleanup.delete(*keys)
        for replica in replicas:
            await replica.client.aclose()


async def _no_spend(scope: object, since: datetime) -> float:
    return 0.0
