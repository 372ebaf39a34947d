"""The circuit breaker state machine: closed, open, half-open, with resilience4j's semantics.

The logic is pure: :class:`CircuitBreaker` reads and changes a :class:`BreakerRecord`
(plain data that serialises to JSON) at a time ``now`` given by the caller. That
keeps time controllable in tests and lets a store keep the record anywhere (in
process, or in Redis so that several processes share one breaker).

- CLOSED: every call is permitted and its outcome goes into the sliding window.
  With at least ``minimum_calls`` in the window, a failure rate or slow-call rate
  at or above its threshold opens the breaker.
- OPEN: calls are rejected until ``open_until``. The first call after that moves the
  breaker to HALF_OPEN. The wait grows with each trip that follows a close (or a
  failed probe) within ``growth_memory_seconds``.
- HALF_OPEN: ``half_open_probes`` calls are let through; when all have reported, the
  breaker closes (rates under the thresholds) or opens again. If they have not all
  reported within ``max_wait_in_half_open_seconds``, it opens again.

Beyond resilience4j: a provider's ``Retry-After`` (429, overloaded) puts the breaker
on *hold* until then, whatever its state: calls are rejected without a change of
state, so other turns go to a fallback instead of collecting the same refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.window import CountWindow, TimeWindow, WindowTotals, new_window, window_from_json


class BreakerState(StrEnum):
    """The three states; ``gauge_value`` is what ``intelbot_breaker_state`` reports."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    @property
    def gauge_value(self) -> int:
        return {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}[self]


