"""The OpenAI provider: chat completions through the official ``openai.AsyncOpenAI`` client.

Settings live in ``[default.providers.openai]`` (see :mod:`intelbot.providers.sdk_settings`):
``api_key`` (or ``OPENAI_API_KEY``), ``base_url``, ``max_retries``, ``timeout``,
``requires_key``. With ``base_url`` it serves any OpenAI-compatible server (Ollama, vLLM,
OpenRouter); ``max_tokens_field`` chooses how the token limit is sent:
``max_completion_tokens`` against api.openai.com (the default without ``base_url``),
``max_tokens`` against other servers (the default with ``base_url``).

Every SDK exception becomes a :class:`ProviderError` whose category says what happened;
``finish_reason`` becomes a :class:`StopReason`.
"""

from __future__ import annotations

from typing import Any

from intelbot.hookspecs import hookimpl
from intelbot.providers.sdk_settings import ProviderSettings, read_sdk_settings

NAME = "openai"
ENV_KEY = "OPENAI_API_KEY"


def openai_settings(settings: Any) -> ProviderSettings:
    """The validated ``[providers.openai]`` table."""
    return read_sdk_settings(settings, NAME, env_var=ENV_KEY)


def is_configured(settings: Any) -> bool:
    """True when the OpenAI provider has a key, or a ``base_url`` to a server that needs none."""
    return openai_settings(settings).configured


def compatible_servers(settings: Any) -> list[str]:
    """Names of ``[providers.<name>]`` tables with ``kind = "openai"``: more OpenAI-compatible servers."""
    tables = settings.get("providers") or {}
    return sorted(
        str(name).lower()
        for name, table in tables.items()
        if str(name).lower() != NAME and hasattr(table, "get") and str(_kind(table)).lower() == NAME
    )


def _kind(table: Any) -> Any:
    return next((value for key, value in table.items() if str(key).lower() == "kind"), None)


@hookimpl
def register_providers(register: Any, settings: Any) -> None:
    """Register ``openai`` and every ``kind = "openai"`` server that is configured; skip the others.

    Each compatible server is its own provider, named by its table (``[providers.ollama]``
    gives provider ``ollama``), with its own client, key (or ``<NAME>_API_KEY``) and base URL.
    """
    for name in (NAME, *compatible_servers(settings)):
        env_var = ENV_KEY if name == NAME else f"{name.upper()}_API_KEY"
        config = read_sdk_settings(settings, name, env_var=env_var)
        if config.configured:
            from intelbot.providers.openai_client import OpenAIProvider  # the SDK: imported only when needed

            register(OpenAIProvider(config))
