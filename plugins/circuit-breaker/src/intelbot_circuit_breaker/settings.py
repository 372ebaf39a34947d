"""The plugin's settings: ``[default.plugins.circuit_breaker]`` as typed, validated models.

Every key has a default; a wrong type or value stops start-up and ``intelbot config
check`` naming the key (``plugins.circuit_breaker.<key>``) and the file. Rates are
fractions in (0, 1], durations are seconds. See the README for the full block with comments.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import Field, Strict, field_validator

from intelbot.errors import ErrorCategory
from intelbot.plugin import PluginSettings, SettingsTable
from intelbot_circuit_breaker.window import WindowKind

DEFAULT_FAILURE_CATEGORIES = frozenset(
    {
        ErrorCategory.RATE_LIMITED,
        ErrorCategory.OVERLOADED,
        ErrorCategory.TIMEOUT,
        ErrorCategory.CONNECTION,
        ErrorCategory.SERVER_ERROR,
    }
)
DEFAULT_NEVER_RETRY = frozenset(
    {
        ErrorCategory.AUTHENTICATION,
        ErrorCategory.PERMISSION,
        ErrorCategory.BAD_REQUEST,
        ErrorCategory.CONTENT_FILTERED,
        ErrorCategory.NOT_FOUND,
        ErrorCategory.BUDGET_EXCEEDED,
        ErrorCategory.CONFIGURATION,
    }
)


Rate = Annotated[float, Field(gt=0, le=1)]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
Categories = Annotated[frozenset[Annotated[ErrorCategory, Strict(False)]], Field(strict=False)]
ModelChain = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(strict=False)]


class BreakerSettings(SettingsTable):
    """How one breaker opens, waits and closes (resilience4j's parameters).

    The breaker opens when at least ``minimum_calls`` calls are in the window and
    the failure rate or the slow-call rate reaches its threshold. It then rejects
    calls for ``wait_in_open_seconds``; each further trip within
    ``growth_memory_seconds`` of the last close (or a failed probe) multiplies the wait
    by ``wait_growth_factor``, up to ``max_wait_in_open_seconds``. In half-open it lets
    ``half_open_probes`` calls through and closes when their failure and slow rates
    stay under the thresholds; a half-open state whose probes have not all reported
    after ``max_wait_in_half_open_seconds`` opens again.
    """

    window_type: WindowKind = "count"
    window_size: int = Field(10, ge=1)
    minimum_calls: int = Field(5, ge=1)
    failure_rate_threshold: Rate = 0.3
    slow_call_duration_seconds: PositiveSeconds = 20.0
    slow_call_rate_threshold: Rate = 1.0
    wait_in_open_seconds: Seconds = 10.0
    wait_growth_factor: float = Field(2.0, ge=1)
    max_wait_in_open_seconds: Seconds = 300.0
    growth_memory_seconds: Seconds = 300.0
    half_open_probes: int = Field(1, ge=1)
    max_wait_in_half_open_seconds: PositiveSeconds = 60.0
    failure_categories: Categories = DEFAULT_FAILURE_CATEGORIES

    def wait_for_trip(self, trips: int) -> float:
        """Seconds to stay open on the ``trips``-th consecutive trip (1 = first), never over the longest wait.

        The growth is compared in log space before any power is taken, so any number of
        trips (a long outage probes thousands of times) gives the longest wait and never
        an ``OverflowError``.
        """
        base = self.wait_in_open_seconds
        longest = max(self.max_wait_in_open_seconds, base)
        growths = max(0, trips - 1)
        if base <= 0 or growths == 0 or self.wait_growth_factor <= 1:
            return base
        if growths * math.log(self.wait_growth_factor) >= math.log(longest / base):
            return longest
        return min(base * self.wait_growth_factor**growths, longest)


class RetrySettings(SettingsTable):
    """When and how long to wait before another attempt.

    Backoff is exponential with full jitter: a uniform draw in
    ``[0, min(max_delay_seconds, base_delay_seconds * 2**n)]`` for the n-th retry of a model.
    A ``Retry-After`` from the provider replaces the draw for ``honour_retry_after``
    categories; one longer than ``max_retry_after_seconds`` moves to a fallback instead.
    ``retries_per_model`` extra attempts go to the same model before moving down the
    chain; ``switch_model_on`` categories move at once. A retry is not started when
    its delay plus ``min_attempt_seconds`` does not fit before the turn's deadline.
    ``fallback_only_on`` categories (a revoked key, an exhausted quota or billing) are never
    retried on the same provider but move to the fallback, and put that model's breaker on
    hold for ``provider_hold_seconds``: they are not transient, so later turns skip it until
    the hold ends and the next call probes it again.
    """

    base_delay_seconds: Seconds = 0.25
    max_delay_seconds: Seconds = 8.0
    max_retry_after_seconds: Seconds = 20.0
    retries_per_model: int = Field(1, ge=0)
    min_attempt_seconds: Seconds = 0.5
    never_retry: Categories = DEFAULT_NEVER_RETRY
    honour_retry_after: Categories = frozenset({ErrorCategory.RATE_LIMITED, ErrorCategory.OVERLOADED})
    switch_model_on: Categories = frozenset({ErrorCategory.TIMEOUT})
    fallback_only_on: Categories = frozenset({ErrorCategory.AUTHENTICATION, ErrorCategory.PERMISSION})
    provider_hold_seconds: Seconds = 300.0


class TrendSettings(SettingsTable):
    """Error pattern analysis: rolling rates per provider and category, and when to alert.

    An alert fires when a category's share of a provider's calls over the last
    ``window_seconds`` reaches ``alert_rate`` (with at least ``alert_min_calls`` calls),
    and again only after it has fallen back under it; and when a category appears
    that the provider has not shown for ``novelty_seconds``. ``alert_channel_id`` is
    the Discord channel the front end posts alerts to (none: log and metric only).
    """

    window_seconds: int = Field(300, ge=1)
    alert_rate: Rate = 0.2
    alert_min_calls: int = Field(10, ge=1)
    novelty_seconds: Seconds = 3600.0
    alert_channel_id: int | None = None

    @field_validator("alert_channel_id", mode="before")
    @classmethod
    def _no_channel(cls, value: Any) -> Any:
        return None if value in (0, "") else value


class CircuitBreakerSettings(PluginSettings):
    """Everything under ``[default.plugins.circuit_breaker]``."""

    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    trends: TrendSettings = Field(default_factory=TrendSettings)
    fallbacks: dict[str, ModelChain] = Field(default_factory=dict)
    tier_fallbacks: dict[str, ModelChain] = Field(default_factory=dict)
    redis_url: str | None = None
    redis_prefix: str = Field("intelbot:breaker", min_length=1)
    set_provider_max_retries: bool = True

    @field_validator("redis_url", mode="before")
    @classmethod
    def _no_redis(cls, value: Any) -> Any:
        return None if value == "" else value
