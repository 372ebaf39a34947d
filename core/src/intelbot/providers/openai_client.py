"""The OpenAIProvider class: the ``openai`` SDK client behind the ``openai`` provider.

Kept apart from :mod:`intelbot.providers.openai` (settings and the ``register_providers``
hook) so that the SDK, seconds to import, is imported only when the provider is configured.
"""

from __future__ import annotations

from typing import Any

import openai
from openai.types.chat import ChatCompletion

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, StopReason, Usage
from intelbot.providers.openai import openai_settings
from intelbot.providers.sdk_errors import (
    SDKExceptions,
    call_sdk,
    malformed_response,
    trace_request,
    trace_response,
)
from intelbot.providers.sdk_settings import NO_KEY, ProviderSettings

SDK_EXCEPTIONS = SDKExceptions.of(openai, base=openai.OpenAIError)

_STOP_REASONS = {
    "stop": StopReason.END,
    "length": StopReason.MAX_TOKENS,
    "content_filter": StopReason.CONTENT_FILTER,
    "tool_calls": StopReason.OTHER,
    "function_call": StopReason.OTHER,
}
_MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")


class OpenAIProvider:
    """Serves catalog models whose provider is ``openai`` through ``AsyncOpenAI``."""

    def __init__(self, config: ProviderSettings) -> None:
        self.name = config.name
        self._config = config
        field = config.max_tokens_field
        if field is None:
            field = "max_tokens" if config.base_url is not None else "max_completion_tokens"
        self._max_tokens_field: str = field
        self._client = openai.AsyncOpenAI(
            api_key=config.key if config.has_key else NO_KEY,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=config.timeout,
            http_client=openai.DefaultAsyncHttpxClient(
                event_hooks={"request": [trace_request], "response": [trace_response]}
            ),
        )

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIProvider:
        return cls(openai_settings(settings))

    def _params(self, request: LLMRequest, model: ModelSpec) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": message.role, "content": message.content} for message in request.messages)
        params: dict[str, Any] = {
            "model": model.api_model,
            "messages": messages,
            self._max_tokens_field: request.max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        return params

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        """One chat completion; raises ProviderError (never an SDK exception) on failure."""
        seconds = min(timeout, self._config.timeout) if timeout is not None else self._config.timeout
        completion: Any = await call_sdk(
            SDK_EXCEPTIONS,
            lambda: self._client.chat.completions.create(**self._params(request, model), timeout=seconds),
            provider=self.name,
            model=model.name,
            seconds=seconds,
            secrets=self._config.secrets,
        )
        return self._response(completion, model)

    def _response(self, completion: Any, model: ModelSpec) -> LLMResponse:
        if not isinstance(completion, ChatCompletion):
            raise malformed_response(provider=self.name, model=model.name, reason="the body is not a chat completion")
        try:
            choice = completion.choices[0]
            message = choice.message
            content = message.content
            refusal = getattr(message, "refusal", None)
            finish_reason = choice.finish_reason
            usage = completion.usage
            input_tokens = usage.prompt_tokens if usage is not None else 0
            output_tokens = usage.completion_tokens if usage is not None else 0
        except (AttributeError, IndexError, KeyError, TypeError):
            raise malformed_response(provider=self.name, model=model.name, reason="no choice with a message") from None
        if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
            raise malformed_response(provider=self.name, model=model.name, reason="usage is not a token count")
        if content is not None and not isinstance(content, str):
            raise malformed_response(provider=self.name, model=model.name, reason="message content is not text")
        stop_reason = _STOP_REASONS.get(str(finish_reason), StopReason.OTHER)
        text = content or ""
        if refusal:
            stop_reason = StopReason.REFUSAL
            text = text or str(refusal)
        return LLMResponse(
            text=text,
            model=model.name,
            provider=self.name,
            usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            stop_reason=stop_reason,
            served_by=self.name,
            metadata={
                "api_model": completion.model,
                "response_id": completion.id,
                "provider_stop_reason": finish_reason,
                "usage_reported": usage is not None,
            },
        )

    def disable_sdk_retries(self) -> None:
        """Turn the SDK's own retries off, so the kernel's ``on_error`` loop is the only retry loop."""
        self._client = self._client.with_options(max_retries=0)

    async def aclose(self) -> None:
        await self._client.close()
