"""Every state transition of the breaker, driven by a manual clock (no sleeps)."""

from __future__ import annotations

import json

import pytest

from intelbot.testing.clock import ManualClock
from intelbot_circuit_breaker.settings import BreakerSettings
from intelbot_circuit_breaker.state_machine import BreakerRecord, BreakerState, CircuitBreaker, Outcome, Permit

CONFIG = BreakerSettings(
    window_type="count",
    window_size=10,
    minimum_calls=4,
    failure_rate_threshold=0.5,
    slow_call_duration_seconds=5.0,
    slow_call_rate_threshold=0.8,
    wait_in_open_seconds=10.0,
    wait_growth_factor=2.0,
    max_wait_in_open_seconds=35.0,
    growth_memory_seconds=100.0,
    half_open_probes=2,
    max_wait_in_half_open_seconds=30.0,
)
CLOSED_PERMIT = Permit(granted=True)


def feed(rules: CircuitBreaker, record: BreakerRecord, clock: ManualClock, outcomes: str) -> list[BreakerState]:
    """Record outcomes given as letters: s success, f failure, i ignored, w slow success."""
    states = []
    for letter in outcomes:
        outcome = {"s": Outcome.SUCCESS, "w": Outcome.SUCCESS, "f": Outcome.FAILURE, "i": Outcome.IGNORED}[letter]
        rules.record(record, CLOSED_PERMIT, outcome, slow=letter == "w", now=clock())
        states.append(record.state)
    return states


def trip(rules: CircuitBreaker, record: BreakerRecord, clock: ManualClock) -> None:
    feed(rules, record, clock, "ffff")
    assert record.state is BreakerState.OPEN


def probe_all(rules: CircuitBreaker, record: BreakerRecord, clock: ManualClock, outcomes: list[Outcome]) -> None:
    permits = []
    for _ in outcomes:
        permit, _transitions = rules.acquire(record, clock())
        assert permit.granted
        assert permit.probe
        permits.append(permit)
    for permit, outcome in zip(permits, outcomes, strict=True):
        rules.record(record, permit, outcome, slow=False, now=clock())


def state(record: BreakerRecord) -> BreakerState:
    """The record's state, read through a call so that type checkers do not narrow it between steps."""
    return record.state


@pytest.fixture
def rules() -> CircuitBreaker:
    return CircuitBreaker(CONFIG)


