"""The ``[default.discord]`` settings, read and checked once at start-up.

Keys (all optional except ``token`` to start Discord at all)::

    [default.discord]
    mode = "gateway"            # or "interactions" (HTTP interaction server, no gateway)
    application_id = 0          # 0: taken from the token
    public_key = ""             # hex Ed25519 key from the developer portal; "" = fetched at start
    host = "127.0.0.1"          # interaction server address (interactions mode)
    port = 8080                 # interaction server port; 0 = any free port
    dev_guilds = []             # register commands in these guilds (instant) instead of globally
    rest_url = ""               # "" = Discord's API; tests point it at the loopback Discord
    owner_ids = []              # bot owners besides the application's owner and team
    max_question_chars = 1000   # longer questions are refused
    attach_after_chars = 6000   # longer answers are sent as a file instead of split messages
    daily_guild_cap_usd = 0.0   # per-guild spending cap per UTC day; 0 = no cap
    rate_limit_requests = 5     # per user, within rate_limit_window_seconds; 0 = no limit
    rate_limit_window_seconds = 60.0
    rate_limit_redis_url = ""   # share each user's window between replicas through Redis

The token is a secret: ``token`` in ``.secrets.toml`` or ``INTELBOT_DISCORD__TOKEN``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from intelbot.errors import ConfigurationError
from intelbot.settings import lookup, origin_of

MODES = ("gateway", "interactions")


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """Checked Discord settings. ``token`` is never shown in reprs or errors."""

    token: str
    mode: Literal["gateway", "interactions"] = "gateway"
    application_id: int | None = None
    public_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    dev_guilds: tuple[int, ...] = ()
    rest_url: str | None = None
    owner_ids: frozenset[int] = frozenset()
    max_question_chars: int = 1000
    attach_after_chars: int = 6000
    daily_guild_cap_usd: float = 0.0
    rate_limit_requests: int = 5
    rate_limit_window_seconds: float = 60.0
    rate_limit_redis_url: str | None = None

    def __repr__(self) -> str:
        return f"DiscordSettings(mode={self.mode!r}, application_id={self.application_id}, token='***')"

    @classmethod
    def from_settings(cls, settings: Any, *, require_token: bool = True) -> DiscordSettings:
        """Read ``[default.discord]`` from Dynaconf settings; ConfigurationError names the key and file.

        ``require_token=False`` validates everything else (``intelbot config check`` on a
        machine that runs the console); the token is then empty.
        """
        table = lookup(settings, "discord", {}) or {}

        def where(key: str) -> str:
            return origin_of(settings, f"discord.{key}") if hasattr(settings, "current_env") else "settings"

        def read(key: str, convert: Callable[[Any], Any], default: Any) -> Any:
            value = lookup(table, key, None)
            if value is None or value == "":
                return default
            try:
                return convert(value)
            except (TypeError, ValueError):
                message = f"invalid value for discord.{key}: expected {convert.__name__}"
                raise ConfigurationError(message, key=f"discord.{key}", file=where(key)) from None

        token = str(lookup(table, "token", "") or "").strip()
        if not token and require_token:
            raise ConfigurationError(
                "no Discord token: set INTELBOT_DISCORD__TOKEN or token in [default.discord] of .secrets.toml",
                key="discord.token",
                file=where("token"),
            )
        mode = read("mode", str, "gateway")
        if mode not in MODES:
            raise ConfigurationError(
                f"discord.mode must be one of {', '.join(MODES)}, got {mode!r}", key="discord.mode", file=where("mode")
            )
        public_key = read("public_key", str, None)
        if public_key is not None:
            try:
                if len(bytes.fromhex(public_key)) != 32:
                    raise ValueError
            except ValueError:
                raise ConfigurationError(
                    "discord.public_key must be 64 hex characters (the application's public key)",
                    key="discord.public_key",
                    file=where("public_key"),
                ) from None
        config = cls(
            token=token,
            mode=mode,
            application_id=read("application_id", int, 0) or None,
            public_key=public_key,
            host=read("host", str, "127.0.0.1"),
            port=read("port", int, 8080),
            dev_guilds=read("dev_guilds", _id_tuple, ()),
            rest_url=read("rest_url", str, None),
            owner_ids=frozenset(read("owner_ids", _id_tuple, ())),
            max_question_chars=read("max_question_chars", int, 1000),
            attach_after_chars=read("attach_after_chars", int, 6000),
            daily_guild_cap_usd=read("daily_guild_cap_usd", float, 0.0),
            rate_limit_requests=read("rate_limit_requests", int, 5),
            rate_limit_window_seconds=read("rate_limit_window_seconds", float, 60.0),
            rate_limit_redis_url=read("rate_limit_redis_url", str, None),
        )
        for key in ("max_question_chars", "attach_after_chars", "rate_limit_window_seconds"):
            if getattr(config, key) <= 0:
                raise ConfigurationError(f"discord.{key} must be positive", key=f"discord.{key}", file=where(key))
        for key in ("daily_guild_cap_usd", "rate_limit_requests"):
            if getattr(config, key) < 0:
                raise ConfigurationError(f"discord.{key} must not be negative", key=f"discord.{key}", file=where(key))
        if not 0 <= config.port <= 65535:
            raise ConfigurationError("discord.port must be in 0..65535", key="discord.port", file=where("port"))
        return config


def _id_tuple(value: Any) -> tuple[int, ...]:
    if isinstance(value, str | int):
        value = [value]
    return tuple(int(item) for item in value)


_id_tuple.__name__ = "a list of ids"
