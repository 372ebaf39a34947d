"""The interface every memory backend implements (``local`` and ``weaviate``).

The contract tests (tests/test_contract.py) define what these methods must do; both
backends run the same tests. All methods are coroutines except ``stats``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from intelbot.embedding import Vectors
from intelbot_memory.records import Memory, MemorySearch, Scope, ScoredMemory


class BackendUnavailable(RuntimeError):
    """The backend cannot be reached now (an outage): the turn goes on without memory."""


class MemoryBackend(Protocol):
    """Stores memories with their vectors and finds them again inside one scope."""

    name: str

    async def open(self) -> None:
        """Connect, create what is missing, load or rebuild indexes."""

    async def close(self) -> None:
        """Persist what must be persisted and release connections."""

    async def add(self, memories: Sequence[Memory], vectors: Vectors, replaces: Sequence[str] = ()) -> None:
        """Store ``memories`` (one unit vector row each) and delete the ids in ``replaces``, durably.

        Returning means every memory is committed and searchable and every replaced id
        is gone; anything else raises (BackendUnavailable for an outage).
        """

    async def search(self, search: MemorySearch) -> list[ScoredMemory]:
        """Up to ``search.limit`` unexpired memories of ``search.scope`` passing its filters, best first."""

    async def delete(self, scope: Scope, ids: Sequence[str]) -> int:
        """Delete these memories of ``scope``; return how many existed."""

    async def forget(self, scope: Scope, user_id: int | None) -> int:
        """Delete the memories of ``scope`` (only ``user_id``'s when given); return how many."""

    async def expire(self, now: float) -> int:
        """Delete every memory that expired at or before ``now``; return how many."""

    async def count(self) -> int:
        """How many memories are stored (all scopes, expired ones not yet swept included)."""

    async def reindex(self) -> int:
        """Rebuild the search indexes from the stored memories; return how many were indexed."""

    def stats(self) -> dict[str, Any]:
        """Flat JSON-able figures about the backend (no user data)."""
