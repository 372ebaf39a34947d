"""The AnthropicProvider class: the ``anthropic`` SDK client behind the ``anthropic`` provider.

Kept apart from :mod:`intelbot.providers.anthropic` (settings and the ``register_providers``
hook) so that the SDK, seconds to import, is imported only when the provider is configured.
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage
from anthropic.types import TextBlock

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, StopReason, Usage
from intelbot.providers.anthropic import anthropic_settings
from intelbot.providers.sdk_errors import (
    SDKExceptions,
    call_sdk,
    malformed_response,
    trace_request,
    trace_response,
)
from intelbot.providers.sdk_settings import NO_KEY, ProviderSettings

SDK_EXCEPTIONS = SDKExceptions.of(anthropic, base=anthropic.AnthropicError)

_STOP_REASONS = {
    "end_turn": StopReason.END,
    "stop_sequence": StopReason.END,
    "max_tokens": StopReason.MAX_TOKENS,
    "model_context_window_exceeded": StopReason.MAX_TOKENS,
    "refusal": StopReason.REFUSAL,
    "tool_use": StopReason.OTHER,
    "pause_turn": StopReason.OTHER,
}


class AnthropicProvider:
    """Serves catalog models whose provider is ``anthropic`` through ``AsyncAnthropic``."""

    def __init__(self, config: ProviderSettings) -> None:
        self.name = config.name
        self._config = config
        self._client = anthropic.AsyncAnthropic(
            api_key=config.key if config.has_key else NO_KEY,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=config.timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(
                event_hooks={"request": [trace_request], "response": [trace_response]}
            ),
        )

    @classmethod
    def from_settings(cls, settings: Any) -> AnthropicProvider:
        return cls(anthropic_settings(settings))

    @staticmethod
    def _params(request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
        system_parts = [request.system] if request.system else []
        system_parts.extend(message.content for message in request.messages if message.role == "system")
        params: dict[str, Any] = {
            "model": model.api_model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": message.role, "content": message.content}
                for message in request.messages
                if message.role != "system"
            ],
        }
        if system_parts:
            params["system"] = "\n\n".join(system_parts)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        return params

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        """One Messages call; raises ProviderError (never an SDK exception) on failure."""
        seconds = min(timeout, self._config.timeout) if timeout is not None else self._config.timeout
        message: Any = await call_sdk(
            SDK_EXCEPTIONS,
            lambda: self._client.messages.create(**self._params(request, model), timeout=seconds),
            provider=self.name,
            model=model.name,
            seconds=seconds,
            secrets=self._config.secrets,
        )
        return self._response(message, model)

    def _response(self, message: Any, model: ModelSpec) -> LLMResponse:
        if not isinstance(message, AnthropicMessage):
            raise malformed_response(provider=self.name, model=model.name, reason="the body is not a message")
        try:
            texts = [block.text for block in message.content if isinstance(block, TextBlock)]
            stop = message.stop_reason
            input_tokens = message.usage.input_tokens
            output_tokens = message.usage.output_tokens
        except (AttributeError, TypeError):
            raise malformed_response(provider=self.name, model=model.name, reason="no content or usage") from None
        if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
            raise malformed_response(provider=self.name, model=model.name, reason="usage is not a token count")
        if not all(isinstance(text, str) for text in texts):
            raise malformed_response(provider=self.name, model=model.name, reason="a text block has no text")
        usage = message.usage
        return LLMResponse(
            text="".join(texts),
            model=model.name,
            provider=self.name,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            stop_reason=_STOP_REASONS.get(str(stop), StopReason.OTHER),
            served_by=self.name,
            metadata={
                "api_model": message.model,
                "response_id": message.id,
                "provider_stop_reason": stop,
                "cache_creation_input_tokens": getattr(usage, "cache_creation_input_tokens", None) or 0,
                "cache_read_input_tokens": getattr(usage, "cache_read_input_tokens", None) or 0,
            },
        )

    def disable_sdk_retries(self) -> None:
        """Turn the SDK's own retries off, so the kernel's ``on_error`` loop is the only retry loop."""
        self._client = self._client.with_options(max_retries=0)

    async def aclose(self) -> None:
        await self._client.close()
