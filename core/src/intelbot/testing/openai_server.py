"""A loopback server speaking the OpenAI REST wire format, for tests and benchmarks.

Endpoints: ``POST /v1/chat/completions`` (non-streaming), ``POST /v1/embeddings``
(float or base64 encoding, as the SDK asks) and ``GET /v1/models``. Auth is
``Authorization: Bearer <key>``. Errors use OpenAI's body
``{"error": {"message", "type", "param", "code"}}``.

Embeddings are scripted per text (``server.embeddings["some text"] = [...]``) or else a
deterministic unit vector derived from a hash of the text. Those default vectors are NOT
semantic: similar texts get unrelated vectors; equal texts get equal vectors.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from intelbot.testing.loopback_server import BadRequest, LoopbackLLMServer, count_words, serve_from_command_line
from intelbot.testing.scripted_replies import Outcome, RecordedRequest, Reply, Status

OPENAI_TEST_KEY = "sk-loopback-openai-test-key"

_DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported.",
    ),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _content_text(content: Any) -> str:
    """The text of a chat message's ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text`` derived from SHA-256; not semantic."""
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{block}\x00{text}".encode()).digest()
        for offset in range(0, len(digest), 4):
            (number,) = struct.unpack_from("<I", digest, offset)
            values.append(number / 0xFFFFFFFF * 2.0 - 1.0)
        block += 1
    values = values[:dimensions]
    norm = sum(value * value for value in values) ** 0.5 or 1.0
    return [value / norm for value in values]


class OpenAIServer(LoopbackLLMServer):
    """OpenAI-compatible loopback server; ``base_url`` ends in ``/v1`` as the SDK expects.

    ``models`` are listed by ``GET /v1/models``; ``embedding_dimensions`` is the length of
    default vectors when the request gives no ``dimensions``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        default: Outcome | None = None,
        context_window: int | None = None,
        port: int = 0,
        models: Iterable[str] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small"),
        embedding_dimensions: int = 64,
    ) -> None:
        super().__init__(api_key, default=default, context_window=context_window, port=port)
        self.models = list(models)
        self.embedding_dimensions = embedding_dimensions
        self.embeddings: dict[str, list[float]] = {}

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def provider_settings(self, **extra: Any) -> dict[str, Any]:
        """A ``[providers.openai]`` settings table pointing at this server (no SDK retries)."""
        return {"api_key": self.api_key or "none", "base_url": self.base_url, "max_retries": 0, **extra}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)

    def presented_key(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else header

    def error_body(self, status: Status) -> dict[str, Any]:
        error_type, code, message = _DEFAULT_ERRORS.get(
            status.code,
            ("server_error" if status.code >= 500 else "invalid_request_error", None, f"Error {status.code}."),
        )
        return {
            "error": {
                "message": status.message if status.message is not None else message,
                "type": status.error_type if status.error_type is not None else error_type,
                "param": None,
                "code": status.error_code if status.error_code is not None else code,
            }
        }

    def authentication_failure(self, presented: str | None) -> Status:
        # Deliberately echoes the presented key in full so tests prove adapters redact it.
        if presented is None:
            message = "You didn't provide an API key."
        else:
            message = f"Incorrect API key provided: {presented}. You can find your API key in your account."
        return Status(401, error_type="invalid_request_error", error_code="invalid_api_key", message=message)

    def context_length_failure(self, prompt_tokens: int, limit: int) -> Status:
        return Status(
            400,
            error_type="invalid_request_error",
            error_code="context_length_exceeded",
            message=(
                f"This model's maximum context length is {limit} tokens. However, your messages "
                f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
            ),
        )

    # -- chat completions ------------------------------------------------------------------

    @staticmethod
    def _chat_prompt_tokens(body: Any) -> int:
        if not isinstance(body.get("model"), str):
            raise BadRequest("you must provide a model parameter")
        if body.get("stream"):
            raise BadRequest("the loopback server does not stream; send stream=false")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array")
        for message in messages:
            if not isinstance(message, dict) or "role" not in message:
                raise BadRequest("each message must be an object with a 'role'")
        return sum(count_words(_content_text(message.get("content"))) for message in messages)

    @staticmethod
    def _render_chat(recorded: RecordedRequest, reply: Reply) -> dict[str, Any]:
        messages = recorded.body["messages"]
        last_user = next(
            (_content_text(message.get("content")) for message in reversed(messages) if message.get("role") == "user"),
            "",
        )
        text = reply.text if reply.text is not None else f"Echo: {last_user}"
        prompt_tokens = reply.input_tokens
        if prompt_tokens is None:
            prompt_tokens = sum(count_words(_content_text(message.get("content"))) for message in messages)
        completion_tokens = reply.output_tokens if reply.output_tokens is not None else count_words(text)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": recorded.body["model"],
            "system_fingerprint": "fp_loopback",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": reply.refusal},
                    "logprobs": None,
                    "finish_reason": reply.stop_reason or "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, prompt_tokens=self._chat_prompt_tokens, render=self._render_chat)

    # -- embeddings ------------------------------------------------------------------------

    @staticmethod
    def _embedding_inputs(body: Any) -> list[str]:
        if not isinstance(body.get("model"), str):
            raise BadRequest("you must provide a model parameter")
        raw = body.get("input")
        if isinstance(raw, str):
            return [raw]
        if isinstance(raw, list) and raw:
            if all(isinstance(item, str) for item in raw):
                return list(raw)
            if all(isinstance(item, int) for item in raw):
                return [" ".join(str(item) for item in raw)]
            if all(isinstance(item, list) for item in raw):
                return [" ".join(str(token) for token in item) for item in raw]
        raise BadRequest("'input' must be a string, an array of strings or an array of token arrays")

    def _embedding_prompt_tokens(self, body: Any) -> int:
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions <= 0):
            raise BadRequest("'dimensions' must be a positive integer")
        if body.get("encoding_format", "float") not in ("float", "base64"):
            raise BadRequest("'encoding_format' must be 'float' or 'base64'")
        return sum(count_words(text) for text in self._embedding_inputs(body))

    def vector_for(self, text: str, dimensions: int | None = None) -> list[float]:
        """The vector this server returns for ``text``: the scripted one, else the hashed default."""
        if text in self.embeddings:
            return list(self.embeddings[text])
        return hashed_embedding(text, dimensions or self.embedding_dimensions)

    def _render_embeddings(self, recorded: RecordedRequest, reply: Reply) -> dict[str, Any]:
        body = recorded.body
        texts = self._embedding_inputs(body)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = self.vector_for(text, body.get("dimensions"))
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = reply.input_tokens if reply.input_tokens is not None else sum(count_words(text) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, prompt_tokens=self._embedding_prompt_tokens, render=self._render_embeddings)

    # -- models ----------------------------------------------------------------------------

    def _render_models(self, recorded: RecordedRequest, reply: Reply) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 0, "owned_by": "loopback"} for model in self.models],
        }

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return await self.serve(request, prompt_tokens=lambda body: 0, render=self._render_models, scripted=False)


if __name__ == "__main__":
    serve_from_command_line(OpenAIServer, "loopback OpenAI server")
