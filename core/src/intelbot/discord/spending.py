"""The per-guild daily spending cap: refuse the call whose worst case would cross it, and only that one.

Before a call, :func:`worst_case_cost` prices it at the model that will be asked,
with a conservative estimate of its input (:func:`estimated_input_tokens`) and the
most output it may produce (``max_tokens``). :meth:`SpendingCap.reserve` then adds
the guild's spend since 00:00 UTC, read from the usage ledger, and the worst cases
of the guild's calls still running in this process (their *reservations*); when
``spent + reserved + worst case`` is more than the cap, the call is refused
before any provider is asked. Otherwise its worst case is reserved until the call
ends, whatever happens, so concurrent calls cannot overshoot the cap together.

Reservations are kept in this process: replicas share the ledger (the cap holds
across restarts and replicas for finished calls) but not each other's running calls.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from intelbot.contract import Usage

if TYPE_CHECKING:
    from intelbot.catalog import ModelSpec
    from intelbot.kernel import Kernel

SpentSince = Callable[[int, datetime], Awaitable[float]]
"""``await spent(guild_id, since)``: USD spent by the guild since that instant."""

ASCII_CHARS_PER_TOKEN: Final = 3
"""ASCII text is counted as one token per 3 characters (tokenizers average about 4 for English)."""

MESSAGE_OVERHEAD_TOKENS: Final = 32
"""Added to every estimate for the tokens a chat format wraps around the system prompt and the question."""


def estimated_input_tokens(text: str) -> int:
    """A conservative token count for ``text``: ASCII characters / 3 (rounded up), plus one per non-ASCII UTF-8 byte.

    A byte-level tokenizer never makes more tokens than bytes, so non-ASCII text (for which
    tokenizers often spend a token or more per character) is counted at that bound.
    """
    ascii_chars = sum(1 for character in text if character.isascii())
    non_ascii_bytes = len(text.encode("utf-8")) - ascii_chars
    return -(-ascii_chars // ASCII_CHARS_PER_TOKEN) + non_ascii_bytes


def worst_case_cost(model: ModelSpec, *, question: str, system: str | None, max_tokens: int) -> float:
    """USD an answer to ``question`` may cost at ``model``'s prices: estimated input, ``max_tokens`` of output."""
    input_tokens = estimated_input_tokens(question) + estimated_input_tokens(system or "") + MESSAGE_OVERHEAD_TOKENS
    return model.cost(Usage(input_tokens=input_tokens, output_tokens=max_tokens))


def worst_case_cost_of_ask(kernel: Kernel, question: str, *, model: str | None = None) -> float:
    """The worst case of ``kernel.ask(question, ctx, model=model)``: its model, system prompt and ``max_tokens``."""
    return worst_case_cost(
        kernel.model(model or kernel.default_model),
        question=question,
        system=kernel.system_prompt,
        max_tokens=kernel.max_tokens,
    )


@dataclass(slots=True)
class _GuildReservations:
    """One guild's running calls, and what was released while its spend was being read.

    ``sequence`` counts releases. A read of the ledger notes the sequence when it
    starts; a call released during the read may or may not be in what the read
    returns, so its worst case is still counted by that read (``released_since``).
    """

    held: dict[int, float] = field(default_factory=dict)
    readers: list[int] = field(default_factory=list)
    released: list[tuple[int, float]] = field(default_factory=list)
    sequence: int = 0

    def released_since(self, start: int) -> float:
        return sum(amount for sequence, amount in self.released if sequence > start)

    def release(self, token: int) -> None:
        amount = self.held.pop(token)
        self.sequence += 1
        if self.readers:
            self.released.append((self.sequence, amount))

    def forget_old_releases(self) -> None:
        oldest = min(self.readers, default=self.sequence)
        self.released = [(sequence, amount) for sequence, amount in self.released if sequence > oldest]

    @property
    def idle(self) -> bool:
        return not self.held and not self.readers


class SpendingCap:
    """At most ``cap_usd`` per guild per UTC day (``cap_usd`` 0: no cap; DMs are never capped)."""

    def __init__(
        self,
        cap_usd: float,
        spent_since: SpentSince,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cap_usd = cap_usd
        self._spent_since = spent_since
        self._now = now
        self._guilds: dict[int, _GuildReservations] = {}
        self._tokens = itertools.count()

    def reserved(self, guild_id: int) -> float:
        """USD reserved by the guild's calls running in this process."""
        state = self._guilds.get(guild_id)
        return sum(state.held.values()) if state is not None else 0.0

    @property
    def guilds_tracked(self) -> int:
        """Guilds with a running call or a running read (the others are forgotten)."""
        return len(self._guilds)

    @asynccontextmanager
    async def reserve(self, guild_id: int | None, worst_case_usd: float) -> AsyncIterator[str | None]:
        """Within the block, ``worst_case_usd`` is reserved for the guild; yields None, or the refusal to show.

        Refused (nothing reserved) when the guild's spend since 00:00 UTC, plus its
        reservations, plus ``worst_case_usd`` is more than the cap. The reservation
        is released when the block ends, however it ends.
        """
        if guild_id is None or self.cap_usd <= 0:
            yield None
            return
        midnight = self._now().replace(hour=0, minute=0, second=0, microsecond=0)
        state = self._guilds.setdefault(guild_id, _GuildReservations())
        start = state.sequence
        state.readers.append(start)
        try:
            spent = await self._spent_since(guild_id, midnight)
        finally:
            state.readers.remove(start)
            # Before forgetting old releases: those made during this read still count for it.
            committed = sum(state.held.values()) + state.released_since(start)
            state.forget_old_releases()
            self._forget_if_idle(guild_id, state)
        if spent + committed + worst_case_usd > self.cap_usd:
            yield self._refusal(spent, committed, worst_case_usd)
            return
        token = next(self._tokens)
        state = self._guilds.setdefault(guild_id, state)  # forgotten above if it was idle: track it again
        state.held[token] = worst_case_usd
        try:
            yield None
        finally:
            state.release(token)
            self._forget_if_idle(guild_id, state)

    def _forget_if_idle(self, guild_id: int, state: _GuildReservations) -> None:
        if state.idle and self._guilds.get(guild_id) is state:
            del self._guilds[guild_id]

    def _refusal(self, spent: float, committed: float, worst_case: float) -> str:
        running = f" and ${committed:.4f} held by answers in progress" if committed > 0 else ""
        return (
            f"This question could take this server over its daily spending cap of ${self.cap_usd:.2f}: "
            f"${spent:.4f} spent today{running}, and this answer could cost up to ${worst_case:.4f}. "
            "The cap resets at 00:00 UTC."
        )
