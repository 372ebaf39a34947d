"""The echo model: an offline, deterministic provider so the bot runs without keys.

Its answer contains the last user message verbatim; usage counts words; an
optional simulated latency (``[default.providers.echo] latency_ms``) makes it a
stand-in for a real model in benchmarks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, StopReason, Usage
from intelbot.errors import ConfigurationError
from intelbot.hookspecs import hookimpl
from intelbot.settings import provider_table


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


@hookimpl
def register_providers(register: Any, settings: Any) -> None:
    latency = provider_table(settings, "echo").get("latency_ms", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise ConfigurationError(f"latency_ms must be a number >= 0, got {latency!r}", key="providers.echo.latency_ms")
    register(EchoProvider(latency_ms=float(latency)))
