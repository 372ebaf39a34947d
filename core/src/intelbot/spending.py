"""Daily spending caps: refuse the call whose worst case would cross a cap, and only that one.

Two caps per UTC day, each 0 for none: ``discord.daily_guild_cap_usd`` per guild, and
``spending.daily_user_cap_usd`` per user, which covers every front end: a user's
guild calls, their direct messages, and the console and CLI (whose turns belong to
the operator, :data:`CONSOLE_USER_ID`).

Before a call, :func:`worst_case_cost_of_ask` prices it at the dearest model the turn
may reach (the requested model and every model a plugin's ``reachable_models`` hook
names: fallbacks, routes), with an upper bound of its input
(:func:`estimated_input_tokens`) and the most output it may produce (``max_tokens``).
:meth:`SpendingCap.reserve` then adds, per scope (guild, user), the spend since
00:00 UTC read from the usage ledger and the worst cases of the scope's calls still
running (their *reservations*); when ``spent + reserved + worst case`` is more than a
cap, the call is refused before any provider is asked. Otherwise its worst case is
reserved in every scope until the call ends, whatever happens.

Where reservations are held decides what "concurrent" covers
(:mod:`intelbot.spend_reservations`): in this process (the default), concurrent calls
of this process cannot overshoot a cap together, but replicas can (each sees only the
others' finished calls, through the ledger). With ``spending.redis_url`` replicas hold
their reservations in Redis, and concurrent calls of all replicas cannot overshoot
together; before a reservation held in Redis is released, the ledger is written
(``settle``), so that other replicas' reads see the call. While Redis is unreachable
reservations fall back to this process (reported in /health, a gauge and one log line)
and replicas can overshoot again until it answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field, field_validator

from intelbot.contract import LLMResponse, TurnContext, Usage
from intelbot.errors import BudgetExceededError
from intelbot.plugin import SettingsTable
from intelbot.redis_failover import RedisFailover
from intelbot.settings import lookup, validated
from intelbot.spend_reservations import (
    FailoverReservations,
    MemoryReservations,
    Overrun,
    RedisReservations,
    Reservation,
    ReservationStore,
    ScopeLimit,
)

if TYPE_CHECKING:
    from intelbot.catalog import ModelSpec
    from intelbot.data.ledger import UsageLedger
    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot.spending")

CONSOLE_USER_ID: Final = 0
"""The user of console and CLI turns (the operator): never a Discord id, which are all far larger."""

MESSAGE_OVERHEAD_TOKENS: Final = 32
"""Added to every estimate for the tokens a chat format wraps around the system prompt and the question."""

DEFAULT_HOLD_SECONDS: Final = 900.0
"""How long a reservation held in Redis lasts at most: a replica that dies mid-call frees it then."""

SpentSince = Callable[["SpendScope", datetime], Awaitable[float]]
"""``await spent(scope, since)``: USD spent in the scope (a guild, a user) since that instant."""


@dataclass(frozen=True, slots=True)
class SpendScope:
    """What one cap counts: a guild's calls (``kind="guild"``) or a user's (``kind="user"``)."""

    kind: str
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def ledger_spent(ledger: UsageLedger) -> SpentSince:
    """``spent(scope, since)`` read from the usage ledger (rows not yet written included)."""

    async def spent(scope: SpendScope, since: datetime) -> float:
        if scope.kind == "guild":
            return (await ledger.summary(guild_id=scope.id, since=since)).cost_usd
        return (await ledger.summary(user_id=scope.id, since=since)).cost_usd

    return spent


def estimated_input_tokens(text: str) -> int:
    """An upper bound of the tokens ``text`` makes: its UTF-8 bytes.

    A byte-level tokenizer (GPT's, Claude's) never makes more tokens than bytes; a
    characters-per-token average is no bound (single letters and punctuation take
    a token each).
    """
    return len(text.encode("utf-8"))


def worst_case_cost(model: ModelSpec, *, question: str, system: str | None, max_tokens: int) -> float:
    """USD an answer to ``question`` may cost at ``model``'s prices: bounded input, ``max_tokens`` of output."""
    input_tokens = estimated_input_tokens(question) + estimated_input_tokens(system or "") + MESSAGE_OVERHEAD_TOKENS
    return model.cost(Usage(input_tokens=input_tokens, output_tokens=max_tokens))