class Outcome(StrEnum):
    """How a permitted call ended. ``IGNORED``: an error that is not the provider's fault."""

    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Permit:
    """The answer to "may I call?": ``granted``, and for a half-open probe the probe ``generation``."""

    granted: bool
    probe: bool = False
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state, with the time and the reason."""

    before: BreakerState
    after: BreakerState
    at: float
    reason: str


@dataclass(slots=True)
class BreakerRecord:
    """Everything one breaker remembers. Plain data: ``to_json``/``from_json`` round-trip it."""

    window: CountWindow | TimeWindow
    state: BreakerState = BreakerState.CLOSED
    changed_at: float = 0.0
    open_until: float = 0.0
    trips: int = 0
    closed_at: float | None = None
    generation: int = 0
    probes_issued: int = 0
    probe_outcomes: list[list[bool]] = field(default_factory=list)
    hold_until: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window.to_json(),
            "state": self.state.value,
            "changed_at": self.changed_at,
            "open_until": self.open_until,
            "trips": self.trips,
            "closed_at": self.closed_at,
            "generation": self.generation,
            "probes_issued": self.probes_issued,
            "probe_outcomes": [list(item) for item in self.probe_outcomes],
            "hold_until": self.hold_until,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BreakerRecord:
        return cls(
            window=window_from_json(data["window"]),
            state=BreakerState(data["state"]),
            changed_at=float(data["changed_at"]),
            open_until=float(data["open_until"]),
            trips=int(data["trips"]),
            closed_at=None if data["closed_at"] is None else float(data["closed_at"]),
            generation=int(data["generation"]),
            probes_issued=int(data["probes_issued"]),
            probe_outcomes=[[bool(failed), bool(slow)] for failed, slow in data["probe_outcomes"]],
            hold_until=float(data.get("hold_until", 0.0)),
        )


class CircuitBreaker:
    """The rules of one breaker configuration, applied to records. Stateless itself."""

    def __init__(self, config: BreakerSettings) -> None:
        self.config = config

    def new_record(self, now: float) -> BreakerRecord:
        """A closed breaker with an empty window."""
        return BreakerRecord(window=new_window(self.config.window_type, self.config.window_size), changed_at=now)

    # -- questions ---------------------------------------------------------------------------

    def is_rejecting(self, record: BreakerRecord, now: float) -> bool:
        """True when a call now would be rejected (on hold, open and waiting, or half-open with every probe out)."""
        if now < record.hold_until:
            return True
        if record.state is BreakerState.OPEN:
            return now < record.open_until
        if record.state is BreakerState.HALF_OPEN:
            if now - record.changed_at >= self.config.max_wait_in_half_open_seconds:
                return True
            return record.probes_issued >= self.config.half_open_probes
        return False

    def totals(self, record: BreakerRecord, now: float) -> WindowTotals:
        """The window's figures now (the probes' figures in half-open)."""
        if record.state is BreakerState.HALF_OPEN:
            return _probe_totals(record)
        return record.window.totals(now)

    # -- changes -----------------------------------------------------------------------------

    def acquire(self, record: BreakerRecord, now: float, *, past_hold: bool = False) -> tuple[Permit, list[Transition]]:
        """Ask to make one call now; may move OPEN -> HALF_OPEN (or HALF_OPEN -> OPEN on a probe timeout).

        ``past_hold``: the caller is the retry that waited out the Retry-After which set the hold.
        """
        transitions: list[Transition] = []
        if now < record.hold_until and not past_hold:
            return Permit(granted=False), transitions
        if record.state is BreakerState.CLOSED:
            return Permit(granted=True), transitions
        self._expire_half_open(record, now, transitions)
        if record.state is BreakerState.OPEN:
            if now < record.open_until:
                return Permit(granted=False), transitions
            transitions.append(self._to_half_open(record, now))
        if record.probes_issued < self.config.half_open_probes:
            record.probes_issued += 1
            return Permit(granted=True, probe=True, generation=record.generation), transitions
        return Permit(granted=False), transitions

    def record(
        self, record: BreakerRecord, permit: Permit, outcome: Outcome, *, slow: bool, now: float
    ) -> list[Transition]:
        """Record how a permitted call ended; may open or close the breaker."""
        transitions: list[Transition] = []
        self._expire_half_open(record, now, transitions)
        if permit.probe:
            if record.state is not BreakerState.HALF_OPEN or permit.generation != record.generation:
                return transitions  # a probe of an earlier half-open period: too late to count
            if outcome is Outcome.IGNORED:
                record.probes_issued = max(0, record.probes_issued - 1)
                return transitions
            record.probe_outcomes.append([outcome is Outcome.FAILURE, slow])
            if len(record.probe_outcomes) >= self.config.half_open_probes:
                totals = _probe_totals(record)
                reason = self._trip_reason(totals)
                if reason is None:
                    transitions.append(self._to_closed(record, now, f"{totals.calls} probe(s) passed"))
                else:
                    transitions.append(self._to_open(record, now, f"probe(s) failed: {reason}", grow=True))
            return transitions
        if record.state is not BreakerState.CLOSED or outcome is Outcome.IGNORED:
            return transitions  # a call permitted before the breaker opened, or not the provider's fault
        record.window.record(failed=outcome is Outcome.FAILURE, slow=slow, now=now)
        totals = record.window.totals(now)
        if totals.calls >= min(self.config.minimum_calls, _capacity(record.window)):
            reason = self._trip_reason(totals)
            if reason is not None:
                recent = record.closed_at is not None and now - record.closed_at <= self.config.growth_memory_seconds
                transitions.append(self._to_open(record, now, reason, grow=recent))
        return transitions

    def hold(self, record: BreakerRecord, seconds: float, now: float) -> bool:
        """Reject calls for ``seconds`` (a Retry-After, capped at the longest open wait); True if extended."""
        until = now + min(seconds, self.config.max_wait_in_open_seconds)
        if until <= record.hold_until:
            return False
        record.hold_until = until
        return True

    # -- internals ---------------------------------------------------------------------------

    def _trip_reason(self, totals: WindowTotals) -> str | None:
        if totals.calls and totals.failure_rate >= self.config.failure_rate_threshold:
            threshold = self.config.failure_rate_threshold
            return f"failure rate {totals.failure_rate:.0%} >= {threshold:.0%} over {totals.calls} calls"
        if totals.calls and totals.slow_rate >= self.config.slow_call_rate_threshold:
            threshold = self.config.slow_call_rate_threshold
            return f"slow-call rate {totals.slow_rate:.0%} >= {threshold:.0%} over {totals.calls} calls"
        return None

    def _expire_half_open(self, record: BreakerRecord, now: float, transitions: list[Transition]) -> None:
        if (
            record.state is BreakerState.HALF_OPEN
            and now - record.changed_at >= self.config.max_wait_in_half_open_seconds
        ):
            transitions.append(self._to_open(record, now, "probe(s) did not report in time", grow=True))

    def _to_open(self, record: BreakerRecord, now: float, reason: str, *, grow: bool) -> Transition:
        before = record.state
        trips = record.trips + 1 if grow and record.trips else 1
        wait = self.config.wait_for_trip(trips)  # computed before the record changes: it must stay consistent
        record.trips = trips
        record.state = BreakerState.OPEN
        record.changed_at = now
        record.open_until = now + wait
        record.window.clear()
        record.probes_issued = 0
        record.probe_outcomes = []
        return Transition(before, BreakerState.OPEN, now, f"{reason}; open for {wait:g}s")

    def _to_half_open(self, record: BreakerRecord, now: float) -> Transition:
        record.state = BreakerState.HALF_OPEN
        record.changed_at = now
        record.generation += 1
        record.probes_issued = 0
        record.probe_outcomes = []
        return Transition(BreakerState.OPEN, BreakerState.HALF_OPEN, now, "wait in open state elapsed")

    def _to_closed(self, record: BreakerRecord, now: float, reason: str) -> Transition:
        record.state = BreakerState.CLOSED
        record.changed_at = now
        record.closed_at = now
        record.window.clear()
        record.probes_issued = 0
        record.probe_outcomes = []
        return Transition(BreakerState.HALF_OPEN, BreakerState.CLOSED, now, reason)


def _probe_totals(record: BreakerRecord) -> WindowTotals:
    outcomes = record.probe_outcomes
    return WindowTotals(
        calls=len(outcomes),
        failures=sum(1 for failed, _ in outcomes if failed),
        slow=sum(1 for _, slow in outcomes if slow),
    )


def _capacity(window: CountWindow | TimeWindow) -> int:
    return window.size if isinstance(window, CountWindow) else 1 << 30