def test_closed_below_minimum_calls_stays_closed_even_when_all_fail(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    assert feed(rules, record, clock, "fff") == [BreakerState.CLOSED] * 3
    assert rules.acquire(record, clock())[0].granted


def test_closed_to_open_when_failure_rate_reaches_threshold(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    states = feed(rules, record, clock, "sfsf")
    assert states == [BreakerState.CLOSED, BreakerState.CLOSED, BreakerState.CLOSED, BreakerState.OPEN]
    assert record.open_until == clock() + 10.0


def test_closed_under_threshold_stays_closed(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    assert feed(rules, record, clock, "ssfsssfsss")[-1] is BreakerState.CLOSED
    assert rules.totals(record, clock()).failures == 2


def test_count_window_forgets_calls_beyond_its_size(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    feed(rules, record, clock, "fs" + "s" * 10)
    totals = rules.totals(record, clock())
    assert (totals.calls, totals.failures) == (10, 0)


def test_closed_to_open_on_slow_call_rate(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    states = feed(rules, record, clock, "wwsww")
    assert states[-1] is BreakerState.OPEN  # 4 of 5 slow = 80% >= 80%
    assert states[:4] == [BreakerState.CLOSED] * 4


def test_ignored_outcomes_do_not_count(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    feed(rules, record, clock, "iiiiiiff")
    assert record.state is BreakerState.CLOSED
    assert rules.totals(record, clock()).calls == 2


def test_open_rejects_until_the_wait_is_over_then_half_open(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(9.999)
    permit, transitions = rules.acquire(record, clock())
    assert not permit.granted
    assert transitions == []
    assert rules.is_rejecting(record, clock())
    clock.advance(0.001)
    assert not rules.is_rejecting(record, clock())
    permit, transitions = rules.acquire(record, clock())
    assert permit.granted
    assert permit.probe
    assert [(t.before, t.after) for t in transitions] == [(BreakerState.OPEN, BreakerState.HALF_OPEN)]
    assert record.state is BreakerState.HALF_OPEN


def test_half_open_admits_only_the_configured_probes(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    granted = [rules.acquire(record, clock())[0].granted for _ in range(4)]
    assert granted == [True, True, False, False]
    assert rules.is_rejecting(record, clock())


def test_half_open_to_closed_when_probes_pass(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    probe_all(rules, record, clock, [Outcome.SUCCESS, Outcome.SUCCESS])
    assert record.state is BreakerState.CLOSED
    assert record.closed_at == clock()
    assert rules.totals(record, clock()).calls == 0  # a fresh window after closing


def test_half_open_waits_for_every_probe_before_deciding(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    first, _ = rules.acquire(record, clock())
    second, _ = rules.acquire(record, clock())
    rules.record(record, first, Outcome.SUCCESS, slow=False, now=clock())
    assert record.state is BreakerState.HALF_OPEN
    rules.record(record, second, Outcome.SUCCESS, slow=False, now=clock())
    assert state(record) is BreakerState.CLOSED


def test_half_open_to_open_with_a_longer_wait_when_a_probe_fails(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    probe_all(rules, record, clock, [Outcome.FAILURE, Outcome.SUCCESS])  # 50% >= 50%
    assert record.state is BreakerState.OPEN
    assert record.open_until == clock() + 20.0
    clock.advance(20)
    probe_all(rules, record, clock, [Outcome.FAILURE, Outcome.FAILURE])
    assert record.open_until == clock() + 35.0  # 40 capped at max_wait_in_open_seconds


def test_trip_soon_after_closing_grows_the_wait(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    probe_all(rules, record, clock, [Outcome.SUCCESS, Outcome.SUCCESS])
    clock.advance(50)  # within growth_memory_seconds of the close
    trip(rules, record, clock)
    assert record.trips == 2
    assert record.open_until == clock() + 20.0


def test_trip_long_after_closing_starts_the_wait_again(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    probe_all(rules, record, clock, [Outcome.SUCCESS, Outcome.SUCCESS])
    clock.advance(101)
    trip(rules, record, clock)
    assert record.trips == 1
    assert record.open_until == clock() + 10.0


def test_half_open_to_open_when_probes_do_not_report_in_time(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    rules.acquire(record, clock())
    rules.acquire(record, clock())
    clock.advance(30)
    assert rules.is_rejecting(record, clock())
    permit, transitions = rules.acquire(record, clock())
    assert not permit.granted
    assert [(t.before, t.after) for t in transitions] == [(BreakerState.HALF_OPEN, BreakerState.OPEN)]
    assert record.open_until == clock() + 20.0


def test_ignored_probe_releases_its_permit(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    first, _ = rules.acquire(record, clock())
    rules.acquire(record, clock())
    assert not rules.acquire(record, clock())[0].granted
    rules.record(record, first, Outcome.IGNORED, slow=False, now=clock())
    assert rules.acquire(record, clock())[0].granted
    assert record.state is BreakerState.HALF_OPEN


def test_probe_of_an_earlier_half_open_period_does_not_count(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    stale, _ = rules.acquire(record, clock())
    clock.advance(30)  # half-open times out -> open (20 s)
    rules.acquire(record, clock())
    clock.advance(20)
    fresh_one, _ = rules.acquire(record, clock())
    fresh_two, _ = rules.acquire(record, clock())
    assert fresh_one.generation == stale.generation + 1
    rules.record(record, stale, Outcome.SUCCESS, slow=False, now=clock())
    rules.record(record, fresh_one, Outcome.SUCCESS, slow=False, now=clock())
    assert record.state is BreakerState.HALF_OPEN  # the stale success was not taken as a probe
    rules.record(record, fresh_two, Outcome.SUCCESS, slow=False, now=clock())
    assert state(record) is BreakerState.CLOSED


def test_calls_finishing_after_the_breaker_opened_do_not_change_it(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    until = record.open_until
    feed(rules, record, clock, "sssss")
    assert record.state is BreakerState.OPEN
    assert record.open_until == until


def test_time_window_forgets_old_calls(clock: ManualClock) -> None:
    rules = CircuitBreaker(BreakerSettings(window_type="time", window_size=60, minimum_calls=3))
    record = rules.new_record(clock())
    feed(rules, record, clock, "ff")
    clock.advance(61)
    feed(rules, record, clock, "sf")
    assert record.state is BreakerState.CLOSED  # the old failures left the window: 1 of 2, under minimum
    assert rules.totals(record, clock()).calls == 2
    feed(rules, record, clock, "f")
    assert state(record) is BreakerState.OPEN  # 2 of 3 within 60 s


def test_record_round_trips_through_json(rules: CircuitBreaker, clock: ManualClock) -> None:
    record = rules.new_record(clock())
    trip(rules, record, clock)
    clock.advance(10)
    rules.acquire(record, clock())
    copy = BreakerRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert copy.to_json() == record.to_json()
    assert copy.state is BreakerState.HALF_OPEN
    for kind in ("count", "time"):
        other = CircuitBreaker(BreakerSettings(window_type=kind)).new_record(clock())  # type: ignore[arg-type]
        other.window.record(failed=True, slow=True, now=clock())
        again = BreakerRecord.from_json(json.loads(json.dumps(other.to_json())))
        assert again.window.totals(clock()) == other.window.totals(clock())


def test_retry_after_hold_rejects_calls_in_any_state_without_a_transition(
    rules: CircuitBreaker, clock: ManualClock
) -> None:
    record = rules.new_record(clock())
    assert rules.hold(record, 3.0, clock())
    assert not rules.hold(record, 1.0, clock())  # a shorter hold does not shorten it
    permit, transitions = rules.acquire(record, clock())
    assert (permit.granted, transitions, record.state) == (False, [], BreakerState.CLOSED)
    assert rules.acquire(record, clock(), past_hold=True)[0].granted  # the retry that waited it out
    clock.advance(3.0)
    assert rules.acquire(record, clock())[0].granted
    assert rules.hold(record, 1_000.0, clock())
    assert record.hold_until == clock() + CONFIG.max_wait_in_open_seconds  # capped


def test_a_long_outage_of_thousands_of_failed_probes_keeps_the_longest_wait(clock: ManualClock) -> None:
    """Every failed probe grows the wait; past ~1,025 trips 2**trips overflowed a float and the record stuck."""
    rules = CircuitBreaker(
        BreakerSettings(window_size=4, minimum_calls=4, wait_in_open_seconds=10.0, max_wait_in_open_seconds=300.0)
    )
    record = rules.new_record(clock())
    trip(rules, record, clock)
    for _ in range(3_000):
        clock.advance(record.open_until - clock())
        permit, transitions = rules.acquire(record, clock())
        assert permit.probe
        assert [(t.before, t.after) for t in transitions] == [(BreakerState.OPEN, BreakerState.HALF_OPEN)]
        transitions = rules.record(record, permit, Outcome.FAILURE, slow=False, now=clock())
        assert [(t.before, t.after) for t in transitions] == [(BreakerState.HALF_OPEN, BreakerState.OPEN)]
    assert record.trips == 3_001
    assert record.state is BreakerState.OPEN
    assert record.open_until == clock() + 300.0
    clock.advance(300.0)
    permit, _ = rules.acquire(record, clock())
    rules.record(record, permit, Outcome.SUCCESS, slow=False, now=clock())
    assert state(record) is BreakerState.CLOSED  # the provider came back: the breaker still works


@pytest.mark.parametrize(
    ("trips", "factor", "expected"),
    [
        (1, 2.0, 10.0),
        (2, 2.0, 20.0),
        (5, 2.0, 160.0),
        (6, 2.0, 300.0),
        (1_025, 2.0, 300.0),
        (10**9, 2.0, 300.0),
        (3, 1e300, 300.0),
        (10**6, 1.0, 10.0),
    ],
)
def test_wait_for_trip_is_capped_without_overflow(trips: int, factor: float, expected: float) -> None:
    config = BreakerSettings(wait_in_open_seconds=10.0, wait_growth_factor=factor, max_wait_in_open_seconds=300.0)
    assert config.wait_for_trip(trips) == expected
