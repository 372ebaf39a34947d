"""The kernel's Prometheus metrics, on a registry that plugins add their own metrics to."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class KernelMetrics:
    """``intelbot_*`` metrics owned by the kernel. Plugins register theirs on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.turns = Counter("intelbot_turns", "Answered turns by source", ["source"], registry=self.registry)
        self.calls = Counter(
            "intelbot_llm_calls",
            "Attempts to reach a model by provider, model and outcome",
            ["provider", "model", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "intelbot_llm_latency_seconds",
            "Provider call latency",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter("intelbot_tokens", "Tokens by direction", ["direction"], registry=self.registry)
        self.cost = Counter("intelbot_cost_usd", "USD spent on provider calls", registry=self.registry)
        self.plugin_failures = Counter(
            "intelbot_plugin_failures",
            "Hook implementations that raised, by plugin and hook",
            ["plugin", "hook"],
            registry=self.registry,
        )
        self.errors = Counter(
            "intelbot_llm_errors", "Failed attempts by category", ["category"], registry=self.registry
        )
        self.ledger_dead_letters = Counter(
            "intelbot_ledger_dead_letters",
            "Ledger and conversation-log rows the database refused, kept in ledger_dead_letters",
            ["table"],
            registry=self.registry,
        )
        self.ledger_dropped = Counter(
            "intelbot_ledger_dropped_rows",
            "Rows not recorded because the ledger's buffer was full (the database unreachable for long)",
            ["table"],
            registry=self.registry,
        )
        self.ledger_buffered = Gauge(
            "intelbot_ledger_buffered_rows", "Rows waiting to be written", ["table"], registry=self.registry
        )
