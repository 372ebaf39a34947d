"""The loopback Discord's REST API: the endpoints hikari and lightbulb call, with Discord's rules.

Implemented under ``/api/v10``: application and bot user info, ``/gateway/bot``,
command registration (global and guild: list and bulk overwrite), interaction
callbacks, the interaction webhook (original response: get, edit, delete;
follow-ups: create, get, edit, delete) and channel messages. Discord's rules
that matter to a bot are enforced: bot routes need the bot token, a callback
must come within 3 seconds and only once, webhooks need an acknowledged
interaction, message content is at most 2,000 characters. Mentions are resolved
as Discord would (see :class:`Pings`). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from intelbot.testing.discord import payloads
from intelbot.testing.discord.records import (
    CALLBACK_DEFERRED_MESSAGE,
    CALLBACK_MESSAGE,
    EPHEMERAL,
    LOADING,
    Callback,
    InteractionRecord,
    Pings,
    RestCall,
    SentMessage,
    UploadedFile,
)

API_PREFIX = "/api/v10"
MAX_CONTENT = 2000
CALLBACK_DEADLINE_SECONDS = 3.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY: web.RequestKey[Any] = web.RequestKey("intelbot_body")
FILES: web.RequestKey[list[UploadedFile]] = web.RequestKey("intelbot_files")


class DiscordError(Exception):
    """An error response in Discord's JSON shape."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return web.json_response(body, status=self.status)


