"""The Anthropic provider: the Messages API through the official ``anthropic.AsyncAnthropic`` client.

Settings live in ``[default.providers.anthropic]`` (see :mod:`intelbot.providers.sdk_settings`):
``api_key`` (or ``ANTHROPIC_API_KEY``), ``base_url``, ``max_retries``, ``timeout``.
System messages of the request are joined into Anthropic's ``system`` parameter.

Every SDK exception becomes a :class:`ProviderError` whose category says what happened
(529 and ``overloaded_error`` are ``overloaded``); ``stop_reason`` becomes a :class:`StopReason`.
"""

from __future__ import annotations

from typing import Any

from intelbot.hookspecs import hookimpl
from intelbot.providers.sdk_settings import ProviderSettings, read_sdk_settings

NAME = "anthropic"
ENV_KEY = "ANTHROPIC_API_KEY"


def anthropic_settings(settings: Any) -> ProviderSettings:
    """The validated ``[providers.anthropic]`` table."""
    return read_sdk_settings(settings, NAME, env_var=ENV_KEY)


def is_configured(settings: Any) -> bool:
    """True when the Anthropic provider has a key (or a ``base_url`` to a server that needs none)."""
    return anthropic_settings(settings).configured


@hookimpl
def register_providers(register: Any, settings: Any) -> None:
    """Register the Anthropic provider when it is configured (see :func:`is_configured`); else nothing."""
    config = anthropic_settings(settings)
    if config.configured:
        from intelbot.providers.anthropic_client import AnthropicProvider  # the SDK: imported only when needed

        register(AnthropicProvider(config))
