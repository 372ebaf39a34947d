"""What makes two requests interchangeable: the normalized prompt and the scope.

An entry is only served to a request with the same scope key: the guild (unless
``share_across_guilds``), the model or tier asked for, the system prompt, the
conversation before the last user message, and the sampling parameters that
change the answer (temperature, top_p, max_tokens).

A turn outside any guild (a Discord DM, the console, the CLI) is private: its scope
also holds the user and where the turn came from (the operator's console and CLI
apart from Discord), whatever ``share_across_guilds`` says, so one user's DM answer
is never served to another user nor to the operator.
"""

from __future__ import annotations

import hashlib
import json
import re

from intelbot.contract import LLMRequest
from intelbot.embedding.prompt import embedding_text
from intelbot.reask import exact_text

__all__ = ["embedding_text", "exact_text", "normalize_text", "prompt_key", "scope_key"]

_NON_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def normalize_text(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters as one space, trimmed."""
    return _NON_ALPHANUMERIC.sub(" ", text.lower()).strip()


OPERATOR_FRONTENDS = frozenset({"cli", "console"})
"""Front ends where the bot's operator asks (one private scope between them)."""


def private_origin(frontend: str) -> str:
    """Where a turn outside any guild came from, for its scope: ``operator`` for the console and CLI."""
    return "operator" if frontend in OPERATOR_FRONTENDS else frontend


def scope_key(
    request: LLMRequest,
    guild_id: int | None,
    *,
    share_across_guilds: bool,
    user_id: int | None = None,
    frontend: str = "",
) -> str:
    """A 32-hex-digit key; requests with different keys never share entries.

    ``user_id`` and ``frontend`` only count when ``guild_id`` is None (see the module docstring).
    """
    history = []
    last_user = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=len(request.messages))
    for message in request.messages[:last_user]:
        history.append([message.role, message.content])
    parts: dict[str, object] = {
        "guild": None if share_across_guilds else guild_id,
        "asked_for": ["tier", request.tier] if request.tier else ["model", request.model],
        "system": request.system or "",
        "history": history,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    if guild_id is None:
        parts["private"] = [private_origin(frontend), user_id]
    encoded = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def prompt_key(scope: str, prompt: str) -> str:
    """The exact-match key: scope and :func:`exact_text` of the prompt, hashed."""
    return hashlib.sha256(f"{scope}\0{exact_text(prompt)}".encode()).hexdigest()
