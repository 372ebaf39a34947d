"""A loopback server speaking the Anthropic Messages wire format, for tests and benchmarks.

Endpoint: ``POST /v1/messages`` (non-streaming). Auth is ``x-api-key`` (or
``Authorization: Bearer``); the ``anthropic-version`` header is required, as by the real
API. Errors use Anthropic's body ``{"type": "error", "error": {"type", "message"}}``,
including 529 ``overloaded_error``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from intelbot.testing.loopback_server import BadRequest, LoopbackLLMServer, count_words, serve_from_command_line
from intelbot.testing.scripted_replies import RecordedRequest, Reply, Status

ANTHROPIC_TEST_KEY = "sk-ant-loopback-anthropic-test-key"

_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}
_ROLES = frozenset({"user", "assistant"})


def _content_text(content: Any) -> str:
    """The text of a message's ``content`` or of ``system``: a string or a list of blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _prompt_tokens(body: Mapping[str, Any]) -> int:
    messages = body.get("messages") or []
    return count_words(_content_text(body.get("system"))) + sum(
        count_words(_content_text(message.get("content"))) for message in messages
    )


class AnthropicServer(LoopbackLLMServer):
    """Anthropic-compatible loopback server; ``base_url`` is the origin, as the SDK expects."""

    def provider_settings(self, **extra: Any) -> dict[str, Any]:
        """A ``[providers.anthropic]`` settings table pointing at this server (no SDK retries)."""
        return {"api_key": self.api_key or "none", "base_url": self.base_url, "max_retries": 0, **extra}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    def presented_key(self, request: web.Request) -> str | None:
        key = request.headers.get("x-api-key")
        if key is not None:
            return key
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else header

    def request_id_header(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:24]}"}

    def error_body(self, status: Status) -> dict[str, Any]:
        error_type, message = _DEFAULT_ERRORS.get(
            status.code, ("api_error" if status.code >= 500 else "invalid_request_error", f"Error {status.code}.")
        )
        error: dict[str, Any] = {
            "type": status.error_type if status.error_type is not None else error_type,
            "message": status.message if status.message is not None else message,
        }
        if status.error_code is not None:
            error["details"] = {"error_code": status.error_code}
        return {"type": "error", "error": error, "request_id": f"req_{uuid.uuid4().hex[:24]}"}

    def authentication_failure(self, presented: str | None) -> Status:
        # Deliberately echoes the presented key in full so tests prove adapters redact it.
        message = "x-api-key header is required" if presented is None else f"invalid x-api-key: {presented}"
        return Status(401, error_type="authentication_error", message=message)

    def context_length_failure(self, prompt_tokens: int, limit: int) -> Status:
        return Status(
            400,
            error_type="invalid_request_error",
            message=f"prompt is too long: {prompt_tokens} tokens > {limit} maximum",
        )

    @staticmethod
    def _validate(body: Any) -> int:
        if not isinstance(body.get("model"), str):
            raise BadRequest("model: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise BadRequest("max_tokens: Field required (a positive integer)")
        if body.get("stream"):
            raise BadRequest("the loopback server does not stream; send stream=false")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: at least one message is required")
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in _ROLES:
                raise BadRequest(f'messages.{index}.role: Input should be "user" or "assistant"')
        return _prompt_tokens(body)

    @staticmethod
    def _render(recorded: RecordedRequest, reply: Reply) -> dict[str, Any]:
        body = recorded.body
        last_user = next(
            (
                _content_text(message.get("content"))
                for message in reversed(body["messages"])
                if message["role"] == "user"
            ),
            "",
        )
        text = reply.text if reply.text is not None else f"Echo: {last_user}"
        input_tokens = reply.input_tokens if reply.input_tokens is not None else _prompt_tokens(body)
        output_tokens = reply.output_tokens if reply.output_tokens is not None else count_words(text)
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": text}] if text else [],
            "stop_reason": reply.stop_reason or "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        def validate(body: Any) -> int:
            if "anthropic-version" not in request.headers:
                raise BadRequest("anthropic-version: header is required")
            return self._validate(body)

        return await self.serve(request, prompt_tokens=validate, render=self._render)


if __name__ == "__main__":
    serve_from_command_line(AnthropicServer, "loopback Anthropic server")
