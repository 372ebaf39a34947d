"""The plugin's settings: ``[default.plugins.circuit_breaker]`` read into typed, validated objects.

Every key has a default; a wrong type or value raises ``ConfigurationError`` naming
the key (``plugins.circuit_breaker.<key>``). Rates are fractions in (0, 1], durations
are seconds. See the README for the full block with comments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intelbot.errors import ConfigurationError, ErrorCategory
from intelbot_circuit_breaker.window import WindowKind

PREFIX = "plugins.circuit_breaker"

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


@dataclass(frozen=True, slots=True)
class BreakerConfig:
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
    window_size: int = 10
    minimum_calls: int = 5
    failure_rate_threshold: float = 0.3
    slow_call_duration_seconds: float = 20.0
    slow_call_rate_threshold: float = 1.0
    wait_in_open_seconds: float = 10.0
    wait_growth_factor: float = 2.0
    max_wait_in_open_seconds: float = 300.0
    growth_memory_seconds: float = 300.0
    half_open_probes: int = 1
    max_wait_in_half_open_seconds: float = 60.0
    failure_categories: frozenset[ErrorCategory] = DEFAULT_FAILURE_CATEGORIES

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


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """When and how long to wait before another attempt.

    Backoff is exponential with full jitter: a uniform draw in
    ``[0, min(max_delay_seconds, base_delay_seconds * 2**n)]`` for the n-th retry of a model.
    A ``Retry-After`` from the provider replaces the draw for ``honour_retry_after``
    categories; one longer than ``max_retry_after_seconds`` moves to a fallback instead.
    ``retries_per_model`` extra attempts go to the same model before moving down the
    chain; ``switch_model_on`` categories move at once. A retry is not started when
    its delay plus ``min_attempt_seconds`` does not fit before the turn's deadline.
    """

    base_delay_seconds: float = 0.25
    max_delay_seconds: float = 8.0
    max_retry_after_seconds: float = 20.0
    retries_per_model: int = 1
    min_attempt_seconds: float = 0.5
    never_retry: frozenset[ErrorCategory] = DEFAULT_NEVER_RETRY
    honour_retry_after: frozenset[ErrorCategory] = frozenset({ErrorCategory.RATE_LIMITED, ErrorCategory.OVERLOADED})
    switch_model_on: frozenset[ErrorCategory] = frozenset({ErrorCategory.TIMEOUT})


@dataclass(frozen=True, slots=True)
class TrendConfig:
    """Error pattern analysis: rolling rates per provider and category, and when to alert.

    An alert fires when a category's share of a provider's calls over the last
    ``window_seconds`` reaches ``alert_rate`` (with at least ``alert_min_calls`` calls),
    and again only after it has fallen back under it; and when a category appears
    that the provider has not shown for ``novelty_seconds``. ``alert_channel_id`` is
    the Discord channel the front end posts alerts to (none: log and metric only).
    """

    window_seconds: int = 300
    alert_rate: float = 0.2
    alert_min_calls: int = 10
    novelty_seconds: float = 3600.0
    alert_channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """Everything under ``[default.plugins.circuit_breaker]``."""

    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    trends: TrendConfig = field(default_factory=TrendConfig)
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tier_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    redis_url: str | None = None
    redis_prefix: str = "intelbot:breaker"
    set_provider_max_retries: bool = True

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None) -> PluginConfig:
        """Read and validate the settings table; raises ConfigurationError naming the bad key."""
        table = _lower_keys(raw or {})
        default = cls()
        return cls(
            breaker=_breaker(_table(table, "breaker")),
            retry=_retry(_table(table, "retry")),
            trends=_trends(_table(table, "trends")),
            fallbacks=_chains(_table(table, "fallbacks"), "fallbacks"),
            tier_fallbacks=_chains(_table(table, "tier_fallbacks"), "tier_fallbacks"),
            redis_url=_optional_str(table, "redis_url", ""),
            redis_prefix=_str(table, "redis_prefix", "", default.redis_prefix),
            set_provider_max_retries=_bool(table, "set_provider_max_retries", "", default.set_provider_max_retries),
        )


def _lower_keys(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in raw.items()}


def _key(section: str, name: str) -> str:
    return f"{PREFIX}.{section}.{name}" if section else f"{PREFIX}.{name}"


def _table(table: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = table.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"must be a table, got {value!r}", key=_key("", name))
    return {str(key): item for key, item in value.items()}


def _number(
    table: Mapping[str, Any],
    name: str,
    section: str,
    default: float,
    *,
    low: float,
    high: float | None = None,
    low_inclusive: bool = True,
) -> float:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"must be a number, got {value!r}", key=_key(section, name))
    too_low = value < low if low_inclusive else value <= low
    if too_low or (high is not None and value > high):
        bound = f">= {low}" if low_inclusive else f"> {low}"
        limit = f"{bound} and <= {high}" if high is not None else bound
        raise ConfigurationError(f"must be {limit}, got {value!r}", key=_key(section, name))
    return float(value)


def _int(table: Mapping[str, Any], name: str, section: str, default: int, *, low: int) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigurationError(f"must be an integer >= {low}, got {value!r}", key=_key(section, name))
    return value


def _bool(table: Mapping[str, Any], name: str, section: str, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise ConfigurationError(f"must be true or false, got {value!r}", key=_key(section, name))
    return value


def _str(table: Mapping[str, Any], name: str, section: str, default: str) -> str:
    value = table.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"must be a non-empty string, got {value!r}", key=_key(section, name))
    return value


def _optional_str(table: Mapping[str, Any], name: str, section: str) -> str | None:
    value = table.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"must be a string, got {value!r}", key=_key(section, name))
    return value


def _categories(
    table: Mapping[str, Any], name: str, section: str, default: frozenset[ErrorCategory]
) -> frozenset[ErrorCategory]:
    value = table.get(name)
    if value is None:
        return default
    if not isinstance(value, list | tuple):
        raise ConfigurationError(f"must be a list of error categories, got {value!r}", key=_key(section, name))
    known = {category.value for category in ErrorCategory}
    result: set[ErrorCategory] = set()
    for item in value:
        if item not in known:
            raise ConfigurationError(
                f"unknown error category {item!r} (known: {', '.join(sorted(known))})", key=_key(section, name)
            )
        result.add(ErrorCategory(item))
    return frozenset(result)


def _breaker(table: Mapping[str, Any]) -> BreakerConfig:
    section = "breaker"
    default = BreakerConfig()
    window_type = table.get("window_type", default.window_type)
    if window_type not in ("count", "time"):
        raise ConfigurationError(f"must be 'count' or 'time', got {window_type!r}", key=_key(section, "window_type"))

    def rate(name: str) -> float:
        return _number(table, name, section, getattr(default, name), low=0, high=1, low_inclusive=False)

    def seconds(name: str, *, positive: bool = False) -> float:
        return _number(table, name, section, getattr(default, name), low=0, low_inclusive=not positive)

    return BreakerConfig(
        window_type=window_type,
        window_size=_int(table, "window_size", section, default.window_size, low=1),
        minimum_calls=_int(table, "minimum_calls", section, default.minimum_calls, low=1),
        failure_rate_threshold=rate("failure_rate_threshold"),
        slow_call_duration_seconds=seconds("slow_call_duration_seconds", positive=True),
        slow_call_rate_threshold=rate("slow_call_rate_threshold"),
        wait_in_open_seconds=seconds("wait_in_open_seconds"),
        wait_growth_factor=_number(table, "wait_growth_factor", section, default.wait_growth_factor, low=1),
        max_wait_in_open_seconds=seconds("max_wait_in_open_seconds"),
        growth_memory_seconds=seconds("growth_memory_seconds"),
        half_open_probes=_int(table, "half_open_probes", section, default.half_open_probes, low=1),
        max_wait_in_half_open_seconds=seconds("max_wait_in_half_open_seconds", positive=True),
        failure_categories=_categories(table, "failure_categories", section, default.failure_categories),
    )


def _retry(table: Mapping[str, Any]) -> RetryConfig:
    section = "retry"
    defaults = RetryConfig()
    return RetryConfig(
        base_delay_seconds=_number(table, "base_delay_seconds", section, defaults.base_delay_seconds, low=0),
        max_delay_seconds=_number(table, "max_delay_seconds", section, defaults.max_delay_seconds, low=0),
        max_retry_after_seconds=_number(
            table, "max_retry_after_seconds", section, defaults.max_retry_after_seconds, low=0
        ),
        retries_per_model=_int(table, "retries_per_model", section, defaults.retries_per_model, low=0),
        min_attempt_seconds=_number(table, "min_attempt_seconds", section, defaults.min_attempt_seconds, low=0),
        never_retry=_categories(table, "never_retry", section, defaults.never_retry),
        honour_retry_after=_categories(table, "honour_retry_after", section, defaults.honour_retry_after),
        switch_model_on=_categories(table, "switch_model_on", section, defaults.switch_model_on),
    )


def _trends(table: Mapping[str, Any]) -> TrendConfig:
    section = "trends"
    channel = table.get("alert_channel_id")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int)):
        raise ConfigurationError(
            f"must be a Discord channel id (integer), got {channel!r}", key=_key(section, "alert_channel_id")
        )
    default = TrendConfig()
    return TrendConfig(
        window_seconds=_int(table, "window_seconds", section, default.window_seconds, low=1),
        alert_rate=_number(table, "alert_rate", section, default.alert_rate, low=0, high=1, low_inclusive=False),
        alert_min_calls=_int(table, "alert_min_calls", section, default.alert_min_calls, low=1),
        novelty_seconds=_number(table, "novelty_seconds", section, default.novelty_seconds, low=0),
        alert_channel_id=channel or None,
    )


def _chains(table: Mapping[str, Any], section: str) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for name, value in table.items():
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            raise ConfigurationError(f"must be a list of model names, got {value!r}", key=_key(section, name))
        chains[name] = tuple(value)
    return chains