class DiscordRest:
    """State and route handlers of the loopback REST API (one bot application)."""

    def __init__(
        self,
        *,
        application_id: int,
        token: str,
        verify_key_hex: str,
        owner_id: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.application_id = application_id
        self.token = token
        self.verify_key_hex = verify_key_hex
        self.owner_id = owner_id
        self.clock = clock
        self.bot_user = payloads.own_user(application_id, "intelbot")
        self.gateway_url = ""
        self.requests: list[RestCall] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.channel_messages: list[SentMessage] = []
        self.commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self._messages_by_id: dict[int, SentMessage] = {}
        self._new_request = asyncio.Event()

    async def wait_for_request(self, matches: Callable[[RestCall], bool], within: float = 10.0) -> RestCall:
        """The first recorded request that ``matches``, waiting up to ``within`` seconds for it to arrive."""
        async with asyncio.timeout(within):
            while True:
                found = next((request for request in self.requests if matches(request)), None)
                if found is not None:
                    return found
                await self._new_request.wait()
                self._new_request.clear()

    # -- registration of routes -------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_get(f"{p}/oauth2/applications/@me", self._bot(self.get_application))
        app.router.add_get(f"{p}/applications/@me", self._bot(self.get_application))
        app.router.add_get(f"{p}/users/@me", self._bot(self.get_me))
        app.router.add_get(f"{p}/gateway/bot", self._bot(self.get_gateway_bot))
        app.router.add_get(f"{p}/applications/{{app}}/commands", self._bot(self.get_commands))
        app.router.add_put(f"{p}/applications/{{app}}/commands", self._bot(self.put_commands))
        app.router.add_get(f"{p}/applications/{{app}}/guilds/{{guild}}/commands", self._bot(self.get_commands))
        app.router.add_put(f"{p}/applications/{{app}}/guilds/{{guild}}/commands", self._bot(self.put_commands))
        app.router.add_post(f"{p}/interactions/{{interaction}}/{{token}}/callback", self._open(self.post_callback))
        original = f"{p}/webhooks/{{app}}/{{token}}/messages/@original"
        app.router.add_get(original, self._open(self.get_original))
        app.router.add_patch(original, self._open(self.patch_original))
        app.router.add_delete(original, self._open(self.delete_original))
        app.router.add_post(f"{p}/webhooks/{{app}}/{{token}}", self._open(self.post_followup))
        followup = f"{p}/webhooks/{{app}}/{{token}}/messages/{{message}}"
        app.router.add_get(followup, self._open(self.get_followup))
        app.router.add_patch(followup, self._open(self.patch_followup))
        app.router.add_delete(followup, self._open(self.delete_followup))
        app.router.add_post(f"{p}/channels/{{channel}}/messages", self._bot(self.post_channel_message))
        app.router.add_route("*", p + "/{tail:.*}", self._open(self.not_found))

    def _bot(self, handler: Handler) -> Handler:
        """Wrap a route that needs ``Authorization: Bot <token>``."""

        async def with_auth(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordError(401, 0, "401: Unauthorized")
            return await handler(request)

        return self._open(with_auth)

    def _open(self, handler: Handler) -> Handler:
        """Wrap a route so that it is recorded and Discord-shaped errors become responses."""

        async def recorded(request: web.Request) -> web.StreamResponse:
            body, files = await _read_body(request)
            request[BODY] = body
            request[FILES] = files
            try:
                response = await handler(request)
            except DiscordError as error:
                response = error.response()
            self.requests.append(
                RestCall(
                    method=request.method,
                    path=request.path.removeprefix(API_PREFIX),
                    query=dict(request.query),
                    body=body,
                    files=tuple(files),
                    authorization=request.headers.get("Authorization"),
                    at=self.clock(),
                    status=response.status,
                )
            )
            self._new_request.set()
            return response

        return recorded

    # -- application ----------------------------------------------------------------------
    async def get_application(self, request: web.Request) -> web.Response:
        return web.json_response(
            payloads.application(self.application_id, "intelbot", self.owner_id, self.verify_key_hex)
        )

    async def get_me(self, request: web.Request) -> web.Response:
        return web.json_response(self.bot_user)

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        if not self.gateway_url:
            raise DiscordError(404, 0, "404: Not Found (no gateway in this loopback)")
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return web.json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    # -- commands -------------------------------------------------------------------------
    def _check_app(self, request: web.Request) -> None:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")

    async def get_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        guild = _guild_of(request)
        return web.json_response(list(self.commands.get(guild, {}).values()))

    async def put_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        guild = _guild_of(request)
        declared = request[BODY]
        if not isinstance(declared, list):
            raise DiscordError(400, 50035, "Invalid Form Body")
        previous = self.commands.get(guild, {})
        registered: dict[str, dict[str, Any]] = {}
        for command in declared:
            name = command["name"]
            old = previous.get(name)
            registered[name] = {
                "type": 1,
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": old["id"] if old else str(payloads.snowflake()),
                "application_id": str(self.application_id),
                "version": str(payloads.snowflake()),
                **({"guild_id": str(guild)} if guild is not None else {}),
            }
        self.commands[guild] = registered
        return web.json_response(list(registered.values()))

    def find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], int | None]:
        """The registered command ``name`` as Discord would pick it: the guild's, else the global one."""
        if guild_id is not None and name in self.commands.get(guild_id, {}):
            return self.commands[guild_id][name], guild_id
        if name in self.commands.get(None, {}):
            return self.commands[None][name], None
        known = {g: sorted(c) for g, c in self.commands.items()}
        raise LookupError(f"command /{name} is not registered for guild {guild_id} (registered: {known})")

    # -- interactions ---------------------------------------------------------------------
    def open_interaction(self, command: str) -> InteractionRecord:
        """Create the record of a new interaction; its 3-second callback window starts now."""
        record = InteractionRecord(
            id=payloads.snowflake(), token=f"itoken-{payloads.snowflake()}", command=command, created_at=self.clock()
        )
        self.interactions[record.id] = record
        return record

    def _interaction(self, request: web.Request) -> InteractionRecord:
        record = self.interactions.get(int(request.match_info["interaction"]))
        if record is None or record.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        return record

    def _webhook_interaction(self, request: web.Request) -> InteractionRecord:
        if int(request.match_info["app"]) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        token = request.match_info["token"]
        record = next((r for r in self.interactions.values() if r.token == token), None)
        if record is None or record.acknowledged is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return record

    async def post_callback(self, request: web.Request) -> web.StreamResponse:
        record = self._interaction(request)
        body = _data(request)
        now = self.clock()
        response_type = int(body.get("type", 0))
        if record.acknowledged is not None:
            error = DiscordError(400, 40060, "Interaction has already been acknowledged.")
        elif now - record.created_at > CALLBACK_DEADLINE_SECONDS:
            error = DiscordError(404, 10062, "Unknown interaction")
        elif response_type not in (CALLBACK_MESSAGE, CALLBACK_DEFERRED_MESSAGE):
            unsupported = {"type": f"unsupported response type {response_type}"}
            error = DiscordError(400, 50035, "Invalid Form Body", unsupported)
        else:
            data = body.get("data") or {}
            self._check_content(data)
            flags = int(data.get("flags") or 0)
            if response_type == CALLBACK_DEFERRED_MESSAGE:
                flags |= LOADING
            record.callbacks.append(Callback(response_type, now, 200, data))
            record.original = self._new_message(record.id, "callback", data, request[FILES], flags=flags, channel_id=0)
            if request.query.get("with_response", "").lower() != "true":
                return web.Response(status=204)
            return web.json_response(
                {
                    "interaction": {
                        "id": str(record.id),
                        "type": 2,
                        "response_message_id": str(record.original.id),
                        "response_message_loading": response_type == CALLBACK_DEFERRED_MESSAGE,
                        "response_message_ephemeral": bool(flags & EPHEMERAL),
                    },
                    "resource": {"type": response_type, "message": self._message_json(record.original)},
                }
            )
        record.callbacks.append(Callback(response_type, now, error.status, body))
        raise error

    async def get_original(self, request: web.Request) -> web.Response:
        return web.json_response(self._message_json(self._original(request)))

    async def patch_original(self, request: web.Request) -> web.Response:
        message = self._original(request)
        self._edit(message, request)
        return web.json_response(self._message_json(message))

    async def delete_original(self, request: web.Request) -> web.Response:
        self._original(request).deleted = True
        return web.Response(status=204)

    def _original(self, request: web.Request) -> SentMessage:
        record = self._webhook_interaction(request)
        if record.original is None or record.original.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return record.original

    async def post_followup(self, request: web.Request) -> web.Response:
        record = self._webhook_interaction(request)
        data = _data(request)
        self._check_content(data)
        message = self._new_message(record.id, "followup", data, request[FILES], flags=None, channel_id=0)
        record.followups.append(message)
        if request.query.get("wait", "").lower() != "true":
            return web.Response(status=204)
        return web.json_response(self._message_json(message))

    def _followup(self, request: web.Request) -> SentMessage:
        record = self._webhook_interaction(request)
        wanted = int(request.match_info["message"])
        message = next((m for m in record.followups if m.id == wanted and not m.deleted), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def get_followup(self, request: web.Request) -> web.Response:
        return web.json_response(self._message_json(self._followup(request)))

    async def patch_followup(self, request: web.Request) -> web.Response:
        message = self._followup(request)
        self._edit(message, request)
        return web.json_response(self._message_json(message))

    async def delete_followup(self, request: web.Request) -> web.Response:
        self._followup(request).deleted = True
        return web.Response(status=204)

    async def post_channel_message(self, request: web.Request) -> web.Response:
        data = _data(request)
        self._check_content(data)
        channel = int(request.match_info["channel"])
        message = self._new_message(None, "channel", data, request[FILES], flags=None, channel_id=channel)
        self.channel_messages.append(message)
        return web.json_response(self._message_json(message))

    async def not_found(self, request: web.Request) -> web.Response:
        raise DiscordError(404, 0, f"404: Not Found ({request.method} {request.path} is not in the loopback)")

    # -- messages -------------------------------------------------------------------------
    @staticmethod
    def _check_content(data: dict[str, Any]) -> None:
        content = data.get("content") or ""
        if len(content) > MAX_CONTENT:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer long."}]}},
            )

    def _new_message(
        self,
        interaction_id: int | None,
        via: str,
        data: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int | None,
        channel_id: int,
    ) -> SentMessage:
        now = self.clock()
        content = data.get("content") or ""
        allowed = data.get("allowed_mentions")
        message = SentMessage(
            id=payloads.snowflake(),
            channel_id=channel_id,
            interaction_id=interaction_id,
            via=via,
            content=content,
            flags=flags if flags is not None else int(data.get("flags") or 0),
            attachments=list(files),
            allowed_mentions=allowed,
            pings=Pings.of(content, allowed),
            created_at=now,
            updated_at=now,
            history=[content],
            components=numbered(data.get("components") or []),
        )
        self._messages_by_id[message.id] = message
        return message

    def _edit(self, message: SentMessage, request: web.Request) -> None:
        data = _data(request)
        self._check_content(data)
        if "content" in data:
            message.content = data["content"] or ""
            message.history.append(message.content)
        if "allowed_mentions" in data:
            message.allowed_mentions = data["allowed_mentions"]
        if "components" in data:
            message.components = numbered(data["components"] or [])
        files: list[UploadedFile] = request[FILES]
        if files or data.get("attachments") == []:
            message.attachments = list(files)
        message.flags &= ~LOADING
        message.pings = Pings.of(message.content, message.allowed_mentions)
        message.updated_at = self.clock()

    def message_json(self, message: SentMessage) -> dict[str, Any]:
        """``message`` as Discord's API returns it (and puts it in a component interaction)."""
        return self._message_json(message)

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        attachments = [
            {
                "id": str(index + 1),
                "filename": upload.filename,
                "size": len(upload.data),
                "url": f"https://cdn.loopback.invalid/{message.id}/{upload.filename}",
                "proxy_url": f"https://media.loopback.invalid/{message.id}/{upload.filename}",
                "content_type": upload.content_type,
            }
            for index, upload in enumerate(message.attachments)
        ]
        return payloads.message(
            message_id=message.id,
            channel_id=message.channel_id,
            author=self.bot_user,
            content=message.content,
            flags=message.flags,
            attachments=attachments,
            mentions=[payloads.user(user_id, f"user{user_id}") for user_id in message.pings.users],
            mention_everyone=message.pings.everyone,
            mention_roles=[str(role) for role in message.pings.roles],
            application_id=self.application_id if message.interaction_id else None,
            webhook_id=self.application_id if message.interaction_id else None,
            interaction_type=20 if message.interaction_id else 0,
            components=message.components,
        )


def numbered(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``components`` with Discord's numeric ``id`` on each one that has none (1, 2, ... in document order)."""
    counter = iter(range(1, 1_000))
    rows: list[dict[str, Any]] = []
    for row in components:
        children = [{**child, "id": child.get("id") or next(counter)} for child in row.get("components") or ()]
        rows.append({**row, "components": children})
    counter = iter(range(len(rows) + sum(len(row["components"]) for row in rows) + 1, 2_000))
    return [{**row, "id": row.get("id") or next(counter)} for row in rows]


def _data(request: web.Request) -> dict[str, Any]:
    body = request[BODY]
    return body if isinstance(body, dict) else {}


def _guild_of(request: web.Request) -> int | None:
    guild = request.match_info.get("guild")
    return int(guild) if guild is not None else None


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """The JSON body (``payload_json`` of a multipart body) and the uploaded files."""
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):  # pragma: no cover - nested multiparts are not used
                continue
            data = await part.read(decode=False)
            if part.name == "payload_json":
                body = json.loads(bytes(data))
            else:
                files.append(
                    UploadedFile(
                        field=part.name or "",
                        filename=part.filename or "",
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=bytes(data),
                    )
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    return json.loads(raw), []
