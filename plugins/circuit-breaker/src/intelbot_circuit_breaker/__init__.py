"""intelbot circuit breaker: per-model breakers, taxonomy-driven retries, fallbacks and error alerts.

See the README for settings and behaviour. The entry point is :mod:`intelbot_circuit_breaker.plugin`.
"""

from intelbot_circuit_breaker.breakers import Breakers, BreakerView, breaker_name
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_circuit_breaker.recovery import FailureFacts, decide, full_jitter
from intelbot_circuit_breaker.settings import BreakerSettings, CircuitBreakerSettings, RetrySettings, TrendSettings
from intelbot_circuit_breaker.state_machine import (
    BreakerRecord,
    BreakerState,
    CircuitBreaker,
    Outcome,
    Permit,
    Transition,
)
from intelbot_circuit_breaker.store import BreakerStore, FailoverBreakerStore, MemoryBreakerStore, RedisBreakerStore
from intelbot_circuit_breaker.trends import Alert, ErrorTrends
from intelbot_circuit_breaker.window import CountWindow, TimeWindow, WindowTotals

__all__ = [
    "Alert",
    "BreakerRecord",
    "BreakerSettings",
    "BreakerState",
    "BreakerStore",
    "BreakerView",
    "Breakers",
    "CircuitBreaker",
    "CircuitBreakerPlugin",
    "CircuitBreakerSettings",
    "CountWindow",
    "ErrorTrends",
    "FailoverBreakerStore",
    "FailureFacts",
    "MemoryBreakerStore",
    "Outcome",
    "Permit",
    "RedisBreakerStore",
    "RetrySettings",
    "TimeWindow",
    "Transition",
    "TrendSettings",
    "WindowTotals",
    "breaker_name",
    "decide",
    "full_jitter",
]
