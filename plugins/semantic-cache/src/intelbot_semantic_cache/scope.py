"""What makes two requests interchangeable: the normalized prompt and the scope.

An entry is only served to a request with the same scope key: the guild (unless
``share_across_guilds``), the model or tier asked for, the system prompt, the
conversation before the last user message, and the sampling parameters that
change the answer (temperature, top_p, max_tokens).
"""

from __future__ import annotations

import hashlib
import json
import re

from intelbot.contract import LLMRequest
from intelbot.embedding.prompt import embedding_text

__all__ = ["embedding_text", "exact_text", "normalize_text", "prompt_key", "scope_key"]

_NON_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def normalize_text(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters as one space, trimmed."""
    return _NON_ALPHANUMERIC.sub(" ", text.lower()).strip()


def exact_text(text: str) -> str:
    """The text the exact-match hash is taken of: lower case, whitespace collapsed, end punctuation dropped.

    Gentler than :func:`normalize_text` on purpose: "What is C++?" and "What is C?"
    must not be an exact match.
    """
    return " ".join(text.lower().split()).rstrip(" ?!.")


def scope_key(request: LLMRequest, guild_id: int | None, *, share_across_guilds: bool) -> str:
    """A 32-hex-digit key; requests with different keys never share entries."""
    history = []
    last_user = max((i for i, m in enumerate(request.messages) if m.role == "user"), default=len(request.messages))
    for message in request.messages[:last_user]:
        history.append([message.role, message.content])
    parts = {
        "guild": None if share_across_guilds else guild_id,
        "asked_for": ["tier", request.tier] if request.tier else ["model", request.model],
        "system": request.system or "",
        "history": history,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
    }
    encoded = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:32]


def prompt_key(scope: str, prompt: str) -> str:
    """The exact-match key: scope and :func:`exact_text` of the prompt, hashed."""
    return hashlib.sha256(f"{scope}\0{exact_text(prompt)}".encode()).hexdigest()
