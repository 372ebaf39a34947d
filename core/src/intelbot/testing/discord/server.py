"""The loopback Discord: REST API and gateway on one aiohttp server at 127.0.0.1, plus the test key pair."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Self

import nacl.signing
from aiohttp import web

from intelbot.testing.discord import payloads
from intelbot.testing.discord.gateway import DiscordGateway
from intelbot.testing.discord.records import InteractionRecord, RestCall
from intelbot.testing.discord.rest import API_PREFIX, DiscordRest

TEST_OWNER_ID = 100_000_000_000_000_001


class LoopbackDiscord:
    """A Discord for one bot application, on 127.0.0.1 only.

    ``rest_url`` is what the bot passes to hikari as ``rest_url``; ``/gateway/bot``
    points hikari at the websocket of the same server. ``signing_key`` is the
    application's Ed25519 key: its public half is the application's ``verify_key``
    (``public_key`` in settings), its private half signs the interactions sent to
    the bot's interaction server.
    """

    def __init__(
        self,
        *,
        application_id: int | None = None,
        owner_id: int = TEST_OWNER_ID,
        heartbeat_interval_ms: int = 41_250,
        clock: Callable[[], float] = time.monotonic,
        signing_key: nacl.signing.SigningKey | None = None,
    ) -> None:
        self.application_id = application_id or payloads.snowflake()
        self.token = payloads.bot_token(self.application_id)
        self.signing_key = signing_key or nacl.signing.SigningKey.generate()
        self.public_key_hex = self.signing_key.verify_key.encode().hex()
        self.owner_id = owner_id
        self.clock = clock
        self.rest = DiscordRest(
            application_id=self.application_id,
            token=self.token,
            verify_key_hex=self.public_key_hex,
            owner_id=owner_id,
            clock=clock,
        )
        self.gateway = DiscordGateway(
            token=self.token,
            bot_user=self.rest.bot_user,
            application_id=self.application_id,
            heartbeat_interval_ms=heartbeat_interval_ms,
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def requests(self) -> list[RestCall]:
        return self.rest.requests

    @property
    def interactions(self) -> dict[int, InteractionRecord]:
        return self.rest.interactions

    def requests_to(self, path_part: str) -> list[RestCall]:
        """Recorded requests whose path contains ``path_part``."""
        return [r for r in self.rest.requests if path_part in r.path]

    async def start(self) -> Self:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        self.rest.add_routes(app)
        self.gateway.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self.gateway.url = f"ws://127.0.0.1:{self.port}/gateway"
        self.rest.gateway_url = self.gateway.url
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
