"""Conversation turns waiting to be stored as ``turn`` memories, written in batches.

A batch is written when it holds ``batch_size`` turns, when its oldest turn is
``batch_seconds`` old (0: no age limit; checked on every add and by the plugin's timer) and at
shutdown. What is at risk on a crash: the turns of the unwritten batch, at most
``batch_size`` turns or ``batch_seconds`` of conversation. A failed write keeps the
batch for the next attempt (up to ``4 * batch_size`` turns; older ones are dropped
and counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from intelbot_memory.records import Memory

log = logging.getLogger("intelbot_memory")
Writer = Callable[[list[Memory]], Awaitable[None]]


class TurnBuffer:
    """Pending turn memories and the rule for when to write them with ``writer``."""

    def __init__(
        self, writer: Writer, *, batch_size: int, batch_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.writer = writer
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.clock = clock
        self.pending: list[Memory] = []
        self.first_at: float | None = None
        self.dropped = 0
        self._lock = asyncio.Lock()

    def due(self) -> bool:
        if not self.pending:
            return False
        assert self.first_at is not None
        if len(self.pending) >= self.batch_size:
            return True
        return self.batch_seconds > 0 and self.clock() - self.first_at >= self.batch_seconds

    async def add(self, memory: Memory) -> None:
        self.pending.append(memory)
        if self.first_at is None:
            self.first_at = self.clock()
        if self.due():
            await self.flush()

    async def flush(self) -> int:
        """Write every pending turn; return how many were written (0 when the write failed)."""
        async with self._lock:
            batch, self.pending, self.first_at = self.pending, [], None
            if not batch:
                return 0
            try:
                await self.writer(batch)
            except Exception as error:  # noqa: BLE001 - keep the turns for the next attempt
                log.warning("memory: writing %d turn(s) failed: %s", len(batch), type(error).__name__)
                keep = batch + self.pending
                limit = 4 * self.batch_size
                self.dropped += max(0, len(keep) - limit)
                self.pending = keep[-limit:]
                self.first_at = self.clock()
                return 0
            return len(batch)
