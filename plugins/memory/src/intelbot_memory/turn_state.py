"""Per-turn state of the memory plugin, and access to the turn's shared prompt embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from intelbot.contract import TurnContext

StateT = TypeVar("StateT")


@dataclass(slots=True)
class MemoryTurn:
    """The memory block this turn was given (re-applied on retries), how many memories, or why none."""

    used: int = 0
    block: str = ""
    skipped: str = ""


def turn_state(ctx: TurnContext, kind: type[StateT]) -> StateT:
    """This turn's instance of ``kind`` (``ctx.state`` when the kernel has it)."""
    state: Any = getattr(ctx, "state", None)
    if callable(state):
        return state(kind)  # type: ignore[no-any-return]
    key = f"{kind.__module__}.{kind.__qualname__}"
    found = ctx.annotations.get(key)
    if not isinstance(found, kind):
        found = kind()
        ctx.annotations[key] = found
    return found
