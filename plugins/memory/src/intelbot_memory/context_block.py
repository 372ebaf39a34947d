"""The block of memories a turn gets as context: best first, above the score floor, within a token budget."""

from __future__ import annotations

from collections.abc import Sequence

from intelbot_memory.records import ScoredMemory

HEADER = "Things the people here asked you to remember (use them only if relevant):"


def estimate_tokens(text: str) -> int:
    """A cheap upper estimate of a text's tokens (about four characters per token, at least one per word)."""
    return max(len(text) // 4 + 1, len(text.split()))


def select_for_context(hits: Sequence[ScoredMemory], *, floor: float, token_budget: int) -> list[ScoredMemory]:
    """The hits, in order, whose cosine is at least ``floor``, while their texts fit ``token_budget``."""
    chosen: list[ScoredMemory] = []
    spent = estimate_tokens(HEADER)
    for hit in hits:
        if hit.similarity < floor:
            continue
        cost = estimate_tokens(hit.memory.text) + 2
        if spent + cost > token_budget:
            break
        chosen.append(hit)
        spent += cost
    return chosen


def render(hits: Sequence[ScoredMemory]) -> str:
    """The context block for ``hits`` ('' when there are none)."""
    if not hits:
        return ""
    return "\n".join([HEADER, *(f"- {hit.memory.text}" for hit in hits)])
