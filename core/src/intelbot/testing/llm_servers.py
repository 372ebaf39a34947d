"""Loopback LLM servers for tests: the pytest fixtures and everything needed to script them.

Fixtures (function scope, started on 127.0.0.1 and closed after the test):

- ``openai_server``: an :class:`OpenAIServer` requiring the key ``OPENAI_TEST_KEY``;
- ``anthropic_server``: an :class:`AnthropicServer` requiring the key ``ANTHROPIC_TEST_KEY``.

Point a provider at one with ``settings={"providers": {"openai": openai_server.provider_settings()}}``
or an SDK client with ``AsyncOpenAI(api_key=openai_server.api_key, base_url=openai_server.base_url)``.
Script what the next requests get with ``server.script(Status(429, retry_after=1), Reply("hi"))``
and read what arrived in ``server.requests``.

Scripts and benchmarks that do not run under pytest import the servers from
:mod:`intelbot.testing.openai_server` and :mod:`intelbot.testing.anthropic_server`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from intelbot.testing.anthropic_server import ANTHROPIC_TEST_KEY, AnthropicServer
from intelbot.testing.loopback_server import LoopbackLLMServer
from intelbot.testing.openai_server import OPENAI_TEST_KEY, OpenAIServer, hashed_embedding
from intelbot.testing.scripted_replies import (
    Drop,
    Hang,
    Malformed,
    Outcome,
    RecordedRequest,
    Reply,
    Slow,
    Status,
)

__all__ = [
    "ANTHROPIC_TEST_KEY",
    "OPENAI_TEST_KEY",
    "AnthropicServer",
    "Drop",
    "Hang",
    "LoopbackLLMServer",
    "Malformed",
    "OpenAIServer",
    "Outcome",
    "RecordedRequest",
    "Reply",
    "Slow",
    "Status",
    "anthropic_server",
    "hashed_embedding",
    "openai_server",
]


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    """A started :class:`OpenAIServer` that requires ``OPENAI_TEST_KEY``."""
    async with OpenAIServer(api_key=OPENAI_TEST_KEY) as server:
        yield server


@pytest_asyncio.fixture
async def anthropic_server() -> AsyncIterator[AnthropicServer]:
    """A started :class:`AnthropicServer` that requires ``ANTHROPIC_TEST_KEY``."""
    async with AnthropicServer(api_key=ANTHROPIC_TEST_KEY) as server:
        yield server
