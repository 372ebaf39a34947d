"""Discord's side of an interaction server: POST interactions signed with Ed25519, well or badly."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import nacl.signing


class Signature(StrEnum):
    """How to sign an interaction request."""

    VALID = "valid"
    WRONG_KEY = "wrong_key"  # signed, but by a key that is not the application's
    TAMPERED = "tampered"  # the body changed after signing
    MISSING = "missing"  # no signature headers at all


@dataclass(frozen=True, slots=True)
class InteractionReply:
    """The interaction server's HTTP answer."""

    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


class InteractionSender:
    """Sends interactions to a bot's interaction server the way Discord does (headers, signature, JSON)."""

    def __init__(self, signing_key: nacl.signing.SigningKey, url: str) -> None:
        if not url.startswith("http://127.0.0.1:"):
            raise ValueError(f"interaction server must be on 127.0.0.1, got {url!r}")
        self._key = signing_key
        self.url = url
        self._session: aiohttp.ClientSession | None = None

    async def send(self, payload: dict[str, Any], signature: Signature = Signature.VALID) -> InteractionReply:
        body = json.dumps(payload).encode()
        timestamp = str(int(time.time())).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Discord-Interactions/1.0 (+https://discord.com)"}
        if signature is not Signature.MISSING:
            key = self._key if signature is not Signature.WRONG_KEY else nacl.signing.SigningKey.generate()
            signed = key.sign(timestamp + body).signature
            headers["X-Signature-Ed25519"] = signed.hex()
            headers["X-Signature-Timestamp"] = timestamp.decode()
            if signature is Signature.TAMPERED:
                body = body.replace(b'"type": 2', b'"type": 2 ', 1)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)
            )
        async with self._session.post(self.url, data=body, headers=headers) as response:
            return InteractionReply(response.status, await response.read(), response.content_type)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
