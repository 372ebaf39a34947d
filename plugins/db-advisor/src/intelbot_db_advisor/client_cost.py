"""The client path's own cost per call: what SQLAlchemy and the driver add to the database's time.

An index shortens only the database's part of a call. The bot waits for the whole
call: SQLAlchemy, the driver (aiosqlite hands each call to a thread and back; asyncpg
makes a round trip) and the conversion of the rows. That part is the same with or
without the index (same statement, same rows), so a trial's speed-up is judged on the
trial's time plus this cost. A statement whose database part falls from 200 µs to
36 µs under a 400 µs client cost gets 1.4x faster for the bot, not 6x.

:func:`client_seconds` times statements through an SQLAlchemy connection the way the
bot runs them (``exec_driver_sql``, rows fetched; a writing statement inside a
transaction that is rolled back). :func:`cost_per_call` subtracts the trial's time of
the same parameter samples, measured without the index on the same data. Both sides
keep the fastest of :data:`RUNS` calls per sample: on a busy machine the median of a
thread hand-off is mostly the scheduler's delay, which is not a property of the path
and would make the advice depend on the load at the moment of the analysis.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from intelbot_db_advisor.selection import Measure
from intelbot_db_advisor.workload import WorkloadStatement

NEGLIGIBLE_ABOVE_SECONDS = 0.05
"""Statements whose trial takes longer are not timed again: a client cost of a few hundred µs is under 1% there."""
RUNS = 12
"""Calls per parameter sample, each way: the fastest is kept."""


async def client_seconds(
    connection: AsyncConnection,
    statements: Sequence[WorkloadStatement],
    parameters: Callable[[Any], Any],
    runs: int = RUNS,
) -> dict[int, Measure]:
    """Per statement and parameter sample, the fastest of ``runs`` calls through ``connection``, in seconds.

    One warm-up call per sample is not counted. ``parameters`` turns a captured sample
    into what the driver takes. Nothing is committed: every call runs in a transaction
    that is rolled back (a SELECT's too, so all calls pay the same begin and rollback).
    """
    timings: dict[int, Measure] = {}
    for statement in statements:
        per_sample: list[float] = []
        for sample in statement.samples():
            values = parameters(sample)
            seconds: list[float] = []
            for _ in range(runs + 1):
                started = time.perf_counter()
                transaction = await connection.begin()
                try:
                    result = await connection.exec_driver_sql(statement.sql, values)
                    if result.returns_rows:
                        result.fetchall()
                finally:
                    await transaction.rollback()
                seconds.append(time.perf_counter() - started)
            per_sample.append(min(seconds[1:]))
        timings[statement.index] = Measure.timed(per_sample)
    return timings


def timed_again(statements: Sequence[WorkloadStatement], trial: Mapping[int, Measure]) -> list[WorkloadStatement]:
    """The statements whose client cost is worth measuring: a trial baseline exists and is not already slow."""
    return [s for s in statements if s.index in trial and trial[s.index].seconds < NEGLIGIBLE_ABOVE_SECONDS]


def cost_per_call(client: Measure, trial: Measure) -> Measure:
    """Per sample, the client path's time minus the trial's (never below zero): what every call adds."""
    if len(client.samples) != len(trial.samples):
        return Measure(max(0.0, client.seconds - trial.seconds))
    return Measure.timed([max(0.0, c - t) for c, t in zip(client.samples, trial.samples, strict=True)])


def costs_per_call(client: Mapping[int, Measure], trial: Mapping[int, Measure]) -> dict[int, Measure]:
    """:func:`cost_per_call` for every statement timed both ways."""
    return {index: cost_per_call(measure, trial[index]) for index, measure in client.items() if index in trial}


def with_costs(measures: Mapping[int, Measure], costs: Mapping[int, Measure]) -> dict[int, Measure]:
    """Each statement's measure with its client cost added (unchanged where none was measured)."""
    return {index: measure.plus(costs.get(index)) for index, measure in measures.items()}


def cost_note(costs: Mapping[int, Measure], path: str) -> str:
    """One line for the report: the median client cost per call over the statements, in µs."""
    median = statistics.median(m.seconds for m in costs.values()) * 1e6
    return (
        f"speed-ups include the client path's measured cost per call ({path}; median {median:.0f} µs "
        f"over {len(costs)} statements), which an index does not shorten"
    )
