"""The OpenAI and Anthropic providers against the loopback servers, through the real SDK clients.

Every failure the servers can script must come out as a ProviderError with the right
category; successes must carry text, usage and stop reason. SDK retries are off
(``max_retries = 0``) except in the tests about the SDKs' own retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import pytest_asyncio

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, Message, StopReason, TurnContext
from intelbot.errors import ConfigurationError, ErrorCategory, ProviderError
from intelbot.providers import anthropic as anthropic_module
from intelbot.providers import openai as openai_module
from intelbot.providers.anthropic_client import AnthropicProvider
from intelbot.providers.openai_client import OpenAIProvider
from intelbot.providers.sdk_errors import retry_after_seconds
from intelbot.providers.sdk_settings import ProviderSettings
from intelbot.redaction import redact
from intelbot.settings import load_settings
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import (
    ANTHROPIC_TEST_KEY,
    OPENAI_TEST_KEY,
    AnthropicServer,
    Drop,
    Hang,
    Malformed,
    OpenAIServer,
    Reply,
    Slow,
    Status,
)

pytestmark = pytest.mark.asyncio

GPT = ModelSpec("gpt-test", "openai", "gpt-4o-mini", 0.15, 0.6, 128_000, "cheap")
CLAUDE = ModelSpec("claude-test", "anthropic", "claude-haiku-4-5", 1.0, 5.0, 200_000, "cheap")
SHORT = 0.25  # seconds: the client timeout of the timeout tests


def ask(text: str = "what is the capital of France", **fields: Any) -> LLMRequest:
    return LLMRequest(messages=[Message("user", text)], model="unused", **fields)


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest_asyncio.fixture
async def gpt(openai_server: OpenAIServer) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings()}})
    yield provider
    await provider.aclose()


@pytest_asyncio.fixture
async def claude(anthropic_server: AnthropicServer) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider.from_settings({"providers": {"anthropic": anthropic_server.provider_settings()}})
    yield provider
    await provider.aclose()


async def failure(provider: OpenAIProvider | AnthropicProvider, model: ModelSpec, **kwargs: Any) -> ProviderError:
    timeout = kwargs.pop("timeout", 5.0)
    with pytest.raises(ProviderError) as caught:
        await provider.complete(ask(**kwargs), model, timeout=timeout)
    return caught.value


# -- OpenAI: success -------------------------------------------------------------------------


async def test_openai_success_has_text_usage_and_stop_reason(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    request = LLMRequest(
        messages=[Message("user", "hello there"), Message("assistant", "hi"), Message("user", "tell me a joke")],
        model="unused",
        system="be brief",
        max_tokens=50,
        temperature=0.2,
    )
    response = await gpt.complete(request, GPT, timeout=5)

    assert response.text == "Echo: tell me a joke"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 5)  # 2+2+1+4 words in, 5 out
    assert response.stop_reason is StopReason.END
    assert (response.provider, response.model, response.metadata["api_model"]) == ("openai", "gpt-test", "gpt-4o-mini")
    (recorded,) = openai_server.requests
    assert recorded.api_key == OPENAI_TEST_KEY
    assert "Authorization" not in recorded.headers
    assert recorded.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert recorded.body["model"] == "gpt-4o-mini"
    assert recorded.body["max_tokens"] == 50
    assert recorded.body["temperature"] == 0.2


async def test_openai_scripted_usage_is_reported_as_given(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Reply("Paris.", input_tokens=1234, output_tokens=56))
    response = await gpt.complete(ask(), GPT, timeout=5)
    assert response.text == "Paris."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1234, 56)


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        ("length", StopReason.MAX_TOKENS),
        ("content_filter", StopReason.CONTENT_FILTER),
        ("tool_calls", StopReason.OTHER),
        ("stop", StopReason.END),
    ],
)
async def test_openai_finish_reason_maps_to_stop_reason(
    openai_server: OpenAIServer, gpt: OpenAIProvider, finish_reason: str, expected: StopReason
) -> None:
    openai_server.script(Reply("partial", stop_reason=finish_reason))
    response = await gpt.complete(ask(), GPT, timeout=5)
    assert response.stop_reason is expected
    assert response.complete is (expected is StopReason.END)


async def test_openai_refusal_field_is_a_refusal(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Reply("", refusal="I can't help with that."))
    response = await gpt.complete(ask(), GPT, timeout=5)
    assert response.stop_reason is StopReason.REFUSAL
    assert response.text == "I can't help with that."


# -- OpenAI: errors --------------------------------------------------------------------------


async def test_openai_429_is_rate_limited_with_retry_after(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Status(429, retry_after=7))
    error = await failure(gpt, GPT)
    assert error.category is ErrorCategory.RATE_LIMITED
    assert error.retry_after == 7
    assert error.status == 429
    assert error.retryable
    assert (error.provider, error.model) == ("openai", "gpt-test")


async def test_openai_retry_after_ms_wins_over_retry_after(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Status(429, retry_after=9, retry_after_ms=1500))
    error = await failure(gpt, GPT)
    assert error.retry_after == 1.5


async def test_openai_retry_after_as_http_date(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Status(429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True)))
    error = await failure(gpt, GPT)
    assert error.category is ErrorCategory.RATE_LIMITED
    assert error.retry_after is not None
    assert 27 <= error.retry_after <= 30


async def test_openai_insufficient_quota_is_not_retryable(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Status(429, error_type="insufficient_quota", error_code="insufficient_quota"))
    error = await failure(gpt, GPT)
    assert error.category is ErrorCategory.PERMISSION
    assert not error.retryable


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status(500), ErrorCategory.SERVER_ERROR),
        (Status(502, message="Bad gateway"), ErrorCategory.SERVER_ERROR),
        (Status(503), ErrorCategory.OVERLOADED),
        (Status(504), ErrorCategory.TIMEOUT),
        (Status(403), ErrorCategory.PERMISSION),
        (Status(404), ErrorCategory.NOT_FOUND),
        (Status(400, message="Invalid value for 'temperature'"), ErrorCategory.BAD_REQUEST),
        (Status(400, error_code="content_filter", message="flagged"), ErrorCategory.CONTENT_FILTERED),
        (Status(422), ErrorCategory.BAD_REQUEST),
    ],
)
async def test_openai_status_maps_to_category(
    openai_server: OpenAIServer, gpt: OpenAIProvider, status: Status, expected: ErrorCategory
) -> None:
    openai_server.script(status)
    error = await failure(gpt, GPT)
    assert error.category is expected
    assert error.status == status.code


async def test_openai_context_length_exceeded(gpt: OpenAIProvider, openai_server: OpenAIServer) -> None:
    openai_server.context_window = 5
    error = await failure(gpt, GPT, text="one two three four five six seven")
    assert error.category is ErrorCategory.CONTEXT_LENGTH_EXCEEDED
    assert not error.retryable


async def test_openai_bad_key_is_authentication_and_the_key_never_shows(openai_server: OpenAIServer) -> None:
    wrong = "sk-wrong-key-0123456789abcdef"
    # The server echoes the presented key in its error body; the SDK's own message carries it.
    client = openai.AsyncOpenAI(api_key=wrong, base_url=openai_server.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raw:
        await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    await client.close()
    assert wrong in str(raw.value)

    provider = OpenAIProvider.from_settings(
        {"providers": {"openai": {**openai_server.provider_settings(), "api_key": wrong}}}
    )
    try:
        error = await failure(provider, GPT)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.AUTHENTICATION
    assert error.status == 401
    for text in (str(error), repr(error), error.message):
        assert wrong not in text
    assert error.__cause__ is None
    assert error.__suppress_context__


async def test_openai_hang_times_out(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Hang())
    started = time.monotonic()
    error = await failure(gpt, GPT, timeout=SHORT)
    assert error.category is ErrorCategory.TIMEOUT
    assert time.monotonic() - started < SHORT + 1.0


async def test_openai_slow_answer_times_out(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Slow(3.0))
    started = time.monotonic()
    error = await failure(gpt, GPT, timeout=SHORT)
    assert error.category is ErrorCategory.TIMEOUT
    assert time.monotonic() - started < 2.0


async def test_openai_slow_answer_within_timeout_succeeds(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Slow(0.1, then=Reply("late but fine")))
    response = await gpt.complete(ask(), GPT, timeout=2.0)
    assert response.text == "late but fine"


async def test_openai_dropped_connection_is_connection(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Drop())
    error = await failure(gpt, GPT)
    assert error.category is ErrorCategory.CONNECTION


async def test_openai_closed_port_is_connection() -> None:
    server = OpenAIServer()
    await server.start()
    settings = {"providers": {"openai": server.provider_settings()}}
    await server.close()
    provider = OpenAIProvider.from_settings(settings)
    try:
        error = await failure(provider, GPT)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.CONNECTION


@pytest.mark.parametrize(
    "malformed",
    [
        Malformed(),  # invalid JSON
        Malformed(body='{"unexpected": true}'),  # JSON of the wrong shape
        Malformed(body='{"choices": [{"index": 0}]}'),  # a choice without a message
        Malformed(body="<html>oops</html>", content_type="text/html"),  # not JSON at all
    ],
)
async def test_openai_malformed_body_is_server_error(
    openai_server: OpenAIServer, gpt: OpenAIProvider, malformed: Malformed
) -> None:
    openai_server.script(malformed)
    error = await failure(gpt, GPT)
    assert error.category is ErrorCategory.SERVER_ERROR
    assert "malformed" in error.message


async def test_openai_proxy_html_error_page_is_server_error(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    openai_server.script(Malformed(body="<html><h1>502 Bad Gateway</h1></html>", status=502, content_type="text/html"))
    error = await failure(gpt, GPT)
    assert (error.category, error.status) == (ErrorCategory.SERVER_ERROR, 502)


async def test_openai_compatible_server_without_usage_reports_zero(
    openai_server: OpenAIServer, gpt: OpenAIProvider
) -> None:
    body = (
        '{"id": "c1", "object": "chat.completion", "created": 0, "model": "llama3", "choices": '
        '[{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}'
    )
    openai_server.script(Malformed(body=body))
    response = await gpt.complete(ask(), GPT, timeout=5)
    assert (response.text, response.usage.total_tokens) == ("hi", 0)
    assert response.metadata["usage_reported"] is False


async def test_concurrent_calls_each_get_their_own_answer(openai_server: OpenAIServer, gpt: OpenAIProvider) -> None:
    questions = [f"question number {index}" for index in range(50)]
    responses = await asyncio.gather(*(gpt.complete(ask(question), GPT, timeout=10) for question in questions))
    assert [response.text for response in responses] == [f"Echo: {question}" for question in questions]
    assert len(openai_server.requests) == 50


async def test_openai_sdk_retry_honours_retry_after(openai_server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings(max_retries=1)}})
    openai_server.script(Status(429, retry_after=0.3), Reply("second time lucky"))
    try:
        response = await provider.complete(ask(), GPT, timeout=5)
    finally:
        await provider.aclose()
    assert response.text == "second time lucky"
    first, second = openai_server.requests
    assert second.received_at - first.received_at >= 0.28
    assert second.headers["x-stainless-retry-count"] == "1"


async def test_openai_sdk_retries_run_out_into_the_category(openai_server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings(max_retries=2)}})
    openai_server.fail_all(Status(500, retry_after_ms=10))
    try:
        error = await failure(provider, GPT)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.SERVER_ERROR
    assert len(openai_server.requests) == 3


# -- Anthropic: success ----------------------------------------------------------------------


async def test_anthropic_success_has_text_usage_and_stop_reason(
    anthropic_server: AnthropicServer, claude: AnthropicProvider
) -> None:
    request = LLMRequest(
        messages=[Message("system", "answer in French"), Message("user", "hello there friend")],
        model="unused",
        system="be brief",
        max_tokens=64,
    )
    response = await claude.complete(request, CLAUDE, timeout=5)

    assert response.text == "Echo: hello there friend"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (8, 4)
    assert response.stop_reason is StopReason.END
    assert (response.provider, response.model, response.metadata["api_model"]) == (
        "anthropic",
        "claude-test",
        "claude-haiku-4-5",
    )
    (recorded,) = anthropic_server.requests
    assert recorded.api_key == ANTHROPIC_TEST_KEY
    assert "x-api-key" not in {name.lower() for name in recorded.headers}
    assert recorded.body["system"] == "be brief\n\nanswer in French"
    assert recorded.body["messages"] == [{"role": "user", "content": "hello there friend"}]
    assert recorded.body["max_tokens"] == 64


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("max_tokens", StopReason.MAX_TOKENS),
        ("refusal", StopReason.REFUSAL),
        ("stop_sequence", StopReason.END),
        ("tool_use", StopReason.OTHER),
        ("model_context_window_exceeded", StopReason.MAX_TOKENS),
    ],
)
async def test_anthropic_stop_reason_maps(
    anthropic_server: AnthropicServer, claude: AnthropicProvider, stop_reason: str, expected: StopReason
) -> None:
    anthropic_server.script(Reply("cut", stop_reason=stop_reason, input_tokens=10, output_tokens=3))
    response = await claude.complete(ask(), CLAUDE, timeout=5)
    assert response.stop_reason is expected
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 3)


# -- Anthropic: errors -----------------------------------------------------------------------


async def test_anthropic_529_is_overloaded(anthropic_server: AnthropicServer, claude: AnthropicProvider) -> None:
    anthropic_server.script(Status(529))
    error = await failure(claude, CLAUDE)
    assert error.category is ErrorCategory.OVERLOADED
    assert error.status == 529
    assert error.retryable


async def test_anthropic_overloaded_error_type_on_another_status(
    anthropic_server: AnthropicServer, claude: AnthropicProvider
) -> None:
    anthropic_server.script(Status(500, error_type="overloaded_error", message="Overloaded"))
    error = await failure(claude, CLAUDE)
    assert error.category is ErrorCategory.OVERLOADED


async def test_anthropic_429_is_rate_limited_with_retry_after(
    anthropic_server: AnthropicServer, claude: AnthropicProvider
) -> None:
    anthropic_server.script(Status(429, retry_after=12))
    error = await failure(claude, CLAUDE)
    assert error.category is ErrorCategory.RATE_LIMITED
    assert error.retry_after == 12


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status(500), ErrorCategory.SERVER_ERROR),
        (Status(402), ErrorCategory.PERMISSION),
        (Status(403), ErrorCategory.PERMISSION),
        (Status(404), ErrorCategory.NOT_FOUND),
        (Status(400), ErrorCategory.BAD_REQUEST),
        (Status(504), ErrorCategory.TIMEOUT),
        (Status(413), ErrorCategory.CONTEXT_LENGTH_EXCEEDED),
    ],
)
async def test_anthropic_status_maps_to_category(
    anthropic_server: AnthropicServer, claude: AnthropicProvider, status: Status, expected: ErrorCategory
) -> None:
    anthropic_server.script(status)
    error = await failure(claude, CLAUDE)
    assert error.category is expected
    assert error.status == status.code


async def test_anthropic_prompt_too_long_is_context_length(
    anthropic_server: AnthropicServer, claude: AnthropicProvider
) -> None:
    anthropic_server.context_window = 3
    error = await failure(claude, CLAUDE, text="far too many words for this model")
    assert error.category is ErrorCategory.CONTEXT_LENGTH_EXCEEDED
    assert "prompt is too long" in error.message


async def test_anthropic_bad_key_is_authentication_and_the_key_never_shows(anthropic_server: AnthropicServer) -> None:
    wrong = "sk-ant-wrong-key-0123456789abcdef"
    provider = AnthropicProvider.from_settings(
        {"providers": {"anthropic": {**anthropic_server.provider_settings(), "api_key": wrong}}}
    )
    try:
        error = await failure(provider, CLAUDE)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.AUTHENTICATION
    assert anthropic_server.requests[0].api_key == wrong  # the key did reach the server, which echoed it
    for text in (str(error), repr(error), error.message):
        assert wrong not in text


async def test_anthropic_hang_times_out(anthropic_server: AnthropicServer, claude: AnthropicProvider) -> None:
    anthropic_server.script(Hang())
    started = time.monotonic()
    error = await failure(claude, CLAUDE, timeout=SHORT)
    assert error.category is ErrorCategory.TIMEOUT
    assert time.monotonic() - started < SHORT + 1.0


async def test_anthropic_dropped_connection_is_connection(
    anthropic_server: AnthropicServer, claude: AnthropicProvider
) -> None:
    anthropic_server.script(Drop())
    error = await failure(claude, CLAUDE)
    assert error.category is ErrorCategory.CONNECTION


@pytest.mark.parametrize(
    "malformed",
    [
        Malformed(),
        Malformed(body='{"type": "message", "content": null}'),
        Malformed(body="upstream error", content_type="text/plain"),
    ],
)
async def test_anthropic_malformed_body_is_server_error(
    anthropic_server: AnthropicServer, claude: AnthropicProvider, malformed: Malformed
) -> None:
    anthropic_server.script(malformed)
    error = await failure(claude, CLAUDE)
    assert error.category is ErrorCategory.SERVER_ERROR


async def test_anthropic_sdk_retry_honours_retry_after(anthropic_server: AnthropicServer) -> None:
    provider = AnthropicProvider.from_settings(
        {"providers": {"anthropic": anthropic_server.provider_settings(max_retries=1)}}
    )
    anthropic_server.script(Status(529, retry_after_ms=300), Reply("after the storm"))
    try:
        response = await provider.complete(ask(), CLAUDE, timeout=5)
    finally:
        await provider.aclose()
    assert response.text == "after the storm"
    first, second = anthropic_server.requests
    assert second.received_at - first.received_at >= 0.28


async def test_anthropic_sdk_raises_overloaded_class_for_529(anthropic_server: AnthropicServer) -> None:
    """The server's 529 is what the real SDK recognises as OverloadedError (wire format check)."""
    client = anthropic.AsyncAnthropic(api_key=ANTHROPIC_TEST_KEY, base_url=anthropic_server.base_url, max_retries=0)
    anthropic_server.script(Status(529))
    with pytest.raises(anthropic.OverloadedError) as caught:
        await client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    await client.close()
    assert caught.value.type == "overloaded_error"


