"""``[default.plugins.metrics_dashboard]``: where the HTTP server listens and the token that guards it."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, model_validator

from intelbot.plugin import PluginSettings

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DashboardSettings(PluginSettings):
    """The server's address, its bearer token (empty: none), the page's refresh and the spending gauges' thresholds.

    Secure by default: a host other than loopback needs a token, or start-up is refused.
    """

    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(9464, ge=0, le=65535)
    token: SecretStr = SecretStr("")
    refresh_seconds: float = Field(5.0, gt=0, le=3600)
    top_guilds: int = Field(10, ge=0, le=100)
    near_cap_ratio: float = Field(0.8, gt=0, le=1)
    spend_check_seconds: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _token_off_loopback(self) -> DashboardSettings:
        if not self.token.get_secret_value() and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address and no token is set: anyone who can reach it "
                "would read the bot's figures. Set plugins.metrics_dashboard.token "
                "(INTELBOT_PLUGINS__METRICS_DASHBOARD__TOKEN, in .secrets.toml or the environment) "
                "or bind host to 127.0.0.1"
            )
        return self