async def reachable_models(kernel: Kernel, model: str, ctx: TurnContext | None = None) -> list[ModelSpec]:
    """``model`` and every catalog model a plugin says a turn asking for it may call (``reachable_models`` hook)."""
    names = [model]
    for _plugin, result in await kernel.dispatch.call_all("reachable_models", ctx, model=model):
        names.extend(str(name) for name in result if str(name) not in names)
    return [spec for spec in (kernel.catalog.get(name) for name in names) if spec is not None] or [kernel.model(model)]


async def worst_case_cost_of_ask(
    kernel: Kernel, question: str, *, model: str | None = None, ctx: TurnContext | None = None
) -> float:
    """The worst case of ``kernel.ask(question, ctx, model=model)``: dearest reachable model, prompt, ``max_tokens``."""
    return max(
        worst_case_cost(spec, question=question, system=kernel.system_prompt, max_tokens=kernel.max_tokens)
        for spec in await reachable_models(kernel, model or kernel.default_model, ctx)
    )


class SpendingSettings(SettingsTable):
    """``[default.spending]``: the per-user cap and where reservations are held (``redis_url`` may hold a password)."""

    daily_user_cap_usd: float = Field(0.0, ge=0)
    redis_url: str | None = None
    redis_prefix: str = Field("intelbot:spend", min_length=1)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _no_redis(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def from_settings(cls, settings: Any) -> SpendingSettings:
        """The validated ``[default.spending]``; ConfigurationError names the key and the file."""
        table = lookup(settings, "spending", {}) or {}
        return validated(cls, dict(table), "spending", settings)


class SpendingCap:
    """At most ``guild_cap_usd`` per guild and ``user_cap_usd`` per user per UTC day (0: no such cap).

    ``reservations`` holds running calls' worst cases (this process by default);
    ``settle`` is awaited before a reservation held in Redis is released (the kernel's
    ``ledger.flush``); ``clock`` is wall time (reservations in Redis expire by it).
    """

    def __init__(
        self,
        guild_cap_usd: float,
        spent_since: SpentSince,
        *,
        user_cap_usd: float = 0.0,
        reservations: ReservationStore | None = None,
        settle: Callable[[], Awaitable[None]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.time,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.cap_usd = guild_cap_usd
        self.user_cap_usd = user_cap_usd
        self._spent_since = spent_since
        self.reservations: ReservationStore = reservations or MemoryReservations()
        self._settle = settle
        self._now = now
        self._clock = clock
        self.hold_seconds = hold_seconds

    @property
    def failover(self) -> RedisFailover | None:
        """The Redis failover of the reservations (None: they are held in this process only)."""
        reservations = self.reservations
        return reservations.failover if isinstance(reservations, FailoverReservations) else None

    async def aclose(self) -> None:
        """Close the Redis client of the reservations, if any."""
        if self.failover is not None:
            await self.failover.aclose()

    @property
    def _local(self) -> MemoryReservations:
        reservations = self.reservations
        if isinstance(reservations, FailoverReservations):
            return reservations.local
        return reservations if isinstance(reservations, MemoryReservations) else MemoryReservations()

    def reserved(self, guild_id: int) -> float:
        """USD reserved by the guild's calls running in this process (held in memory)."""
        return self._local.held(SpendScope("guild", guild_id).key)

    def reserved_by_user(self, user_id: int) -> float:
        """USD reserved by the user's calls running in this process (held in memory)."""
        return self._local.held(SpendScope("user", user_id).key)

    @property
    def guilds_tracked(self) -> int:
        """Scopes (guilds, users) with a call or a read running in this process's memory (the others are forgotten)."""
        return self._local.scopes_tracked

    def scopes(self, guild_id: int | None, user_id: int | None) -> list[tuple[SpendScope, float]]:
        """The capped scopes of a call: its guild (in a guild) and its user, each with its cap."""
        found: list[tuple[SpendScope, float]] = []
        if guild_id is not None and self.cap_usd > 0:
            found.append((SpendScope("guild", guild_id), self.cap_usd))
        if user_id is not None and self.user_cap_usd > 0:
            found.append((SpendScope("user", user_id), self.user_cap_usd))
        return found

    @asynccontextmanager
    async def reserve(
        self, guild_id: int | None, worst_case_usd: float, *, user_id: int | None = None
    ) -> AsyncIterator[str | None]:
        """Within the block, ``worst_case_usd`` is reserved for the guild and the user; yields None, or the refusal.

        Refused (nothing reserved) when, for the guild or the user, the spend since
        00:00 UTC, plus its reservations, plus ``worst_case_usd`` is more than its cap.
        The reservation is released when the block ends, however it ends.
        """
        scopes = self.scopes(guild_id, user_id)
        if not scopes:
            yield None
            return
        midnight = self._now().replace(hour=0, minute=0, second=0, microsecond=0)
        start = await self.reservations.begin([scope.key for scope, _cap in scopes])
        try:
            spent = [await self._spent_since(scope, midnight) for scope, _cap in scopes]
        except BaseException:
            await self.reservations.abandon(start)
            raise
        limits = [ScopeLimit(scope.key, cap, amount) for (scope, cap), amount in zip(scopes, spent, strict=True)]
        now = self._clock()
        outcome = await self.reservations.finish(
            start,
            limits,
            worst_case_usd,
            now=now,
            expires_at=now + self.hold_seconds,
        )
        if isinstance(outcome, Overrun):
            scope, cap = scopes[outcome.index]
            yield self._refusal(scope, cap, spent[outcome.index], outcome.committed_usd, worst_case_usd)
            return
        try:
            yield None
        finally:
            await self._release(outcome)

    async def _release(self, reservation: Reservation) -> None:
        if reservation.where != MemoryReservations.where and self._settle is not None:
            try:
                await self._settle()  # other replicas read the ledger: the call's row must be there first
            except Exception as error:  # noqa: BLE001 - then the reservation just expires in Redis
                log.warning("ledger not written (%s): the reservation expires later", type(error).__name__)
                return
        await self.reservations.release(reservation, now=self._clock())

    def _refusal(self, scope: SpendScope, cap: float, spent: float, committed: float, worst_case: float) -> str:
        running = f" and ${committed:.4f} held by answers in progress" if committed > 0 else ""
        whose = "this server over its" if scope.kind == "guild" else "you over your"
        return (
            f"This question could take {whose} daily spending cap of ${cap:.2f}: "
            f"${spent:.4f} spent today{running}, and this answer could cost up to ${worst_case:.4f}. "
            "The cap resets at 00:00 UTC."
        )


def reservations_from_settings(config: SpendingSettings, *, registry: Any = None) -> ReservationStore:
    """Reservations in this process, or in Redis with the fallback to this process (``spending.redis_url``).

    With ``registry`` (a prometheus ``CollectorRegistry``) the gauge
    ``intelbot_spending_store_degraded`` is 1 while Redis is away.
    """
    if config.redis_url is None:
        return MemoryReservations()
    failover = RedisFailover.from_url(config.redis_url, purpose="spend reservations")
    if registry is not None:
        from prometheus_client import Gauge

        gauge = Gauge(
            "intelbot_spending_store_degraded",
            "1 when spending.redis_url is set but Redis is unreachable and reservations are held in this process",
            registry=registry,
        )
        gauge.set(0)
        failover.listeners.append(lambda reason: gauge.set(0 if reason is None else 1))
    return FailoverReservations(RedisReservations(failover.client, prefix=config.redis_prefix), failover)


def operator_spending_cap(kernel: Kernel) -> SpendingCap:
    """The cap of console and CLI turns: ``spending.daily_user_cap_usd`` for the operator (:data:`CONSOLE_USER_ID`)."""
    config = SpendingSettings.from_settings(kernel.settings)
    return SpendingCap(
        0.0,
        ledger_spent(kernel.ledger),
        user_cap_usd=config.daily_user_cap_usd,
        reservations=reservations_from_settings(config),
        settle=kernel.ledger.flush,
    )


async def ask_within_cap(
    kernel: Kernel, cap: SpendingCap, question: str, ctx: TurnContext, *, model: str | None = None
) -> LLMResponse:
    """``kernel.ask`` with the turn's worst case reserved under ``cap``; BudgetExceededError when it does not fit."""
    worst_case = await worst_case_cost_of_ask(kernel, question, model=model, ctx=ctx)
    async with cap.reserve(ctx.guild_id, worst_case, user_id=ctx.user_id) as refusal:
        if refusal is not None:
            error = BudgetExceededError(refusal)
            error.user_message = refusal
            raise error
        return await kernel.ask(question, ctx, model=model)
