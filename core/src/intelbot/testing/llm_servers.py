"""Loopback LLM servers for tests: everything needed to start and script them, in one import.

The pytest fixtures ``openai_server`` and ``anthropic_server`` (from the ``intelbot-testing``
distribution) start an :class:`OpenAIServer` requiring ``OPENAI_TEST_KEY`` and an
:class:`AnthropicServer` requiring ``ANTHROPIC_TEST_KEY`` on 127.0.0.1.

Point a provider at one with ``settings={"providers": {"openai": openai_server.provider_settings()}}``
or an SDK client with ``AsyncOpenAI(api_key=openai_server.api_key, base_url=openai_server.base_url)``.
Script what the next requests get with ``server.script(Status(429, retry_after=1), Reply("hi"))``
and read what arrived in ``server.requests``.

Nothing here imports pytest: scripts and benchmarks use the servers the same way.
"""

from __future__ import annotations

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
    "hashed_embedding",
]
