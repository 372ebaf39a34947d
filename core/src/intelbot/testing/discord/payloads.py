"""JSON bodies in Discord's API v10 shapes, as the loopback Discord sends them.

Only the fields hikari reads are filled in, with the types Discord uses on the
wire (snowflakes as strings, permissions as decimal strings, ISO 8601 times).
"""

from __future__ import annotations

import base64
import datetime
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
_sequence = itertools.count(1)


def snowflake() -> int:
    """A new unique snowflake: the current time in Discord's epoch with a process-wide counter."""
    now_ms = int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)
    return ((now_ms - DISCORD_EPOCH_MS) << 22) | (next(_sequence) & 0x3FFFFF)


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def bot_token(application_id: int) -> str:
    """A token in Discord's format (base64 of the bot's id, then two parts) that hikari accepts."""
    encoded = base64.b64encode(str(application_id).encode()).decode().rstrip("=")
    return f"{encoded}.loopback.token-for-tests-only"


def user(user_id: int, username: str, *, bot: bool = False) -> JSON:
    return {
        "id": str(user_id),
        "username": username,
        "global_name": username,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def own_user(user_id: int, username: str) -> JSON:
    return {**user(user_id, username, bot=True), "mfa_enabled": False, "flags": 0, "verified": True, "locale": "en-US"}


def application(application_id: int, name: str, owner_id: int, verify_key_hex: str) -> JSON:
    return {
        "id": str(application_id),
        "name": name,
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(owner_id, "owner"),
        "verify_key": verify_key_hex,
        "flags": 0,
        "team": None,
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "integration_types_config": {"0": {}},
    }


def member(user_id: int, username: str, permissions: int) -> JSON:
    return {
        "user": user(user_id, username),
        "roles": [],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "permissions": str(permissions),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }


def slash_interaction(
    *,
    application_id: int,
    command_id: int,
    command_name: str,
    options: Sequence[JSON],
    guild_id: int | None,
    registered_guild_id: int | None,
    channel_id: int,
    user_id: int,
    username: str,
    permissions: int,
    token: str,
    interaction_id: int,
) -> JSON:
    """An APPLICATION_COMMAND interaction (type 2), in a guild when ``guild_id`` is given, else in a DM.

    User options (type 6) are resolved as Discord does, under ``data.resolved.users``.
    """
    data: JSON = {"id": str(command_id), "name": command_name, "type": 1, "options": list(options)}
    mentioned = sorted({str(option["value"]) for option in walk_options(options) if option["type"] == USER_OPTION})
    if mentioned:
        data["resolved"] = {"users": {user_id: user(int(user_id), f"user-{user_id}") for user_id in mentioned}}
    if registered_guild_id is not None:
        data["guild_id"] = str(registered_guild_id)
    body: JSON = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": 2,
        "token": token,
        "version": 1,
        "locale": "en-US",
        "data": data,
        "channel_id": str(channel_id),
        "channel": {"id": str(channel_id), "type": 0 if guild_id else 1, "name": "general", "permissions": "0"},
        "app_permissions": str((1 << 11) | (1 << 15)),  # SEND_MESSAGES | ATTACH_FILES
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        body["guild_id"] = str(guild_id)
        body["guild_locale"] = "en-US"
        body["member"] = member(user_id, username, permissions)
        body["authorizing_integration_owners"] = {"0": str(guild_id)}
        body["context"] = 0
    else:
        body["user"] = user(user_id, username)
        body["authorizing_integration_owners"] = {"1": str(user_id)}
        body["context"] = 1
    return body


def component_interaction(*, custom_id: str, message: JSON, **slash: Any) -> JSON:
    """A MESSAGE_COMPONENT interaction (type 3): a click on the button ``custom_id`` of ``message``.

    ``slash`` takes :func:`slash_interaction`'s keywords except the command's
    (``command_id``, ``command_name``, ``options``, ``registered_guild_id``).
    """
    body = slash_interaction(command_id=0, command_name="", options=(), registered_guild_id=None, **slash)
    body["type"] = 3
    body["data"] = {"custom_id": custom_id, "component_type": 2}
    body["message"] = message
    return body


USER_OPTION = 6


def walk_options(options: Sequence[JSON]) -> list[JSON]:
    """The value options of ``options``, inside subcommands and groups too."""
    found: list[JSON] = []
    for option in options:
        found.extend(walk_options(option["options"]) if "options" in option else [option])
    return found


def command_options(values: Mapping[str, object], declared: Sequence[JSON]) -> list[JSON]:
    """Options of an interaction for ``values``, typed from the command's registered option declarations."""
    types = {option["name"]: int(option["type"]) for option in declared}
    options: list[JSON] = []
    for name, value in values.items():
        if name not in types:
            raise KeyError(f"option {name!r} is not declared by the registered command (declared: {sorted(types)})")
        options.append({"name": name, "type": types[name], "value": value})
    return options


def message(
    *,
    message_id: int,
    channel_id: int,
    author: JSON,
    content: str,
    flags: int,
    attachments: Sequence[JSON],
    mentions: Sequence[JSON],
    mention_everyone: bool,
    mention_roles: Sequence[str],
    application_id: int | None,
    webhook_id: int | None,
    interaction_type: int = 0,
    components: Sequence[JSON] = (),
) -> JSON:
    body: JSON = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": mention_everyone,
        "mentions": list(mentions),
        "mention_roles": list(mention_roles),
        "attachments": list(attachments),
        "embeds": [],
        "pinned": False,
        "type": interaction_type,
        "flags": flags,
        "components": list(components),
    }
    if application_id is not None:
        body["application_id"] = str(application_id)
    if webhook_id is not None:
        body["webhook_id"] = str(webhook_id)
    return body
