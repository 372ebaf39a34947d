"""The router's Prometheus metrics, registered on the kernel's registry at start-up (no per-user labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)


class RouterMetrics:
    """``intelbot_router_*``: decisions by tier, money saved, decision latency (embedding excluded),
    evidence recorded (``reask``, ``error``) and scheduled re-trains by outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "intelbot_router_decisions", "Routed turns by the tier chosen", ["tier"], registry=registry
        )
        self.saved = Counter(
            "intelbot_router_saved_usd",
            "USD the strong tier would have cost minus what the routed answers cost",
            registry=registry,
        )
        self.latency = Histogram(
            "intelbot_router_decision_seconds",
            "Time to decide a turn's tier, excluding the prompt embedding",
            buckets=DECISION_BUCKETS,
            registry=registry,
        )
        self.evidence = Counter(
            "intelbot_router_evidence",
            "Evidence recorded on routed turns: reask (asked again at once), error (a failed attempt)",
            ["kind"],
            registry=registry,
        )
