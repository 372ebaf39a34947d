"""Error pattern analysis: rolling error rates per provider and category, and alerts.

Every finished provider call is recorded (``category=None`` for a success). The
rate of a category is its share of the provider's calls over the last
``window_seconds``; the trend compares it with the window before. An :class:`Alert`
is raised when a rate reaches ``alert_rate`` (once per crossing) and when a
category appears that the provider has not shown for ``novelty_seconds``.
Figures are per process: each replica watches its own traffic.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from intelbot.errors import ErrorCategory
from intelbot_circuit_breaker.settings import TrendSettings

AlertKind = Literal["rate", "new_category"]


@dataclass(frozen=True, slots=True)
class Alert:
    """Something operators should know: ``kind`` of alert for ``category`` on ``provider``."""

    kind: AlertKind
    provider: str
    category: ErrorCategory
    rate: float
    calls: int
    at: float

    @property
    def message(self) -> str:
        if self.kind == "rate":
            return (
                f"{self.provider}: {self.category.value} errors at {self.rate:.0%} of {self.calls} calls "
                "in the last window"
            )
        return f"{self.provider}: new error category {self.category.value} (not seen recently)"


@dataclass(slots=True)
class _Bucket:
    start: int
    calls: int = 0
    errors: Counter[ErrorCategory] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """One provider's calls and error shares per category over a window."""

    calls: int
    rates: dict[ErrorCategory, float]

    @property
    def error_rate(self) -> float:
        return sum(self.rates.values())


class ErrorTrends:
    """Rolling counts in buckets of ``window_seconds / 30`` seconds, two windows deep."""

    def __init__(self, config: TrendSettings) -> None:
        self.config = config
        self.bucket_seconds = max(1, config.window_seconds // 30)
        self._buckets: dict[str, deque[_Bucket]] = {}
        self._last_seen: dict[tuple[str, ErrorCategory], float] = {}
        self._alerting: set[tuple[str, ErrorCategory]] = set()

    def providers(self) -> list[str]:
        return sorted(self._buckets)

    def record(self, provider: str, category: ErrorCategory | None, now: float) -> list[Alert]:
        """Count one call of ``provider`` ending in ``category`` (None: success); return new alerts."""
        buckets = self._buckets.setdefault(provider, deque())
        start = int(now) - int(now) % self.bucket_seconds
        if not buckets or buckets[-1].start != start:
            buckets.append(_Bucket(start))
        horizon = now - 2 * self.config.window_seconds
        while buckets and buckets[0].start + self.bucket_seconds <= horizon:
            buckets.popleft()
        bucket = buckets[-1]
        bucket.calls += 1
        alerts: list[Alert] = []
        if category is not None:
            bucket.errors[category] += 1
            key = (provider, category)
            last = self._last_seen.get(key)
            self._last_seen[key] = now
            if last is None or now - last > self.config.novelty_seconds:
                alerts.append(Alert("new_category", provider, category, 0.0, 0, now))
        current = self.rates(provider, now)
        for seen_category in {key[1] for key in self._last_seen if key[0] == provider}:
            key = (provider, seen_category)
            rate = current.rates.get(seen_category, 0.0)
            crossing = current.calls >= self.config.alert_min_calls and rate >= self.config.alert_rate
            if crossing and key not in self._alerting:
                self._alerting.add(key)
                alerts.append(Alert("rate", provider, seen_category, rate, current.calls, now))
            elif not crossing and rate < self.config.alert_rate:
                self._alerting.discard(key)
        return alerts

    def rates(self, provider: str, now: float, *, windows_back: int = 0) -> ErrorRates:
        """Error shares over the last window (``windows_back=1``: the window before it)."""
        end = now - windows_back * self.config.window_seconds
        begin = end - self.config.window_seconds
        calls = 0
        errors: Counter[ErrorCategory] = Counter()
        for bucket in self._buckets.get(provider, ()):
            if begin <= bucket.start < end or (windows_back == 0 and bucket.start == end):
                calls += bucket.calls
                errors.update(bucket.errors)
        return ErrorRates(calls, {category: count / calls for category, count in errors.items()} if calls else {})

    def trend_line(self, provider: str, now: float) -> str:
        """e.g. ``openai: 120 calls, errors 12% (server_error 10%, timeout 2%), previous window 0%``."""
        current = self.rates(provider, now)
        previous = self.rates(provider, now, windows_back=1)
        parts = ", ".join(
            f"{category.value} {rate:.0%}"
            for category, rate in sorted(current.rates.items(), key=lambda item: -item[1])
        )
        detail = f" ({parts})" if parts else ""
        direction = (
            "rising"
            if current.error_rate > previous.error_rate
            else "falling"
            if current.error_rate < previous.error_rate
            else "steady"
        )
        return (
            f"{provider}: {current.calls} calls, errors {current.error_rate:.0%}{detail}, "
            f"previous window {previous.error_rate:.0%} ({direction})"
        )
