"""The loopback Discord's gateway: a websocket speaking Discord's gateway protocol v10.

HELLO on connect; IDENTIFY answered by READY (a new session); RESUME replays the
events the client missed and ends with RESUMED; every HEARTBEAT gets its ACK.
With ``compress=zlib-stream`` in the query, every payload is deflated into one
shared zlib stream and ends with a sync flush, as Discord does. Events go to
the current session with :meth:`DiscordGateway.dispatch`; :meth:`DiscordGateway.drop`
closes the connection mid-session so the client has to resume.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from intelbot.testing.discord import payloads

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

CLOSE_UNKNOWN_ERROR = 4000
CLOSE_AUTHENTICATION_FAILED = 4004


@dataclass(slots=True)
class GatewaySession:
    """A gateway session: survives connections until it is invalidated."""

    id: str
    seq: int = 0
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


@dataclass(slots=True)
class _Connection:
    ws: web.WebSocketResponse
    compressor: Any | None
    session: GatewaySession | None = None

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        if self.compressor is None:
            await self.ws.send_str(raw.decode())
        else:
            await self.ws.send_bytes(self.compressor.compress(raw) + self.compressor.flush(zlib.Z_SYNC_FLUSH))


class DiscordGateway:
    """Gateway state for one bot: sessions, the live connection and counters for assertions."""

    def __init__(
        self, *, token: str, bot_user: dict[str, Any], application_id: int, heartbeat_interval_ms: int = 41_250
    ) -> None:
        self.token = token
        self.bot_user = bot_user
        self.application_id = application_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""
        self.sessions: dict[str, GatewaySession] = {}
        self.connections = 0
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.compressions: list[str] = []
        self._current: _Connection | None = None
        self._ready = asyncio.Event()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/gateway", self.handle)

    @property
    def connected(self) -> bool:
        return self._current is not None and self._current.session is not None

    async def wait_ready(self, within: float = 10.0) -> None:
        """Wait until a connection has identified or resumed (READY or RESUMED sent)."""
        await asyncio.wait_for(self._ready.wait(), within)

    async def dispatch(self, name: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH event to the current session; buffered for RESUME when disconnected."""
        connection = self._current
        session = connection.session if connection else None
        if session is None:
            session = next(reversed(self.sessions.values()), None)
            if session is None:
                raise RuntimeError("no gateway session: the bot has not identified")
        session.seq += 1
        session.events.append((session.seq, name, data))
        if connection is not None and connection.session is session and not connection.ws.closed:
            await connection.send({"op": OP_DISPATCH, "t": name, "s": session.seq, "d": data})

    async def drop(self, code: int = CLOSE_UNKNOWN_ERROR) -> None:
        """Close the live connection (keeping its session) so the client reconnects and resumes."""
        connection = self._current
        if connection is None:
            raise RuntimeError("no live gateway connection to drop")
        self._current = None
        self._ready.clear()
        await connection.ws.close(code=code, message=b"loopback dropped the connection")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress", "")
        self.compressions.append(compress)
        self.connections += 1
        connection = _Connection(ws, zlib.compressobj() if compress == "zlib-stream" else None)
        await connection.send({"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                payload = json.loads(message.data)
                await self._on_payload(connection, payload)
        finally:
            if self._current is connection:
                self._current = None
                self._ready.clear()
        return ws

    async def _on_payload(self, connection: _Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data: dict[str, Any] = payload.get("d") or {}
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            if data.get("token") != self.token:
                await connection.ws.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
                return
            self.identifies += 1
            session = GatewaySession(id=f"session-{payloads.snowflake()}")
            self.sessions[session.id] = session
            connection.session = session
            self._current = connection
            ready = {
                "v": 10,
                "user": self.bot_user,
                "guilds": [],
                "session_id": session.id,
                "resume_gateway_url": self.url,
                "shard": data.get("shard", [0, 1]),
                "application": {"id": str(self.application_id), "flags": 0},
            }
            session.seq += 1
            await connection.send({"op": OP_DISPATCH, "t": "READY", "s": session.seq, "d": ready})
            self._ready.set()
        elif op == OP_RESUME:
            resumed = self.sessions.get(data.get("session_id", ""))
            if resumed is None or data.get("token") != self.token:
                await connection.send({"op": OP_INVALID_SESSION, "d": False})
                return
            self.resumes += 1
            connection.session = resumed
            self._current = connection
            last_seen = int(data.get("seq") or 0)
            for seq, name, event in resumed.events:
                if seq > last_seen:
                    await connection.send({"op": OP_DISPATCH, "t": name, "s": seq, "d": event})
            resumed.seq += 1
            await connection.send({"op": OP_DISPATCH, "t": "RESUMED", "s": resumed.seq, "d": {}})
            self._ready.set()