async def test_deadline_while_the_sdk_waits_out_retry_after_reports_the_answer(
    anthropic_server: AnthropicServer,
) -> None:
    """Anthropic's SDK would sleep the whole Retry-After; the call's deadline comes first and says why."""
    provider = AnthropicProvider.from_settings(
        {"providers": {"anthropic": anthropic_server.provider_settings(max_retries=2)}}
    )
    anthropic_server.script(Status(429, retry_after=30))
    try:
        error = await failure(provider, CLAUDE, timeout=SHORT)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.RATE_LIMITED
    assert error.retry_after == 30
    assert len(anthropic_server.requests) == 1
    assert "no retry could be made" in error.message


async def test_deadline_during_a_retried_request_is_a_timeout(openai_server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings(max_retries=1)}})
    openai_server.script(Status(500, retry_after_ms=10), Hang())
    try:
        error = await failure(provider, GPT, timeout=SHORT)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.TIMEOUT
    assert len(openai_server.requests) == 2


async def test_openai_gives_up_at_once_on_a_retry_after_beyond_its_cap(openai_server: OpenAIServer) -> None:
    """The OpenAI SDK does not retry when Retry-After exceeds two minutes; the wait is passed on."""
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings(max_retries=2)}})
    openai_server.script(Status(429, retry_after=600))
    try:
        error = await failure(provider, GPT, timeout=5)
    finally:
        await provider.aclose()
    assert (error.category, error.retry_after) == (ErrorCategory.RATE_LIMITED, 600)
    assert len(openai_server.requests) == 1


