"""The part every loopback LLM server shares: an aiohttp app on 127.0.0.1, a script, a record.

Subclasses (:class:`~intelbot.testing.openai_server.OpenAIServer`,
:class:`~intelbot.testing.anthropic_server.AnthropicServer`) add the routes and the wire
format. The server listens on a random free port of 127.0.0.1 only. Use it as
``async with OpenAIServer() as server: ...`` or call ``await server.start()`` and
``await server.close()`` yourself (from a benchmark script, for example).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

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

_CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
LOOPBACK_HOST = "127.0.0.1"


def count_words(text: str) -> int:
    """The servers' token count: whitespace-separated words (deterministic, not a real tokenizer)."""
    return len(text.split())


class BadRequest(Exception):
    """Raised by a subclass while reading a request; answered as a 400 in the provider's format."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class LoopbackLLMServer:
    """A scriptable HTTP server speaking one provider's wire format on 127.0.0.1.

    Behaviour per request, in order: credentials are checked when the server was made
    with ``api_key`` (a wrong or missing key gets 401); the body is validated (400 on a
    missing field); with ``context_window`` set, a prompt of more words than that gets
    the provider's context-length error; then the outcome is chosen: the ``fail_all``
    outcome while one is set, else the next scripted outcome, else ``default``
    (an echo :class:`Reply` unless changed). Every request is counted in ``request_count``
    and recorded in ``requests``; a long benchmark sets ``record_requests = False`` to
    keep only the count.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        default: Outcome | None = None,
        context_window: int | None = None,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.requested_port = port
        self.default: Outcome = default if default is not None else Reply()
        self.context_window = context_window
        self.requests: list[RecordedRequest] = []
        self.request_count = 0
        self.record_requests = True
        self._script: deque[Outcome] = deque()
        self._failing: Outcome | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing: asyncio.Event | None = None
        self._arrived: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind a random port on 127.0.0.1 and start serving; returns the server."""
        if self._runner is not None:
            return self
        self._closing = asyncio.Event()
        self._arrived = asyncio.Event()
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK_HOST, self.requested_port))
            self._port = sock.getsockname()[1]
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        return self

    async def close(self) -> None:
        """Release hanging and slow requests, then stop the server. Safe to call twice."""
        if self._closing is not None:
            self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started; use 'async with' or 'await server.start()'")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK_HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give the provider's SDK as ``base_url``."""
        return self.origin

    # -- scripting -------------------------------------------------------------------------

    def script(self, *outcomes: Outcome) -> None:
        """Queue outcomes for the next requests to model endpoints, first in first out."""
        self._script.extend(outcomes)

    @property
    def pending(self) -> int:
        """How many scripted outcomes are still queued."""
        return len(self._script)

    def fail_all(self, outcome: Outcome | None = None) -> None:
        """Answer every model request with ``outcome`` (default: a 500) until :meth:`recover`.

        The script queue is left untouched and resumes after recovery.
        """
        self._failing = outcome if outcome is not None else Status(500)

    def recover(self) -> None:
        """End :meth:`fail_all`."""
        self._failing = None

    def reset(self) -> None:
        """Forget scripted outcomes, failure mode, recorded requests and the request count."""
        self._script.clear()
        self._failing = None
        self.requests.clear()
        self.request_count = 0

    def _next_outcome(self) -> Outcome:
        if self._failing is not None:
            return self._failing
        if self._script:
            return self._script.popleft()
        return self.default

    # -- recording -------------------------------------------------------------------------

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Recorded requests whose path is ``path`` (for example ``/v1/messages``)."""
        return [recorded for recorded in self.requests if recorded.path == path]

    async def wait_for_requests(self, count: int, within: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests were received; TimeoutError after ``within`` seconds."""
        if self._arrived is None:
            raise RuntimeError("the server is not started")
        async with asyncio.timeout(within):
            while self.request_count < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.requests)

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _CREDENTIAL_HEADERS}
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=headers,
            api_key=self.presented_key(request),
            body=body,
            received_at=time.monotonic(),
        )
        self.request_count += 1
        if self.record_requests:
            self.requests.append(recorded)
        if self._arrived is not None:
            self._arrived.set()
        return recorded

    # -- what subclasses provide -----------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def presented_key(self, request: web.Request) -> str | None:
        """The API key the client sent, read from the provider's auth header."""
        raise NotImplementedError

    def error_body(self, status: Status) -> dict[str, Any]:
        """The provider's JSON error body for ``status``."""
        raise NotImplementedError

    def authentication_failure(self, presented: str | None) -> Status:
        """What the provider answers to a wrong or missing key."""
        raise NotImplementedError

    def context_length_failure(self, prompt_tokens: int, limit: int) -> Status:
        """What the provider answers to a prompt longer than its context window."""
        raise NotImplementedError

    def request_id_header(self) -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex[:24]}"}

    # -- serving ---------------------------------------------------------------------------

    async def serve(
        self,
        request: web.Request,
        *,
        prompt_tokens: Callable[[Any], int],
        render: Callable[[RecordedRequest, Reply], dict[str, Any]],
        scripted: bool = True,
    ) -> web.StreamResponse:
        """The common path of every endpoint: record, authenticate, validate, then play an outcome.

        ``prompt_tokens(body)`` validates the body (raising :class:`BadRequest`) and
        returns its size in tokens; ``render`` turns a :class:`Reply` into the JSON answer.
        """
        recorded = await self._record(request)
        if self.api_key is not None and recorded.api_key != self.api_key:
            return self.error_response(self.authentication_failure(recorded.api_key))
        try:
            if request.method == "POST" and not isinstance(recorded.body, dict):
                raise BadRequest("the request body must be a JSON object")
            tokens = prompt_tokens(recorded.body)
        except BadRequest as problem:
            return self.error_response(Status(400, message=problem.message, error_code=problem.error_code))
        if self.context_window is not None and tokens > self.context_window:
            return self.error_response(self.context_length_failure(tokens, self.context_window))
        outcome = self._next_outcome() if scripted else Reply()
        return await self._play(request, outcome, recorded, render)

    async def _play(
        self,
        request: web.Request,
        outcome: Outcome,
        recorded: RecordedRequest,
        render: Callable[[RecordedRequest, Reply], dict[str, Any]],
    ) -> web.StreamResponse:
        if isinstance(outcome, Reply):
            return web.json_response(render(recorded, outcome), headers=self.request_id_header())
        if isinstance(outcome, Status):
            return self.error_response(outcome)
        if isinstance(outcome, Slow):
            if await self._wait_or_close(outcome.seconds):
                return self._drop(request)
            return await self._play(request, outcome.then, recorded, render)
        if isinstance(outcome, Hang):
            await self._wait_or_close(None)
            return self._drop(request)
        if isinstance(outcome, Malformed):
            return web.Response(
                text=outcome.body,
                status=outcome.status,
                content_type=outcome.content_type,
                headers=self.request_id_header(),
            )
        if isinstance(outcome, Drop):
            return self._drop(request)
        raise TypeError(f"not a scripted outcome: {outcome!r}")

    def _drop(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)

    async def _wait_or_close(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (forever for None); True when cut short by :meth:`close`."""
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def error_response(self, status: Status) -> web.Response:
        headers = dict(self.request_id_header())
        if status.retry_after is not None:
            value = status.retry_after
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            headers["Retry-After"] = str(value)
        if status.retry_after_ms is not None:
            headers["retry-after-ms"] = str(status.retry_after_ms)
        headers.update(status.headers)
        return web.json_response(self.error_body(status), status=status.code, headers=headers)


def serve_from_command_line(server_class: type[LoopbackLLMServer], description: str) -> None:
    """``python -m intelbot.testing.<x>_server [--port N] [--api-key KEY]``: serve until interrupted.

    Prints the ``base_url`` to give a client (for example ``[providers.openai] base_url``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--api-key", default=None, help="require this key (default: accept any)")
    arguments = parser.parse_args()

    async def serve() -> None:
        async with server_class(api_key=arguments.api_key, port=arguments.port) as server:
            print(f"{description} at {server.base_url} (Ctrl-C stops it)", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
