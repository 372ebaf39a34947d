"""``intelbot_memory_*`` metrics on the kernel's registry (no user, channel or text labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class MemoryMetrics:
    """Counters, the query latency histogram and the entries gauge of one memory plugin."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.stored = Counter("intelbot_memory_stored", "Memories stored, by kind", ["kind"], registry=self.registry)
        self.merged = Counter(
            "intelbot_memory_merged", "Near-duplicate memories replaced on write", registry=self.registry
        )
        self.expired = Counter("intelbot_memory_expired", "Expired memories swept", registry=self.registry)
        self.forgotten = Counter("intelbot_memory_forgotten", "Memories deleted on request", registry=self.registry)
        self.queried = Counter(
            "intelbot_memory_queries", "Memory searches, by purpose", ["purpose"], registry=self.registry
        )
        self.augmented = Counter(
            "intelbot_memory_augmented_turns", "Turns given memories as context", registry=self.registry
        )
        self.query_latency = Histogram(
            "intelbot_memory_query_latency_seconds",
            "Backend search time (embedding excluded), by backend",
            ["backend"],
            buckets=QUERY_BUCKETS,
            registry=self.registry,
        )
        self.entries = Gauge("intelbot_memory_entries", "Memories stored now", ["backend"], registry=self.registry)
        self.backend_errors = Counter(
            "intelbot_memory_backend_errors",
            "Backend operations that failed, by backend and operation",
            ["backend", "operation"],
            registry=self.registry,
        )
