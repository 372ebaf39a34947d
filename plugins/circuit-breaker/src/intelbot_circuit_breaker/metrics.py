"""The plugin's Prometheus metrics, registered on the kernel's registry (``kernel.metrics``).

- ``intelbot_breaker_state{breaker}``: 0 closed, 1 open, 2 half-open.
- ``intelbot_breaker_transitions_total{breaker,from_state,to_state}``.
- ``intelbot_breaker_rejected_calls_total{breaker}``: calls refused while open.
- ``intelbot_breaker_retries_total{category}``: retries decided, by error category (only
  retries the kernel will make: not past ``llm.max_attempts`` or the turn's deadline).
- ``intelbot_breaker_fallbacks_total{from_model,to_model}``: fallbacks taken.
- ``intelbot_breaker_errors_total{provider,category}``: failed attempts seen.
- ``intelbot_breaker_alerts_total{provider,category,kind}``: alerts raised.
- ``intelbot_breaker_store_degraded``: 1 when ``redis_url`` is set but Redis could not be
  reached, so the breakers live in this process (not shared with replicas); else 0.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class BreakerMetrics:
    """The metric objects, created once per plugin instance on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.state = Gauge(
            "intelbot_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            ["breaker"],
            registry=registry,
        )
        self.transitions = Counter(
            "intelbot_breaker_transitions",
            "Circuit breaker state changes",
            ["breaker", "from_state", "to_state"],
            registry=registry,
        )
        self.rejected = Counter(
            "intelbot_breaker_rejected_calls",
            "Calls refused because the breaker was open",
            ["breaker"],
            registry=registry,
        )
        self.retries = Counter(
            "intelbot_breaker_retries", "Retries decided, by error category", ["category"], registry=registry
        )
        self.fallbacks = Counter(
            "intelbot_breaker_fallbacks", "Fallbacks taken", ["from_model", "to_model"], registry=registry
        )
        self.errors = Counter(
            "intelbot_breaker_errors", "Failed attempts seen", ["provider", "category"], registry=registry
        )
        self.store_degraded = Gauge(
            "intelbot_breaker_store_degraded",
            "1 when Redis is configured but unreachable and breakers live in this process",
            registry=registry,
        )
        self.alerts = Counter(
            "intelbot_breaker_alerts",
            "Error-pattern alerts raised",
            ["provider", "category", "kind"],
            registry=registry,
        )

    def value(self, name: str, labels: dict[str, str]) -> float:
        """The current value of a sample (0.0 when absent): for stats and tests."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found
