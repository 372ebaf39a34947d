"""Long-term memory over one backend: store with near-duplicate merging, search, forget, sweep.

This is what the hooks, the CLI and the benchmark use; the backend only stores and
searches. Every backend call is timed and its failures counted; a failure is raised
to the caller, who decides (a turn skips augmentation, /remember reports it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intelbot.embedding import Embedder, Vectors
from intelbot_memory.backend import MemoryBackend
from intelbot_memory.metrics import MemoryMetrics
from intelbot_memory.records import Memory, MemoryKind, MemorySearch, Scope, ScoredMemory, SearchMode

log = logging.getLogger("intelbot_memory")
DUPLICATE_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class Stored:
    """The id a memory was stored under and the ids of the near duplicates it replaced."""

    id: str
    merged: list[str] = field(default_factory=list)


class LongTermMemory:
    """Memories of every scope through ``backend``, embedded by ``embedder``.

    ``duplicate_threshold``: a new memory replaces the memories of the same scope,
    user and kind whose cosine to it is at least this (they are deleted in the same
    write; exactly those ids). ``alpha`` weighs vector against keyword in hybrid search.
    """

    def __init__(
        self,
        backend: MemoryBackend,
        embedder: Embedder,
        *,
        duplicate_threshold: float = 0.95,
        alpha: float = 0.75,
        metrics: MemoryMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.embedder = embedder
        self.duplicate_threshold = duplicate_threshold
        self.alpha = alpha
        self.metrics = metrics or MemoryMetrics()
        self.clock = clock
        self.entries = 0
        self.last_error: str | None = None
        self.opened = False
        self.reopen_seconds = 5.0
        self._last_attempt = float("-inf")

    async def open(self) -> None:
        """Open the backend; raises when it cannot be reached (then :meth:`ready` tries again later)."""
        self._last_attempt = self.clock()
        await self._call("open", self.backend.open())
        self.opened = True
        self.entries = await self._call("count", self.backend.count())
        self._gauge()

    async def ready(self) -> bool:
        """True when the backend is open; after a failed open, try again at most every ``reopen_seconds``."""
        if self.opened:
            return True
        if self.clock() - self._last_attempt < self.reopen_seconds:
            return False
        try:
            await self.open()
        except Exception as error:  # noqa: BLE001 - an unreachable backend is reported, not raised
            log.warning("memory backend %s still unavailable: %s", self.backend.name, type(error).__name__)
            return False
        return True

    async def close(self) -> None:
        if self.opened:
            await self.backend.close()
        self.opened = False

    def _gauge(self) -> None:
        self.metrics.entries.labels(self.backend.name).set(self.entries)

    async def _call(self, operation: str, awaitable: Any) -> Any:
        try:
            result = await awaitable
        except Exception as error:
            self.metrics.backend_errors.labels(self.backend.name, operation).inc()
            self.last_error = f"{operation} failed: {type(error).__name__}"
            raise
        self.last_error = None
        return result

    async def embed(self, text: str) -> Vectors:
        """The unit vector of ``text`` (one row)."""
        vectors: Vectors = await self.embedder.embed([text])
        row: Vectors = vectors[0]
        return row

    async def store(self, memory: Memory, vector: Vectors) -> Stored:
        """Store ``memory``, replacing its near duplicates (same scope, user and kind); durable on return."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        try:
            candidates = await self._duplicates(memory, vector)
        except Exception as error:  # noqa: BLE001 - merging is best effort; the write decides
            log.warning(
                "memory: looking for near duplicates failed (%s); storing without merging", type(error).__name__
            )
            candidates = []
        merged = [hit.memory.id for hit in candidates if hit.similarity >= self.duplicate_threshold]
        await self._call("add", self.backend.add([memory], vector.reshape(1, -1), replaces=merged))
        self.metrics.stored.labels(memory.kind.value).inc()
        self.metrics.merged.inc(len(merged))
        self.entries += 1 - len(merged)
        self._gauge()
        if merged:
            log.info("memory: %s replaced %d near duplicate(s)", memory.id, len(merged))
        return Stored(memory.id, merged)

    async def _duplicates(self, memory: Memory, vector: Vectors) -> list[ScoredMemory]:
        return await self.search(
            MemorySearch(
                memory.scope,
                vector,
                limit=DUPLICATE_CANDIDATES,
                mode="exact",
                user_id=memory.user_id,
                kinds=frozenset({memory.kind}),
                now=self.clock(),
            ),
            purpose="compaction",
        )

    async def store_many(self, memories: list[Memory], vectors: Vectors) -> None:
        """Store a batch as one write, without merging (conversation turns)."""
        if not memories:
            return
        await self._call("add", self.backend.add(memories, vectors))
        for memory in memories:
            self.metrics.stored.labels(memory.kind.value).inc()
        self.entries += len(memories)
        self._gauge()

    async def search(self, search: MemorySearch, *, purpose: str = "recall") -> list[ScoredMemory]:
        started = time.perf_counter()
        hits: list[ScoredMemory] = await self._call("search", self.backend.search(search))
        self.metrics.query_latency.labels(self.backend.name).observe(time.perf_counter() - started)
        self.metrics.queried.labels(purpose).inc()
        return hits

    async def recall(
        self,
        scope: Scope,
        text: str,
        vector: Vectors,
        *,
        limit: int,
        mode: SearchMode = "hybrid",
        user_id: int | None = None,
        kinds: frozenset[MemoryKind] | None = None,
        purpose: str = "recall",
    ) -> list[ScoredMemory]:
        """The best ``limit`` unexpired memories of ``scope`` for ``text`` (embedded as ``vector``)."""
        search = MemorySearch(
            scope,
            vector,
            text=text,
            limit=limit,
            mode=mode,
            user_id=user_id,
            kinds=kinds,
            now=self.clock(),
            alpha=self.alpha,
        )
        return await self.search(search, purpose=purpose)

    async def forget(self, scope: Scope, user_id: int | None) -> int:
        count: int = await self._call("forget", self.backend.forget(scope, user_id))
        self.metrics.forgotten.inc(count)
        self.entries = max(0, self.entries - count)
        self._gauge()
        return count

    async def sweep(self) -> int:
        """Delete every expired memory; return how many."""
        count: int = await self._call("expire", self.backend.expire(self.clock()))
        self.metrics.expired.inc(count)
        self.entries = max(0, self.entries - count)
        self._gauge()
        return count

    async def reindex(self) -> int:
        return int(await self._call("reindex", self.backend.reindex()))

    def stats(self) -> dict[str, Any]:
        figures = {"entries": self.entries, "embedder": self.embedder.name, **self.backend.stats()}
        if self.last_error:
            figures["last_error"] = self.last_error
        return figures
