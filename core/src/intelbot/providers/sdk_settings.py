"""The settings an SDK-backed provider reads from ``[default.providers.<name>]``: one typed model.

Keys: ``api_key`` (a secret; else the provider's environment variable, such as
``OPENAI_API_KEY``), ``base_url``, ``max_retries`` (the SDK's own retries, default 2),
``timeout`` (seconds one call may take, SDK retries included, default 60; the kernel's
``llm.timeout_seconds`` applies too, the smaller wins), ``requires_key`` (default true),
``kind`` (``"openai"`` for another OpenAI-compatible server), ``max_tokens_field`` (OpenAI
only) and ``enabled``. A server that needs no key (Ollama, a local vLLM) is configured
with ``base_url`` and ``api_key = "none"`` or ``requires_key = false``. Bad values raise
:class:`ConfigurationError` naming the key and the file.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from intelbot.plugin import SettingsTable
from intelbot.settings import provider_table, validated

NO_KEY = "none"


class ProviderSettings(SettingsTable):
    """``[default.providers.<name>]`` of an SDK-backed provider; ``api_key`` is a secret that never prints."""

    name: str = ""
    enabled: bool | None = None
    kind: Literal["openai", "anthropic"] | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    max_retries: int = Field(2, ge=0)
    timeout: float = Field(60.0, gt=0)
    requires_key: bool = True
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None

    @field_validator("api_key", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        return SecretStr(value) if isinstance(value, str) else value

    @field_validator("base_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("kind", mode="before")
    @classmethod
    def _lower_kind(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def key(self) -> str | None:
        """The API key in clear, for the SDK client only."""
        return None if self.api_key is None else self.api_key.get_secret_value()

    @property
    def has_key(self) -> bool:
        return bool(self.key) and str(self.key).lower() != NO_KEY

    @property
    def needs_key(self) -> bool:
        """False for a server that takes no key (``requires_key = false`` or ``api_key = "none"``)."""
        return self.requires_key and (self.key or "").lower() != NO_KEY

    @property
    def configured(self) -> bool:
        """True when a key is set, or when a ``base_url`` is set for a server that needs none."""
        return self.has_key or (self.base_url is not None and not self.needs_key)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message or log line."""
        return (self.key,) if self.has_key and self.key else ()


def read_sdk_settings(settings: Any, name: str, *, env_var: str) -> ProviderSettings:
    """The validated ``[providers.<name>]``; the key falls back to the ``env_var`` environment variable."""
    table = provider_table(settings, name)  # keys lower-cased: the environment gives "API_KEY"
    if not table.get("api_key") and os.environ.get(env_var):
        table["api_key"] = os.environ[env_var]
    return validated(ProviderSettings, {**table, "name": name}, f"providers.{name}", settings)
