"""What the loopback Discord remembers: every request, every interaction, every message the bot sent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

EPHEMERAL = 1 << 6
LOADING = 1 << 7

CALLBACK_PONG = 1
CALLBACK_MESSAGE = 4
CALLBACK_DEFERRED_MESSAGE = 5

_EVERYONE = re.compile(r"@(everyone|here)\b")
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file the bot uploaded in a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class RestCall:
    """One HTTP request the bot made to the loopback REST API, and the status it got."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: tuple[UploadedFile, ...]
    authorization: str | None
    at: float
    status: int


@dataclass(frozen=True, slots=True)
class Pings:
    """Who a message would notify in real Discord, given its content and ``allowed_mentions``.

    Discord parses every mention in the content when ``allowed_mentions`` is absent;
    with it, only the kinds listed in ``parse`` and the ids listed in ``users`` / ``roles``.
    """

    everyone: bool
    users: tuple[int, ...]
    roles: tuple[int, ...]

    @property
    def anyone(self) -> bool:
        return self.everyone or bool(self.users) or bool(self.roles)

    @classmethod
    def of(cls, content: str, allowed_mentions: dict[str, Any] | None) -> Pings:
        users = [int(found) for found in _USER.findall(content)]
        roles = [int(found) for found in _ROLE.findall(content)]
        everyone = bool(_EVERYONE.search(content))
        if allowed_mentions is None:
            return cls(everyone, tuple(users), tuple(roles))
        parse = set(allowed_mentions.get("parse") or ())
        allowed_users = {int(u) for u in allowed_mentions.get("users") or ()}
        allowed_roles = {int(r) for r in allowed_mentions.get("roles") or ()}
        return cls(
            everyone=everyone and "everyone" in parse,
            users=tuple(u for u in users if "users" in parse or u in allowed_users),
            roles=tuple(r for r in roles if "roles" in parse or r in allowed_roles),
        )


@dataclass(slots=True)
class SentMessage:
    """A message as users see it: created by a callback, a follow-up or in a channel, possibly edited since.

    ``history`` keeps every version's content, oldest first; ``pings`` is computed
    for the current version.
    """

    id: int
    channel_id: int
    interaction_id: int | None
    via: str
    content: str
    flags: int
    attachments: list[UploadedFile]
    allowed_mentions: dict[str, Any] | None
    pings: Pings
    created_at: float
    updated_at: float
    history: list[str] = field(default_factory=list)
    deleted: bool = False
    components: list[dict[str, Any]] = field(default_factory=list)
    """The message's component rows as the bot sent them (Discord's JSON: action rows of buttons)."""

    def custom_ids(self) -> list[str]:
        """The ``custom_id`` of every interactive component on the message, in order."""
        return [
            str(component["custom_id"])
            for row in self.components
            for component in row.get("components") or ()
            if "custom_id" in component
        ]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred response not yet edited ("Bot is thinking...")."""
        return bool(self.flags & LOADING)


@dataclass(slots=True)
class Callback:
    """An interaction response the bot sent to ``/interactions/{id}/{token}/callback``."""

    type: int
    at: float
    status: int
    data: dict[str, Any]


@dataclass(slots=True)
class InteractionRecord:
    """One interaction the loopback created, and everything the bot did in answer to it."""

    id: int
    token: str
    command: str
    created_at: float
    callbacks: list[Callback] = field(default_factory=list)
    original: SentMessage | None = None
    followups: list[SentMessage] = field(default_factory=list)

    @property
    def acknowledged(self) -> Callback | None:
        """The accepted (2xx) callback, if any."""
        return next((cb for cb in self.callbacks if 200 <= cb.status < 300), None)

    @property
    def visible_messages(self) -> list[SentMessage]:
        """The original response (unless deleted) then the follow-ups not deleted, in creation order."""
        messages = [self.original] if self.original is not None else []
        messages.extend(self.followups)
        return [m for m in messages if not m.deleted]
