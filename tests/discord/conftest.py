"""A guard run after every Discord test: the bot never allowed a ping (the fixtures come from intelbot-testing)."""

from collections.abc import AsyncIterator

import pytest_asyncio

from intelbot.testing.discord import LoopbackDiscord

MESSAGE_PATHS = ("/callback", "/messages/", "/webhooks/", "/channels/")


@pytest_asyncio.fixture(autouse=True)
async def every_message_has_no_allowed_mentions(loopback_discord: LoopbackDiscord) -> AsyncIterator[None]:
    """After each test: every message the bot created or edited carried ``allowed_mentions: {"parse": []}``."""
    yield
    for request in loopback_discord.requests:
        if request.method not in ("POST", "PATCH") or not any(part in request.path for part in MESSAGE_PATHS):
            continue
        body = request.body.get("data") if request.path.endswith("/callback") else request.body
        assert body["allowed_mentions"] == {"parse": []}, f"{request.method} {request.path}: {body}"
