"""What an analysis finds: index suggestions with their evidence, and the per-statement baseline."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from intelbot_db_advisor.workload import StatementProblem

_UNSAFE = re.compile(r"[^a-z0-9_]+")
MAX_NAME = 63


@dataclass(frozen=True, slots=True)
class StatementEvidence:
    """How one statement fares with the index: its share of database time, cost and measured time."""

    statement: int
    fingerprint: str
    share: float
    seconds_before: float | None
    seconds_after: float | None
    cost_before: float | None = None
    cost_after: float | None = None

    @property
    def measured(self) -> bool:
        return self.seconds_before is not None and self.seconds_after is not None

    @property
    def speedup(self) -> float:
        """Measured time before over after; the planner-cost ratio when the times were not measured."""
        if self.seconds_before is not None and self.seconds_after is not None:
            return _ratio(self.seconds_before, self.seconds_after)
        if self.cost_before is not None and self.cost_after is not None:
            return _ratio(self.cost_before, self.cost_after)
        return 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "fingerprint": self.fingerprint,
            "share_of_db_time": round(self.share, 4),
            "seconds_before": self.seconds_before,
            "seconds_after": self.seconds_after,
            "speedup": round(self.speedup, 2),
            "measured": self.measured,
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
        }


@dataclass(slots=True)
class Suggestion:
    """One index to create, verified: ``evidence`` lists the statements it speeds up.

    ``speedup`` is measured: the statements' time before over their time after, each
    weighted by its calls (so a frequent statement counts for what it costs the database).
    """

    id: str
    dialect: str
    table: str
    columns: tuple[str, ...]
    sql: str
    evidence: list[StatementEvidence]
    weights: list[float]
    notes: list[str] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        """True when every statement's speed-up is a measured time, not a planner cost."""
        return all(e.measured for e in self.evidence)

    @property
    def before_seconds(self) -> float | None:
        if not self.measured:
            return None
        return sum(w * (e.seconds_before or 0.0) for w, e in zip(self.weights, self.evidence, strict=True))

    @property
    def after_seconds(self) -> float | None:
        if not self.measured:
            return None
        return sum(w * (e.seconds_after or 0.0) for w, e in zip(self.weights, self.evidence, strict=True))

    @property
    def speedup(self) -> float:
        """Call-weighted measured time before over after (planner costs when not measured)."""
        before, after = self.before_seconds, self.after_seconds
        if before is not None and after is not None:
            return _ratio(before, after)
        costs = [(w, e) for w, e in zip(self.weights, self.evidence, strict=True) if e.cost_before and e.cost_after]
        return _ratio(sum(w * (e.cost_before or 0) for w, e in costs), sum(w * (e.cost_after or 0) for w, e in costs))

    @property
    def share(self) -> float:
        return sum(e.share for e in self.evidence)

    @property
    def saving(self) -> float:
        """The share of database time this index would save (what suggestions are ranked by)."""
        return sum(e.share * (1 - 1 / e.speedup) for e in self.evidence if e.speedup > 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "table": self.table,
            "columns": list(self.columns),
            "sql": self.sql,
            "statements": [e.statement for e in self.evidence],
            "speedup": round(self.speedup, 2),
            "measured": self.measured,
            "before_seconds": self.before_seconds,
            "after_seconds": self.after_seconds,
            "share_of_db_time": round(self.share, 4),
            "saving_of_db_time": round(self.saving, 4),
            "evidence": [e.as_dict() for e in self.evidence],
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class StatementBaseline:
    """A statement as it runs today: plan summary, planner cost, measured seconds per run.

    ``client_cost_seconds`` is what the client path (SQLAlchemy and the driver) adds to
    each call, measured (None when not measured); on SQLite ``seconds`` includes it.
    """

    statement: int
    fingerprint: str
    text: str
    kind: str
    share: float
    seconds: float | None
    cost: float | None
    plan: str
    client_cost_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "fingerprint": self.fingerprint,
            "text": self.text,
            "kind": self.kind,
            "share_of_db_time": round(self.share, 4),
            "seconds": self.seconds,
            "cost": self.cost,
            "plan": self.plan,
            "client_cost_seconds": self.client_cost_seconds,
        }


@dataclass(slots=True)
class Analysis:
    """Everything one analysis found, ready for ``--json`` or the text report."""

    dialect: str
    suggestions: list[Suggestion] = field(default_factory=list)
    baselines: list[StatementBaseline] = field(default_factory=list)
    problems: list[StatementProblem] = field(default_factory=list)
    covered: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note_covered(self, table: str, columns: Sequence[str], existing: str) -> None:
        """Record once that ``table(columns)`` is not suggested because ``existing`` already leads with them."""
        note = f"{table}({', '.join(columns)}) is covered by the existing index {existing}"
        if note not in self.covered:
            self.covered.append(note)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "suggestions": [s.as_dict() for s in self.suggestions],
            "statements": [b.as_dict() for b in self.baselines],
            "problems": [str(p) for p in self.problems],
            "covered_by_existing": list(self.covered),
            "notes": list(self.notes),
        }


def _ratio(before: float, after: float) -> float:
    """``before / after``, with a zero ``after`` read as a billion-fold gain (JSON has no infinity)."""
    if after > 0:
        return before / after
    return 1e9 if before > 0 else 1.0


def index_name(table: str, columns: Sequence[str]) -> str:
    """``ix_<table>_<columns>``, lower-case identifier characters only, at most 63 characters."""
    raw = _UNSAFE.sub("_", f"ix_{table}_{'_'.join(columns)}".lower())
    if len(raw) <= MAX_NAME:
        return raw
    digest = hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{raw[: MAX_NAME - 9]}_{digest}"


def suggestion_id(target: str, table: str, columns: Sequence[str]) -> str:
    """A stable id for the same index on the same database (``target`` is the redacted URL)."""
    key = f"{target}|{table}|{','.join(columns)}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:10]


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (both SQLite and PostgreSQL)."""
    return '"' + identifier.replace('"', '""') + '"'


def create_index_sql(dialect: str, table: str, columns: Sequence[str]) -> str:
    """The statement ``apply`` runs: ``CREATE INDEX CONCURRENTLY`` on PostgreSQL, plain on SQLite."""
    concurrently = " CONCURRENTLY" if dialect.startswith("postgres") else ""
    column_list = ", ".join(quote(column) for column in columns)
    name = quote(index_name(table, columns))
    return f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {quote(table)} ({column_list})"


def covering_index(columns: Sequence[str], existing: dict[str, tuple[str, ...]]) -> str | None:
    """The name of an existing index whose leading columns are ``columns``, if any."""
    wanted = tuple(columns)
    for name, indexed in existing.items():
        if indexed[: len(wanted)] == wanted:
            return name
    return None
