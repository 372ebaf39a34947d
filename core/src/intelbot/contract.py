"""The objects that cross the hook boundary: requests, responses, turn context, memory.

Everything a plugin receives or returns is defined here and re-exported from the
top-level package (``from intelbot import LLMRequest, LLMResponse, TurnContext``).
These types are plain dataclasses so plugins can build them in tests without a kernel.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

StateT = TypeVar("StateT")

Role = Literal["system", "user", "assistant"]


class StopReason(StrEnum):
    """Why a model stopped producing text. Only ``END`` marks a complete, normal answer."""

    END = "end"
    MAX_TOKENS = "max_tokens"
    REFUSAL = "refusal"
    CONTENT_FILTER = "content_filter"
    OTHER = "other"


class Source(StrEnum):
    """Where a response came from."""

    PROVIDER = "provider"
    CACHE = "cache"
    PLUGIN = "plugin"


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(slots=True)
class LLMRequest:
    """A request for one completion.

    ``model`` names an entry of the model catalog (``[default.models.<name>]``).
    ``tier`` is what the caller asked for when it did not name a model (a router
    plugin may turn a tier into a model in ``before_llm_call``). Plugins may change
    ``model`` and ``messages`` in place; the kernel reads them after the hook.
    ``cacheable = False`` tells caches not to store or serve this request.
    """

    messages: list[Message]
    model: str
    system: str | None = None
    tier: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    cacheable: bool = True
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The text of the last user message ('' when there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage reported by the provider (or counted by the echo model)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class LLMResponse:
    """A completed answer, wherever it came from.

    ``cost_usd`` is computed by the kernel from the model catalog for provider
    responses; a cache hit costs nothing and records what it saved in ``metadata``.
    ``source`` says who produced it (``provider``, ``cache`` or ``plugin``) and
    ``served_by`` names the provider or plugin.
    """

    text: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    stop_reason: StopReason = StopReason.END
    source: Source = Source.PROVIDER
    served_by: str = ""
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when the model ended normally (not truncated, refused or filtered)."""
        return self.stop_reason is StopReason.END

    def usage_record(self) -> dict[str, Any]:
        """Who answered and what it cost, as flat fields: the usage ledger's row and ``intelbot ask --json``."""
        return {
            "model": self.model,
            "provider": self.provider,
            "source": self.source.value,
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
        }


@dataclass(slots=True)
class TurnContext:
    """Everything about one turn that is not the request itself.

    One ``TurnContext`` lives for one turn, across retries and fallbacks. A plugin
    keeps what it knows about the turn in a small dataclass of its own, reached with
    :meth:`state` (one instance per class per turn); plugins share facts the same way
    (:class:`PromptEmbedding`). ``deadline`` is a ``time.monotonic()`` instant after
    which no new attempt starts.
    """

    guild_id: int | None = None
    channel_id: int | None = None
    user_id: int | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    frontend: str = "api"
    attempt: int = 0
    deadline: float | None = None
    started_at: float = field(default_factory=time.monotonic)
    _states: dict[type[Any], Any] = field(default_factory=dict, repr=False)

    def state(self, kind: type[StateT]) -> StateT:
        """This turn's instance of ``kind`` (a class constructible with no arguments), made on first use."""
        found = self._states.get(kind)
        if found is None:
            found = self._states[kind] = kind()
        return found  # type: ignore[no-any-return]

    def has_state(self, kind: type[Any]) -> bool:
        """True when :meth:`state` has made an instance of ``kind`` in this turn."""
        return kind in self._states

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when the turn has none."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


@dataclass(slots=True)
class PromptEmbedding:
    """The turn's prompt embedding, shared so the cache, router and memory never embed the same text twice.

    Whoever embeds the prompt first sets all three fields; a reader reuses ``vector``
    only when ``text`` and ``model`` (the embedder's name) are the ones it would use.
    """

    text: str | None = None
    model: str | None = None
    vector: Any = None

    def reusable(self, text: str, model: str) -> Any:
        """The stored vector when it was made from ``text`` by ``model``, else None."""
        if self.vector is not None and self.text == text and self.model == model:
            return self.vector
        return None

    def keep(self, text: str, model: str, vector: Any) -> None:
        """Remember ``vector`` as the embedding of ``text`` by ``model``."""
        self.text, self.model, self.vector = text, model, vector


@dataclass(frozen=True, slots=True)
class Retry:
    """Recovery decision from ``on_error``: try again after ``delay`` seconds,
    on ``model`` when given (a fallback), else on the same model."""

    delay: float = 0.0
    model: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Recovery decision from ``on_error``: stop and raise to the caller.
    ``message`` replaces the user-facing message when given."""

    reason: str = ""
    message: str | None = None


RecoveryDecision = Retry | GiveUp


@dataclass(slots=True)
class MemoryRecord:
    """A piece of long-term memory, owned by a guild (and optionally a user)."""

    text: str
    guild_id: int | None = None
    user_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class MemoryQuery:
    """A search of long-term memory, limited to one guild (and user when given)."""

    text: str
    guild_id: int | None = None
    user_id: int | None = None
    limit: int = 5


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """One result of a memory query; ``score`` is in [0, 1], higher is better."""

    record: MemoryRecord
    score: float
    backend: str = ""
