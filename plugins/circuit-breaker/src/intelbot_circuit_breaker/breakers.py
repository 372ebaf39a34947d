"""The breakers of every provider and model, kept in one store and read with one clock.

:class:`Breakers` joins the pure state machine (:mod:`state_machine`), a store (in process
or Redis) and a clock. Breakers are named ``<provider>/<model>``. Every state
change is passed to the ``listeners`` (metrics, logs) after the store has saved it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import (
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
    Transition,
)
from intelbot_circuit_breaker.store import BreakerStore
from intelbot_circuit_breaker.window import WindowTotals

TransitionListener = Callable[[str, Transition], None]


def breaker_name(provider: str, model: str) -> str:
    """The name of the breaker guarding ``model`` on ``provider``."""
    return f"{provider}/{model}"


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A read-only picture of one breaker for /health, stats and tests."""

    name: str
    state: BreakerState
    rejecting: bool
    open_until: float
    hold_until: float
    trips: int
    totals: WindowTotals
    changed_at: float


class Breakers:
    """Acquire permits and record outcomes for named breakers, atomically in the store."""

    def __init__(self, config: BreakerSettings, store: BreakerStore, *, clock: Callable[[], float] = time.time) -> None:
        self.rules = CircuitBreaker(config)
        self.store = store
        self.clock = clock
        self.listeners: list[TransitionListener] = []

    def _announce(self, name: str, transitions: list[Transition]) -> None:
        for transition in transitions:
            for listener in self.listeners:
                listener(name, transition)

    async def acquire(self, name: str, *, past_hold: bool = False) -> Permit:
        """Ask breaker ``name`` for one call now (``past_hold``: a retry that waited out the Retry-After)."""
        permit, transitions = await self.store.acquire(name, self.rules, self.clock(), past_hold=past_hold)
        self._announce(name, transitions)
        return permit

    async def record(self, name: str, permit: Permit, outcome: Outcome, *, slow: bool = False) -> None:
        """Record how a call permitted by ``permit`` ended."""
        transitions = await self.store.record(name, self.rules, permit, outcome, slow=slow, now=self.clock())
        self._announce(name, transitions)

    async def hold(self, name: str, seconds: float) -> None:
        """Put breaker ``name`` on hold for ``seconds`` (a Retry-After): calls are rejected until then."""
        await self.store.hold(name, self.rules, seconds, self.clock())

    async def is_rejecting(self, name: str) -> bool:
        """True when breaker ``name`` would reject a call now (it is not changed)."""
        record = await self.store.read(name)
        return record is not None and self.rules.is_rejecting(record, self.clock())

    async def view(self, name: str) -> BreakerView:
        """The current picture of breaker ``name`` (a fresh closed one if never used)."""
        now = self.clock()
        record = await self.store.read(name) or self.rules.new_record(now)
        return BreakerView(
            name=name,
            state=record.state,
            rejecting=self.rules.is_rejecting(record, now),
            open_until=record.open_until,
            hold_until=record.hold_until,
            trips=record.trips,
            totals=self.rules.totals(record, now),
            changed_at=record.changed_at,
        )

    async def views(self) -> list[BreakerView]:
        """Every breaker the store knows, by name."""
        return [await self.view(name) for name in await self.store.names()]
