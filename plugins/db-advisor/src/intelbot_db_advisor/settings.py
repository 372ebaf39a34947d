"""``[default.plugins.db_advisor]``: the advisor's typed settings (documented in settings.toml)."""

from __future__ import annotations

from pydantic import Field

from intelbot.plugin import PluginSettings


class DbAdvisorSettings(PluginSettings):
    """Capture, analysis floors and the rules a suggestion must pass."""

    slow_ms: float = Field(default=100.0, gt=0)
    """A statement at least this slow counts in ``intelbot_db_slow_statements_total``."""
    flush_seconds: float = Field(default=30.0, ge=0)
    """How often captured figures are written to the database (0: only at shutdown)."""
    max_texts: int = Field(default=2000, ge=10)
    """Distinct statement texts held in memory between folds into fingerprints."""
    min_calls: int = Field(default=1, ge=1)
    min_total_ms: float = Field(default=10.0, ge=0)
    """Statements below both floors (calls and total time) are not analysed."""
    max_statements: int = Field(default=50, ge=1)
    """At most this many statements (heaviest first) are analysed in one report."""
    min_speedup: float = Field(default=2.0, ge=1.0)
    """A suggestion must make its statements at least this much faster, measured."""
    count_client_cost: bool = True
    """Judge speed-ups by what the caller waits for: add each statement's measured client-path cost
    (SQLAlchemy and the driver, which an index does not shorten) to its trial times. Off: database time only."""
    min_cost_saving: float = Field(default=0.5, gt=0, lt=1)
    """PostgreSQL: planner cost saving a hypothetical index must reach (Dexter's rule: 50%)."""
    repeats: int = Field(default=5, ge=1, le=50)
    """Timed runs per statement and index (the median is kept)."""
    statement_timeout_seconds: float = Field(default=5.0, gt=0)
    """One analysed run may take at most this long; a slower statement is reported, not waited for."""
    copy_max_mb: int = Field(default=512, ge=1)
    """SQLite: databases up to this size are copied whole for trials; larger ones are sampled."""
    sample_rows: int = Field(default=200_000, ge=1000)
    """SQLite: rows per table in a sampled copy."""
    postgres_verify_build: bool = True
    """PostgreSQL: also build each kept index inside a rolled-back transaction and time the statements
    with it (takes a SHARE lock on the table while it builds; off: only planner costs are verified)."""
