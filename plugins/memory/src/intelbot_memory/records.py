"""What a backend stores and returns: memories, their scope, searches and scored results.

A memory belongs to exactly one :class:`Scope`: a guild (every member's memories in
that server) or one user's direct messages. Every search names its scope and a
backend applies it inside the search (its own index or tenant), never by filtering
someone else's results afterwards.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

SearchMode = Literal["vector", "hybrid", "exact"]


class MemoryKind(StrEnum):
    """``fact``: asked for with /remember; ``turn``: a question and its answer from a conversation."""

    FACT = "fact"
    TURN = "turn"


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    """Whose memories: a guild's (``guild_id`` set) or one user's direct messages (``guild_id`` None)."""

    guild_id: int | None
    dm_user_id: int | None = None

    @classmethod
    def of(cls, guild_id: int | None, user_id: int | None) -> Scope:
        """The scope a turn in ``guild_id`` (None: a DM) by ``user_id`` reads and writes."""
        if guild_id is not None:
            return cls(guild_id, None)
        return cls(None, user_id if user_id is not None else 0)

    @property
    def key(self) -> str:
        """A stable name: ``g<guild>`` or ``u<user>`` (index files, Weaviate tenants)."""
        return f"g{self.guild_id}" if self.guild_id is not None else f"u{self.dm_user_id}"

    @classmethod
    def from_key(cls, key: str) -> Scope:
        if key.startswith("g"):
            return cls(int(key[1:]), None)
        if key.startswith("u"):
            return cls(None, int(key[1:]))
        raise ValueError(f"not a scope key: {key!r}")


@dataclass(slots=True)
class Memory:
    """One remembered text. ``expires_at`` None: never expires. ``id`` is the record id the hooks return."""

    text: str
    scope: Scope
    user_id: int | None = None
    channel_id: int | None = None
    kind: MemoryKind = MemoryKind.FACT
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class MemorySearch:
    """A search inside one scope.

    ``vector`` is the unit query vector; ``text`` feeds keyword search in ``hybrid``
    mode. ``user_id`` and ``kinds`` narrow the scope (inside the search, so ``limit``
    results come back when that many match). ``now`` hides memories expired by then.
    ``alpha`` weighs vector against keyword scores in hybrid mode (1 = vector only).
    """

    scope: Scope
    vector: npt.NDArray[np.float32]
    text: str = ""
    limit: int = 5
    mode: SearchMode = "vector"
    user_id: int | None = None
    kinds: frozenset[MemoryKind] | None = None
    now: float = 0.0
    alpha: float = 0.75


@dataclass(frozen=True, slots=True)
class ScoredMemory:
    """A search result: ``score`` ranks (in [0, 1]); ``similarity`` is the cosine to the query vector."""

    memory: Memory
    score: float
    similarity: float
