"""The echo model: an offline, deterministic provider so the bot runs without keys.

Its answer contains the last user message verbatim; usage counts words; an
optional simulated latency (``[default.providers.echo] latency_ms``) makes it a
stand-in for a real model in benchmarks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, StopReason, Usage
from intelbot.hookspecs import hookimpl
from intelbot.plugin import SettingsTable
from intelbot.settings import provider_table, validated


def _words(text: str) -> int:
    return len(text.split())


class EchoProvider:
    """Answers ``Echo: <last user message>``; costs whatever the catalog says (0 by default)."""

    name = "echo"

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        prompt = request.prompt
        text = f"Echo: {prompt}"
        input_words = sum(_words(message.content) for message in request.messages) + _words(request.system or "")
        return LLMResponse(
            text=text,
            model=model.name,
            provider=self.name,
            usage=Usage(input_tokens=input_words, output_tokens=_words(text)),
            stop_reason=StopReason.END,
            served_by=self.name,
        )

    async def aclose(self) -> None:
        return None

    def disable_sdk_retries(self) -> None:
        """The echo model never retries on its own: nothing to switch off."""


class EchoSettings(SettingsTable):
    """``[default.providers.echo]``: ``latency_ms``, the time each answer takes (for trying timeouts)."""

    enabled: bool | None = None
    latency_ms: float = Field(0.0, ge=0)


@hookimpl
def register_providers(register: Any, settings: Any) -> None:
    config = validated(EchoSettings, provider_table(settings, "echo"), "providers.echo", settings)
    register(EchoProvider(latency_ms=config.latency_ms))
