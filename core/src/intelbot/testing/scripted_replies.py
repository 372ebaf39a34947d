"""What a loopback LLM server does with one request: the scripted outcomes, and the record it keeps.

A test queues outcomes on a server (``server.script(Status(429, retry_after=1), Reply("hi"))``);
each POST to a model endpoint takes the next one, first in first out. The same outcome
types serve the OpenAI and the Anthropic server; each renders them in its own wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer.

    ``text=None`` echoes the last user message (``"Echo: <message>"``). Token counts
    default to word counts: input = words of every message and the system prompt,
    output = words of the answer. ``stop_reason`` is the provider's own wire value
    (OpenAI ``finish_reason``: ``"stop"``, ``"length"``, ``"content_filter"``;
    Anthropic ``stop_reason``: ``"end_turn"``, ``"max_tokens"``, ``"refusal"``);
    ``None`` means the normal end (``"stop"`` / ``"end_turn"``).
    ``refusal`` fills OpenAI's ``message.refusal`` field (ignored by Anthropic).
    """

    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """An error response with HTTP status ``code`` and a body in the provider's error format.

    ``error_type`` and ``message`` default to what the provider sends for that status
    (for example Anthropic's ``overloaded_error`` for 529). ``error_code`` is OpenAI's
    ``error.code`` (``"context_length_exceeded"``, ``"rate_limit_exceeded"``...) and
    Anthropic's ``error.details.error_code``. ``retry_after`` becomes the ``Retry-After``
    header: seconds (a number) or an HTTP date (a string sent verbatim).
    ``retry_after_ms`` becomes ``retry-after-ms``. ``headers`` are added as given
    (``{"x-should-retry": "false"}`` turns off the SDKs' retries).
    """

    code: int
    error_type: str | None = None
    message: str | None = None
    error_code: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Slow:
    """Wait ``seconds``, then play ``then``; a server that closes meanwhile drops the connection instead."""

    seconds: float
    then: Outcome = field(default_factory=Reply)


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer; when the server closes, the connection is dropped without an answer."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A broken body: by default status 200, ``Content-Type: application/json`` and invalid JSON.

    ``body='{"unexpected": true}'`` gives valid JSON of the wrong shape instead.
    """

    body: str = '{"id": "broken", "choices": ['
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Drop:
    """Close the connection without answering (the client sees a connection error)."""


Outcome = Reply | Status | Slow | Hang | Malformed | Drop


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it.

    ``headers`` holds every header except the credentials (``Authorization``,
    ``x-api-key``, ``api-key``); ``api_key`` is the key the client presented
    (``None`` when it sent none) so tests can assert which key was used.
    ``body`` is the decoded JSON body (``None`` for a GET or a body that is not JSON).
    ``received_at`` is ``time.monotonic()`` on arrival.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    api_key: str | None
    body: Any
    received_at: float

    @property
    def auth_present(self) -> bool:
        return self.api_key is not None
