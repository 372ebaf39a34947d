"""``intelbot_db_*`` metrics on the kernel's registry; labels are statement kinds, never statement text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from intelbot_db_advisor.pool import PoolWatch

STATEMENT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5)


class AdvisorMetrics:
    """Statement latency by kind (select/insert/update/delete/other), slow statements, pool use, suggestions."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "intelbot_db_statement_seconds",
            "Statement latency on the kernel's engine, by statement kind",
            ["kind"],
            buckets=STATEMENT_BUCKETS,
            registry=registry,
        )
        self.slow = Counter(
            "intelbot_db_slow_statements",
            "Statements slower than plugins.db_advisor.slow_ms, by kind",
            ["kind"],
            registry=registry,
        )
        self.pool_in_use = Gauge("intelbot_db_pool_in_use", "Connections checked out of the pool", registry=registry)
        self.pool_peak = Gauge(
            "intelbot_db_pool_peak_in_use", "Most connections checked out at once", registry=registry
        )
        self.pool_overflow = Gauge(
            "intelbot_db_pool_overflow_checkouts", "Checkouts beyond pool_size since start", registry=registry
        )
        self.fingerprints = Gauge(
            "intelbot_db_fingerprints", "Distinct statement fingerprints captured", registry=registry
        )
        self.suggestions = Gauge(
            "intelbot_db_suggestions", "Index suggestions from the last analysis", registry=registry
        )
        self._children = {kind: self.latency.labels(kind) for kind in ("select", "insert", "update", "delete", "other")}
        self._slow_children = {kind: self.slow.labels(kind) for kind in self._children}

    def watch_pool(self, watch: PoolWatch) -> None:
        """Read the pool gauges from ``watch`` at each scrape."""
        self.pool_in_use.set_function(lambda: watch.in_use)
        self.pool_peak.set_function(lambda: watch.peak_in_use)
        self.pool_overflow.set_function(lambda: watch.overflow_checkouts)

    def observe(self, kind: str, seconds: float) -> None:
        self._children[kind].observe(seconds)

    def observe_slow(self, kind: str) -> None:
        self._slow_children[kind].inc()