async def test_provider_timeout_setting_caps_the_callers_timeout(openai_server: OpenAIServer) -> None:
    provider = OpenAIProvider.from_settings({"providers": {"openai": openai_server.provider_settings(timeout=SHORT)}})
    openai_server.script(Hang())
    started = time.monotonic()
    try:
        error = await failure(provider, GPT, timeout=30)
    finally:
        await provider.aclose()
    assert error.category is ErrorCategory.TIMEOUT
    assert time.monotonic() - started < SHORT + 1.0


# -- registration and settings ---------------------------------------------------------------


def registered(module: Any, settings: Any) -> list[Any]:
    providers: list[Any] = []
    module.register_providers(register=providers.append, settings=settings)
    return providers


async def test_nothing_registers_without_a_key() -> None:
    assert registered(openai_module, {}) == []
    assert registered(anthropic_module, {"providers": {"anthropic": {"timeout": 5}}}) == []
    assert not openai_module.is_configured({})
    assert not anthropic_module.is_configured({})


async def test_a_key_in_settings_or_environment_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    (provider,) = registered(openai_module, {"providers": {"openai": {"api_key": "sk-settings-key-123456"}}})
    assert provider.name == "openai"
    await provider.aclose()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-key-123456")
    assert anthropic_module.is_configured({})
    (provider,) = registered(anthropic_module, {})
    assert provider.name == "anthropic"
    await provider.aclose()


