"""Capture: SQLAlchemy cursor-execute listeners that time every statement the engine runs.

The hot path (one dict lookup and a few additions per statement) keys figures by the raw
statement text; :meth:`StatementCapture.fold` turns them into per-fingerprint figures later,
off the hot path, so sqlglot never runs while a statement waits. Statements run on a
connection with the execution option :data:`OWN_TAG` (the advisor's own EXPLAINs, catalog reads and its
writes of captured figures), or whose text starts with :data:`OWN_COMMENT`, are never recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncConnection

from intelbot_db_advisor.fingerprint import fingerprint, statement_kind

OWN_TAG = "intelbot_db_advisor_own"
"""An execution option: ``connection.execution_options(intelbot_db_advisor_own=True)`` marks the advisor's own."""
OWN_COMMENT = "/* intelbot-db-advisor */"
_START = "_intelbot_db_advisor_started"
MAX_SAMPLES = 5
"""Parameter samples kept per statement text: those of calls 1, 2, 4, 8 and 16 (varied, off the hot path)."""
TimingObserver = Callable[[str, float], None]
"""``observe(kind, seconds)``: called for each recorded statement (the metrics hook)."""


async def own(connection: AsyncConnection) -> AsyncConnection:
    """Mark ``connection`` (this checkout only, not the pooled connection) as the advisor's own: never captured."""
    return await connection.execution_options(**{OWN_TAG: True})


@dataclass(slots=True)
class RawFigures:
    """Figures of one exact statement text, with up to :data:`MAX_SAMPLES` parameter samples (for analysis only)."""

    kind: str
    samples: list[Any]
    calls: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    rows: int = 0


@dataclass(slots=True)
class StatementFigures:
    """Figures of one fingerprint: calls, total/max time, rows, an executable sample.

    ``sample_parameters`` go with ``sample_sql``; ``parameter_samples`` are up to
    :data:`MAX_SAMPLES` varied parameter sets for that same text (the first is
    ``sample_parameters``), so an analysis can time a statement with several values.
    """

    fingerprint: str
    text: str
    kind: str
    tables: tuple[str, ...]
    sample_sql: str
    sample_parameters: Any
    calls: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0
    rows: int = 0
    parameter_samples: tuple[Any, ...] = ()

    @property
    def mean_seconds(self) -> float:
        return self.total_seconds / self.calls if self.calls else 0.0

    def add(self, other: StatementFigures) -> None:
        """Merge ``other`` (same fingerprint) into these figures; its samples join when its text is the same."""
        if other.sample_sql == self.sample_sql:
            self.parameter_samples = (*self.parameter_samples, *other.parameter_samples)[:MAX_SAMPLES]
        self.calls += other.calls
        self.total_seconds += other.total_seconds
        self.max_seconds = max(self.max_seconds, other.max_seconds)
        self.rows += other.rows


@dataclass
class StatementCapture:
    """Times statements on the engines it is attached to; ``fold()`` returns per-fingerprint figures.

    ``max_texts`` bounds the distinct raw texts held between folds (a workload with literals
    inlined has unbounded texts): reaching it folds on the spot.
    """

    dialect: str
    slow_seconds: float = 0.1
    max_texts: int = 2000
    observer: TimingObserver | None = None
    slow_observer: Callable[[str], None] | None = None
    raw: dict[str, RawFigures] = field(default_factory=dict)
    folded: dict[str, StatementFigures] = field(default_factory=dict)
    _engines: list[Engine] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        """Listen on ``engine`` (an async engine's ``sync_engine``) until :meth:`detach`."""
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        self._engines.append(engine)

    def detach(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._before)
            event.remove(engine, "after_cursor_execute", self._after)
        self._engines.clear()

    def _before(
        self, conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _executemany: bool
    ) -> None:
        if context is None or context.execution_options.get(OWN_TAG) or statement.startswith(OWN_COMMENT):
            return
        setattr(context, _START, time.perf_counter())

    def _after(
        self, _conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, _executemany: bool
    ) -> None:
        started = getattr(context, _START, None)
        if started is None:
            return
        elapsed = time.perf_counter() - started
        setattr(context, _START, None)
        figures = self.raw.get(statement)
        if figures is None:
            if len(self.raw) >= self.max_texts:
                self.fold()
            figures = self.raw[statement] = RawFigures(statement_kind(statement), [])
        figures.calls += 1
        calls = figures.calls
        if calls & (calls - 1) == 0 and len(figures.samples) < MAX_SAMPLES:
            figures.samples.append(parameters)
        figures.total_seconds += elapsed
        if elapsed > figures.max_seconds:
            figures.max_seconds = elapsed
        rowcount = getattr(cursor, "rowcount", -1)
        if isinstance(rowcount, int) and rowcount > 0:
            figures.rows += rowcount
        if self.observer is not None:
            self.observer(figures.kind, elapsed)
        if elapsed >= self.slow_seconds and self.slow_observer is not None:
            self.slow_observer(figures.kind)

    def fold(self) -> dict[str, StatementFigures]:
        """Move the raw figures into per-fingerprint figures; return all figures since the last :meth:`take`."""
        raw, self.raw = self.raw, {}
        for text, figures in raw.items():
            print_ = fingerprint(text, self.dialect)
            folded = StatementFigures(
                fingerprint=print_.id,
                text=print_.text,
                kind=print_.kind,
                tables=print_.tables,
                sample_sql=text,
                sample_parameters=figures.samples[0] if figures.samples else None,
                calls=figures.calls,
                total_seconds=figures.total_seconds,
                max_seconds=figures.max_seconds,
                rows=figures.rows,
                parameter_samples=tuple(figures.samples),
            )
            known = self.folded.get(print_.id)
            if known is None:
                self.folded[print_.id] = folded
            else:
                known.add(folded)
        return self.folded

    def take(self) -> dict[str, StatementFigures]:
        """Fold, then hand over the figures and start counting afresh (used when they are persisted)."""
        figures = self.fold()
        self.folded = {}
        return figures
