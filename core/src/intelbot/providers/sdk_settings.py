"""The settings an SDK-backed provider reads from ``[default.providers.<name>]``, validated.

Keys: ``api_key`` (else the provider's environment variable, such as ``OPENAI_API_KEY``),
``base_url``, ``max_retries`` (the SDK's own retries, default 2), ``timeout`` (seconds one
call may take, SDK retries included, default 60; the kernel's ``llm.timeout_seconds`` applies
too, the smaller wins) and ``requires_key`` (default true). A server that needs no key
(Ollama, a local vLLM) is configured with ``base_url`` and ``api_key = "none"`` or
``requires_key = false``. Bad values raise :class:`ConfigurationError` naming the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from intelbot.errors import ConfigurationError
from intelbot.settings import provider_table

NO_KEY = "none"


@dataclass(frozen=True, slots=True)
class SDKSettings:
    """Validated client options; ``api_key`` is kept out of ``repr``."""

    name: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    max_retries: int = 2
    timeout: float = 60.0
    requires_key: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) and str(self.api_key).lower() != NO_KEY

    @property
    def configured(self) -> bool:
        """True when a key is set, or when a ``base_url`` is set for a server that needs none."""
        return self.has_key or (self.base_url is not None and not self.requires_key)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message or log line."""
        return (self.api_key,) if self.has_key and self.api_key else ()


def read_sdk_settings(settings: Any, name: str, *, env_var: str) -> SDKSettings:
    """Read and validate ``[providers.<name>]``; the key falls back to the ``env_var`` environment variable."""
    config = provider_table(settings, name)  # keys lower-cased: the environment gives "API_KEY"
    prefix = f"providers.{name}"

    api_key = config.get("api_key")
    if api_key is None or api_key == "":
        api_key = os.environ.get(env_var) or None
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigurationError("api_key must be a string", key=f"{prefix}.api_key")

    base_url = config.get("base_url")
    if base_url == "":
        base_url = None
    if base_url is not None and (not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))):
        raise ConfigurationError(f"base_url must be an http(s) URL, got {base_url!r}", key=f"{prefix}.base_url")

    max_retries = config.get("max_retries", 2)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(
            f"max_retries must be an integer >= 0, got {max_retries!r}", key=f"{prefix}.max_retries"
        )

    timeout = config.get("timeout", 60.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError(f"timeout must be a number of seconds > 0, got {timeout!r}", key=f"{prefix}.timeout")

    requires_key = config.get("requires_key", True)
    if not isinstance(requires_key, bool):
        raise ConfigurationError(
            f"requires_key must be true or false, got {requires_key!r}", key=f"{prefix}.requires_key"
        )
    if api_key is not None and api_key.lower() == NO_KEY:
        requires_key = False

    known = {"api_key", "base_url", "max_retries", "timeout", "requires_key"}
    options = {key: value for key, value in config.items() if key not in known}
    return SDKSettings(
        name=name,
        api_key=api_key,
        base_url=base_url,
        max_retries=max_retries,
        timeout=float(timeout),
        requires_key=requires_key,
        options=options,
    )
