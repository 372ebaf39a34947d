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
    feedback_buttons = true     # 👍 / 👎 under each answered /ask (only the asker may vote, once)
    daily_guild_cap_usd = 0.0   # per-guild spending cap per UTC day; 0 = no cap
    rate_limit_requests = 5     # per user, within rate_limit_window_seconds; 0 = no limit
    rate_limit_window_seconds = 60.0
    rate_limit_redis_url = ""   # share each user's window between replicas through Redis

The token is a secret: ``token`` in ``.secrets.toml`` or ``INTELBOT_DISCORD__TOKEN``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from intelbot.errors import ConfigurationError
from intelbot.plugin import SettingsTable
from intelbot.settings import lookup, origin_of, validated

MODES = ("gateway", "interactions")


class DiscordSettings(SettingsTable):
    """``[default.discord]``, validated. ``token`` is a secret: never shown in reprs or errors.

    Values are read leniently (``port = "8081"``, ids as strings), since ids and ports
    often come from environment variables; an empty string means the default.
    """

    model_config = ConfigDict(strict=False)

    token: SecretStr = SecretStr("")
    mode: Literal["gateway", "interactions"] = "gateway"
    application_id: int | None = None
    public_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    dev_guilds: tuple[int, ...] = ()
    rest_url: str | None = None
    owner_ids: frozenset[int] = frozenset()
    max_question_chars: int = Field(1000, gt=0)
    attach_after_chars: int = Field(6000, gt=0)
    feedback_buttons: bool = True
    daily_guild_cap_usd: float = Field(0.0, ge=0)
    rate_limit_requests: int = Field(5, ge=0)
    rate_limit_window_seconds: float = Field(60.0, gt=0)
    rate_limit_redis_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None and value != ""}
        return data

    @field_validator("application_id", mode="after")
    @classmethod
    def _zero_means_from_token(cls, value: int | None) -> int | None:
        return value or None

    @field_validator("dev_guilds", "owner_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int) else value

    @field_validator("public_key")
    @classmethod
    def _hex_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                valid = len(bytes.fromhex(value)) == 32
            except ValueError:
                valid = False
            if not valid:
                raise ValueError("must be 64 hex characters (the application's public key)")
        return value

    @property
    def bot_token(self) -> str:
        """The token in clear, for hikari only."""
        return self.token.get_secret_value().strip()

    @classmethod
    def from_settings(cls, settings: Any, *, require_token: bool = True) -> DiscordSettings:
        """Read ``[default.discord]`` from Dynaconf settings; ConfigurationError names the key and file.

        ``require_token=False`` validates everything else (``intelbot config check`` on a
        machine that runs the console); the token may then be empty.
        """
        table = lookup(settings, "discord", {}) or {}
        config = validated(cls, table if isinstance(table, dict) else dict(table), "discord", settings)
        if not config.bot_token and require_token:
            raise ConfigurationError(
                "no Discord token: set INTELBOT_DISCORD__TOKEN or token in [default.discord] of .secrets.toml",
                key="discord.token",
                file=origin_of(settings, "discord.token") if hasattr(settings, "current_env") else "settings",
            )
        return config