async def test_settings_from_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dynaconf keeps the upper case of keys that come from INTELBOT_PROVIDERS__OPENAI__API_KEY and the like."""
    monkeypatch.setenv("INTELBOT_PROVIDERS__OPENAI__API_KEY", "sk-from-environment-123456")
    monkeypatch.setenv("INTELBOT_PROVIDERS__OPENAI__TIMEOUT", "7")
    config = openai_module.openai_settings(load_settings(tmp_path))
    assert config.key == "sk-from-environment-123456"
    assert config.timeout == 7
    defaults = ProviderSettings(name="openai", timeout=7)
    assert config.model_dump(exclude={"api_key"}) == defaults.model_dump(exclude={"api_key"})  # nothing else read


async def test_keyless_openai_compatible_server_is_served() -> None:
    """An Ollama-like server: base_url with api_key = "none" (or requires_key = false), no auth needed."""
    async with OpenAIServer() as server:
        for table in (
            {"base_url": server.base_url, "api_key": "none", "max_retries": 0},
            {"base_url": server.base_url, "requires_key": False, "max_retries": 0},
        ):
            settings = {"providers": {"openai": table}}
            assert openai_module.is_configured(settings)
            (provider,) = registered(openai_module, settings)
            try:
                response = await provider.complete(ask("ping"), GPT, timeout=5)
            finally:
                await provider.aclose()
            assert response.text == "Echo: ping"
        assert [recorded.body["max_tokens"] for recorded in server.requests] == [1024, 1024]
    assert not openai_module.is_configured({"providers": {"openai": {"api_key": "none"}}})


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"api_key": "k", "timeout": "soon"}, "providers.openai.timeout"),
        ({"api_key": "k", "timeout": 0}, "providers.openai.timeout"),
        ({"api_key": "k", "max_retries": -1}, "providers.openai.max_retries"),
        ({"api_key": "k", "base_url": "localhost:11434"}, "providers.openai.base_url"),
        ({"api_key": 123}, "providers.openai.api_key"),
        ({"api_key": "k", "max_tokens_field": "tokens"}, "providers.openai.max_tokens_field"),
    ],
)
async def test_bad_provider_settings_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        registered(openai_module, {"providers": {"openai": table}})
    assert caught.value.key == key
    assert key in str(caught.value)


async def test_settings_repr_hides_the_key() -> None:
    config = openai_module.openai_settings({"providers": {"openai": {"api_key": "sk-hidden-0123456789"}}})
    assert "sk-hidden-0123456789" not in repr(config)


# -- helpers of the error mapping ------------------------------------------------------------


async def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"retry-after": "3"}) == 3
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": email.utils.formatdate(now + 42, usegmt=True)}, now=now) == 42
    assert retry_after_seconds({"retry-after": email.utils.formatdate(now - 42, usegmt=True)}, now=now) == 0
    assert retry_after_seconds({"retry-after": "whenever"}) is None
    assert retry_after_seconds({}) is None


async def test_redact_removes_secrets_and_key_shaped_tokens() -> None:
    text = "bad key my-own-secret-value and sk-proj-abcdefghijkl, header Bearer abcdefghijklmnop; key provided"
    cleaned = redact(text, ["my-own-secret-value"])
    assert "my-own-secret-value" not in cleaned
    assert "sk-proj-abcdefghijkl" not in cleaned
    assert "abcdefghijklmnop" not in cleaned
    assert cleaned.endswith("key provided")


# -- through the kernel ----------------------------------------------------------------------


async def test_kernel_answers_through_openai_and_prices_the_usage(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel = await make_kernel(
        settings={"llm": {"default_model": "gpt-4o-mini"}, "providers": {"openai": openai_server.provider_settings()}}
    )
    assert "openai" in kernel.providers
    openai_server.script(Reply("Bonjour", input_tokens=1_000_000, output_tokens=1_000_000))
    response = await kernel.ask("say hello in French", TurnContext(guild_id=1, user_id=2))
    assert (response.text, response.provider, response.model) == ("Bonjour", "openai", "gpt-4o-mini")
    assert response.cost_usd == pytest.approx(0.15 + 0.6)  # the catalog's prices per million tokens
    assert openai_server.requests[0].body["messages"][-1] == {"role": "user", "content": "say hello in French"}


async def test_kernel_raises_the_providers_category(
    make_kernel: KernelFactory, anthropic_server: AnthropicServer
) -> None:
    kernel = await make_kernel(
        settings={
            "llm": {"default_model": "claude-haiku-4-5"},
            "providers": {"anthropic": anthropic_server.provider_settings()},
        }
    )
    anthropic_server.script(Status(529), Status(429, retry_after=3))
    with pytest.raises(ProviderError) as overloaded:
        await kernel.ask("hello", TurnContext())
    with pytest.raises(ProviderError) as limited:
        await kernel.ask("hello", TurnContext())
    assert overloaded.value.category is ErrorCategory.OVERLOADED
    assert (limited.value.category, limited.value.retry_after) == (ErrorCategory.RATE_LIMITED, 3)
    assert len(anthropic_server.requests) == 2


async def test_several_openai_compatible_servers_serve_side_by_side(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    async with OpenAIServer() as local:  # a keyless local server, as Ollama or vLLM
        kernel = await make_kernel(
            settings={
                "llm": {"default_model": "gpt-4o-mini"},
                "providers": {
                    "openai": openai_server.provider_settings(),
                    "ollama": {"kind": "openai", "base_url": local.base_url, "requires_key": False, "max_retries": 0},
                },
                "models": {"llama3": {"provider": "ollama", "api_model": "llama3.2", "tier": "small"}},
            }
        )
        assert {"openai", "ollama"} <= set(kernel.providers)
        local.script(Reply("from the local server", input_tokens=5, output_tokens=4))
        openai_server.script(Reply("from openai", input_tokens=5, output_tokens=4))
        local_answer = await kernel.ask("hi", TurnContext(), model="llama3")
        remote_answer = await kernel.ask("hi", TurnContext())
        assert (local_answer.text, local_answer.provider) == ("from the local server", "ollama")
        assert local_answer.cost_usd == 0  # the catalog entry gives no price
        assert (remote_answer.text, remote_answer.provider) == ("from openai", "openai")
        assert local.requests[0].body["model"] == "llama3.2"
        assert local.requests[0].api_key == "none"  # a keyless server gets a placeholder, never the OpenAI key
