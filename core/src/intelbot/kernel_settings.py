"""The kernel's own settings: the top-level keys of ``[default]`` it reads and ``[default.llm]``, as typed models.

The other tables have models of their own, next to what reads them: each provider's
(``intelbot.providers``), ``[default.discord]`` (:mod:`intelbot.frontends.discord.config`),
``[default.embedding]`` and every plugin's (its ``settings_model``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from intelbot.plugin import SettingsTable
from intelbot.settings import validated

KERNEL_KEYS = (
    "data_dir",
    "database_url",
    "log_level",
    "guild_switch_refresh_seconds",
    "shutdown_grace_seconds",
    "llm",
)


class LLMSettings(SettingsTable):
    """``[default.llm]``: the model asked when the caller names none, limits of one call and one turn."""

    default_model: str = Field("echo", min_length=1)
    system_prompt: str | None = None
    max_tokens: int = Field(1024, gt=0)
    timeout_seconds: float = Field(60.0, gt=0)
    turn_timeout_seconds: float = Field(120.0, gt=0)
    max_attempts: int = Field(4, gt=0)


class KernelSettings(SettingsTable):
    """The top-level keys of ``[default]`` the kernel reads (the other top-level tables are validated apart)."""

    model_config = ConfigDict(extra="ignore")

    data_dir: str = Field("data", min_length=1)
    database_url: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    guild_switch_refresh_seconds: float = Field(5.0, ge=0)
    shutdown_grace_seconds: float = Field(10.0, gt=0)
    """On SIGTERM or SIGINT, how long ``intelbot run`` lets turns in flight finish."""
    llm: LLMSettings = Field(default_factory=LLMSettings)


def kernel_settings(settings: Any) -> KernelSettings:
    """The kernel's validated settings from loaded ``settings``; ConfigurationError names the key and the file."""
    table = {key: settings.get(key) for key in KERNEL_KEYS if settings.get(key) is not None}
    if isinstance(table.get("log_level"), str):
        table["log_level"] = table["log_level"].upper()
    return validated(KernelSettings, table, "", settings)
