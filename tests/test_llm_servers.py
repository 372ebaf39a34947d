"""The loopback LLM servers themselves: wire formats, scripting, recording, auth, shutdown.

The providers' tests (test_providers.py) cover what the adapters make of these answers;
here the servers are driven with the raw SDKs and with plain HTTP (httpx).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from intelbot.providers.sdk_errors import error_fields
from intelbot.testing.llm_servers import (
    ANTHROPIC_TEST_KEY,
    OPENAI_TEST_KEY,
    AnthropicServer,
    Hang,
    OpenAIServer,
    Reply,
    Slow,
    Status,
    hashed_embedding,
)

pytestmark = pytest.mark.asyncio

HI: Any = [{"role": "user", "content": "hi"}]


def openai_client(server: OpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)


async def test_servers_listen_on_loopback_only(openai_server: OpenAIServer, anthropic_server: AnthropicServer) -> None:
    assert openai_server.base_url == f"http://127.0.0.1:{openai_server.port}/v1"
    assert anthropic_server.base_url == f"http://127.0.0.1:{anthropic_server.port}"
    assert openai_server.port != anthropic_server.port


async def test_embeddings_default_vectors_are_deterministic_unit_vectors(openai_server: OpenAIServer) -> None:
    client = openai_client(openai_server)
    first = await client.embeddings.create(model="text-embedding-3-small", input=["the cat", "the dog", "the cat"])
    again = await client.embeddings.create(model="text-embedding-3-small", input="the cat", encoding_format="float")
    await client.close()

    vectors = [item.embedding for item in first.data]
    assert [item.index for item in first.data] == [0, 1, 2]
    assert len(vectors[0]) == openai_server.embedding_dimensions
    assert math.isclose(sum(value * value for value in vectors[0]), 1.0, rel_tol=1e-5)
    assert vectors[0] != vectors[1]
    # the SDK asks for base64 by default: float32 on the wire, so equal to the float answer within float32 precision
    assert vectors[0] == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert again.data[0].embedding == pytest.approx(hashed_embedding("the cat", openai_server.embedding_dimensions))
    assert first.usage.prompt_tokens == 6
    assert openai_server.requests[0].body["encoding_format"] == "base64"


async def test_embeddings_can_be_scripted_and_sized(openai_server: OpenAIServer) -> None:
    openai_server.embeddings["cat"] = [1.0, 0.0, 0.0]
    client = openai_client(openai_server)
    scripted = await client.embeddings.create(model="text-embedding-3-small", input="cat")
    sized = await client.embeddings.create(model="text-embedding-3-small", input="dog", dimensions=7)
    await client.close()
    assert scripted.data[0].embedding == [1.0, 0.0, 0.0]
    assert len(sized.data[0].embedding) == 7


async def test_models_are_listed(openai_server: OpenAIServer) -> None:
    client = openai_client(openai_server)
    models = [model.id async for model in client.models.list()]
    await client.close()
    assert models == openai_server.models


async def test_script_is_first_in_first_out_then_default(openai_server: OpenAIServer) -> None:
    openai_server.script(Reply("one"), Status(500), Reply("three"))
    client = openai_client(openai_server)
    answers: list[str] = []
    for _ in range(4):
        try:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            answers.append(completion.choices[0].message.content or "")
        except openai.InternalServerError:
            answers.append("500")
    await client.close()
    assert answers == ["one", "500", "three", "Echo: hi"]
    assert openai_server.pending == 0


async def test_fail_all_until_recover_keeps_the_script(anthropic_server: AnthropicServer) -> None:
    client = anthropic.AsyncAnthropic(api_key=ANTHROPIC_TEST_KEY, base_url=anthropic_server.base_url, max_retries=0)
    anthropic_server.script(Reply("scripted"))
    anthropic_server.fail_all(Status(529))
    for _ in range(3):
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(model="m", max_tokens=5, messages=HI)
    anthropic_server.recover()
    answer = await client.messages.create(model="m", max_tokens=5, messages=HI)
    await client.close()
    assert answer.content[0].type == "text"
    assert answer.content[0].text == "scripted"
    assert len(anthropic_server.requests) == 4


async def test_wrong_key_gets_401_in_each_providers_format(
    openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    async with httpx.AsyncClient() as http:
        openai_answer = await http.post(
            f"{openai_server.base_url}/chat/completions",
            json={"model": "gpt-4o-mini", "messages": HI},
            headers={"Authorization": "Bearer nope"},
        )
        anthropic_answer = await http.post(
            f"{anthropic_server.base_url}/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": HI},
            headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"},
        )
    assert openai_answer.status_code == 401
    assert openai_answer.json()["error"]["code"] == "invalid_api_key"
    assert anthropic_answer.status_code == 401
    assert anthropic_answer.json()["type"] == "error"
    assert anthropic_answer.json()["error"]["type"] == "authentication_error"
    assert openai_server.pending == 0


async def test_requests_are_recorded_without_credentials(openai_server: OpenAIServer) -> None:
    client = openai_client(openai_server)
    await client.chat.completions.create(model="gpt-4o-mini", messages=HI, max_tokens=3)
    await client.close()
    (recorded,) = openai_server.requests_to("/v1/chat/completions")
    assert recorded.method == "POST"
    assert recorded.auth_present
    assert recorded.api_key == OPENAI_TEST_KEY
    assert all(OPENAI_TEST_KEY not in value for value in recorded.headers.values())
    assert recorded.body == {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 3}
    assert recorded.received_at <= time.monotonic()


async def test_anthropic_server_validates_like_the_api(anthropic_server: AnthropicServer) -> None:
    headers = {"x-api-key": ANTHROPIC_TEST_KEY}
    async with httpx.AsyncClient(base_url=anthropic_server.base_url) as http:
        no_version = await http.post(
            "/v1/messages", json={"model": "m", "max_tokens": 5, "messages": HI}, headers=headers
        )
        headers["anthropic-version"] = "2023-06-01"
        system_role = await http.post(
            "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}, *HI]},
            headers=headers,
        )
        no_max_tokens = await http.post("/v1/messages", json={"model": "m", "messages": HI}, headers=headers)
        streaming = await http.post(
            "/v1/messages", json={"model": "m", "max_tokens": 5, "messages": HI, "stream": True}, headers=headers
        )
    for answer in (no_version, system_role, no_max_tokens, streaming):
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"


async def test_error_headers_carry_retry_after(anthropic_server: AnthropicServer) -> None:
    anthropic_server.script(Status(429, retry_after=2.5, retry_after_ms=2500, headers={"x-should-retry": "false"}))
    async with httpx.AsyncClient(base_url=anthropic_server.base_url) as http:
        answer = await http.post(
            "/v1/messages",
            json={"model": "m", "max_tokens": 5, "messages": HI},
            headers={"x-api-key": ANTHROPIC_TEST_KEY, "anthropic-version": "2023-06-01"},
        )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "2.5"
    assert answer.headers["retry-after-ms"] == "2500"
    assert answer.headers["x-should-retry"] == "false"
    assert answer.json()["error"]["type"] == "rate_limit_error"


async def test_close_releases_hanging_and_slow_requests() -> None:
    server = OpenAIServer()
    await server.start()
    server.script(Hang(), Slow(60))
    client = openai.AsyncOpenAI(api_key="any", base_url=server.base_url, max_retries=0, timeout=30)
    calls = [asyncio.create_task(client.chat.completions.create(model="gpt-4o-mini", messages=HI)) for _ in range(2)]
    await server.wait_for_requests(2, within=5)
    started = time.monotonic()
    await server.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    await client.close()
    assert time.monotonic() - started < 3
    assert all(isinstance(result, openai.APIConnectionError) for result in results)


async def test_server_usable_without_pytest_fixtures() -> None:
    async with AnthropicServer() as server:  # no api_key: any key is accepted
        client = anthropic.AsyncAnthropic(api_key="whatever", base_url=server.base_url, max_retries=0)
        answer = await client.messages.create(model="m", max_tokens=5, system="s", messages=HI)
        await client.close()
    assert answer.usage.input_tokens == 2
    assert server.requests[0].api_key == "whatever"


async def test_error_fields_read_both_body_shapes() -> None:
    anthropic_body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert error_fields(anthropic_body) == ("overloaded_error", None, "Overloaded")
    assert error_fields(anthropic_body["error"]) == ("overloaded_error", None, "Overloaded")
    openai_inner = {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}
    assert error_fields({"error": openai_inner}) == ("invalid_request_error", "context_length_exceeded", "too long")
    with_details = {"type": "rate_limit_error", "message": "m", "details": {"error_code": "ramp_limit_exceeded"}}
    assert error_fields(with_details) == ("rate_limit_error", "ramp_limit_exceeded", "m")
    assert error_fields("not json") == (None, None, None)


async def test_benchmark_mode_counts_without_recording() -> None:
    async with OpenAIServer() as server:
        server.record_requests = False
        client = openai.AsyncOpenAI(api_key="any", base_url=server.base_url, max_retries=0)
        for _ in range(3):
            await client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        await client.close()
        assert (server.request_count, server.requests) == (3, [])
        server.reset()
        assert server.request_count == 0
