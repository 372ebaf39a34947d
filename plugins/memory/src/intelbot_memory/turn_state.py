"""Per-turn state of the memory plugin (``ctx.state(MemoryTurn)``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class MemoryTurn:
    """The memory block this turn was given (re-applied on retries), how many memories, or why none."""

    used: int = 0
    block: str = ""
    skipped: str = ""
