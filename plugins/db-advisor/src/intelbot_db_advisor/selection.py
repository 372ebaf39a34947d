"""Choosing indexes from trials: the dialect-independent half of an analysis.

A trial is one candidate index tried against one statement that the planner served
with it. ``accept`` says whether a trial beats that statement's baseline by enough
(measured time on SQLite, Dexter's cost rule plus measured time on PostgreSQL). Each
statement nominates its best accepted candidate; a nominee whose columns lead another
nominee that serves all its statements too is dropped (one index, not two).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Candidate = tuple[str, tuple[str, ...]]
"""``(table, columns in index order)``."""


@dataclass(frozen=True, slots=True)
class Measure:
    """A statement's measured seconds per run and planner cost (None where the dialect gives none).

    ``samples`` are the seconds with each captured parameter set, in the statement's
    sample order; ``seconds`` is their median.
    """

    seconds: float
    cost: float | None = None
    samples: tuple[float, ...] = ()

    @classmethod
    def timed(cls, samples: Sequence[float], cost: float | None = None) -> Measure:
        return cls(statistics.median(samples), cost, tuple(samples))

    def plus(self, extra: Measure | None) -> Measure:
        """These seconds with ``extra``'s added sample by sample (its median when the samples do not pair up).

        The planner cost is kept: ``extra`` is time outside the database (the client path).
        """
        if extra is None:
            return self
        if self.samples and len(extra.samples) == len(self.samples):
            return Measure.timed([a + b for a, b in zip(self.samples, extra.samples, strict=True)], self.cost)
        if self.samples:
            return Measure.timed([a + extra.seconds for a in self.samples], self.cost)
        return Measure(self.seconds + extra.seconds, self.cost)


def median_speedup(before: Measure, after: Measure) -> float:
    """The median over parameter samples of before/after seconds (one sample, or none: the plain ratio).

    One lucky parameter value (a guild with three rows) cannot carry a candidate: half
    the samples must improve by at least the returned factor.
    """
    if before.samples and len(before.samples) == len(after.samples):
        return statistics.median(b / max(a, 1e-9) for b, a in zip(before.samples, after.samples, strict=True))
    return before.seconds / max(after.seconds, 1e-9)


def choose(
    baselines: Mapping[int, Measure],
    trials: Mapping[Candidate, Mapping[int, Measure]],
    accept: Callable[[Measure, Measure], bool],
    *,
    serving: Mapping[Candidate, Mapping[int, Measure]] | None = None,
) -> dict[Candidate, dict[int, Measure]]:
    """The chosen candidates, each with the statements it serves best among those chosen (and their trials).

    Each statement nominates its best accepted candidate in ``trials``. ``serving`` (a
    superset of ``trials``; default ``trials``) says which statements a candidate serves
    at all: PostgreSQL passes its unfiltered trials there, so a nominee is folded into a
    wider nominee it leads whenever that one is accepted for its statements, even where
    the wider one did not beat it by Dexter's margin. Each statement is attributed to one
    chosen index, so call weights are never counted twice.
    """
    helped = _accepted(baselines, trials, accept)
    served = helped if serving is None else _accepted(baselines, serving, accept)
    nominated: dict[Candidate, set[int]] = {}
    for statement in baselines:
        options = [(m.seconds, len(c[1]), c) for c, good in helped.items() if (m := good.get(statement)) is not None]
        if options:
            best = min(options)[2]
            nominated.setdefault(best, set()).add(statement)
    for candidate in sorted(nominated, key=lambda c: len(c[1])):
        if candidate not in nominated:
            continue
        for other in nominated:
            if (
                other != candidate
                and other[0] == candidate[0]
                and other[1][: len(candidate[1])] == candidate[1]
                and nominated[candidate] <= served.get(other, {}).keys()
            ):
                nominated[other] |= nominated.pop(candidate)
                break
    return {
        candidate: {statement: served[candidate][statement] for statement in sorted(statements)}
        for candidate, statements in nominated.items()
    }


def _accepted(
    baselines: Mapping[int, Measure],
    trials: Mapping[Candidate, Mapping[int, Measure]],
    accept: Callable[[Measure, Measure], bool],
) -> dict[Candidate, dict[int, Measure]]:
    helped: dict[Candidate, dict[int, Measure]] = {}
    for candidate, by_statement in trials.items():
        good = {s: m for s, m in by_statement.items() if s in baselines and accept(baselines[s], m)}
        if good:
            helped[candidate] = good
    return helped
