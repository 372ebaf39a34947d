"""Settings validation (errors name the key) and error pattern analysis (rates, alerts, trend)."""

from __future__ import annotations

import pytest

from intelbot.errors import ConfigurationError, ErrorCategory
from intelbot.settings import validated
from intelbot.testing.clock import ManualClock
from intelbot_circuit_breaker.settings import DEFAULT_FAILURE_CATEGORIES, CircuitBreakerSettings, TrendSettings
from intelbot_circuit_breaker.trends import ErrorTrends


def read_table(table: dict[str, object]) -> CircuitBreakerSettings:
    """The plugin's table validated as the kernel validates it at start-up."""
    return validated(CircuitBreakerSettings, table, "plugins.circuit_breaker")


def test_defaults_without_settings() -> None:
    config = read_table({})
    assert config.breaker.failure_categories == DEFAULT_FAILURE_CATEGORIES
    assert ErrorCategory.BAD_REQUEST not in config.breaker.failure_categories
    assert config.redis_url is None
    assert config.fallbacks == {}


def test_settings_are_read() -> None:
    config = read_table(
        {
            "enabled": True,
            "redis_url": "redis://127.0.0.1:6379/0",
            "breaker": {"window_type": "time", "window_size": 60, "failure_categories": ["server_error", "timeout"]},
            "retry": {"retries_per_model": 2, "never_retry": ["authentication"]},
            "trends": {"alert_channel_id": 1234, "alert_rate": 0.3},
            "fallbacks": {"gpt-4-1": ["claude-sonnet-4-5", "echo"]},
            "tier_fallbacks": {"small": ["gpt-4o-mini", "claude-haiku-4-5"]},
        }
    )
    assert config.breaker.window_type == "time"
    assert config.breaker.failure_categories == {ErrorCategory.SERVER_ERROR, ErrorCategory.TIMEOUT}
    assert config.retry.retries_per_model == 2
    assert config.retry.never_retry == {ErrorCategory.AUTHENTICATION}
    assert config.trends.alert_channel_id == 1234
    assert config.fallbacks["gpt-4-1"] == ("claude-sonnet-4-5", "echo")
    assert config.tier_fallbacks["small"] == ("gpt-4o-mini", "claude-haiku-4-5")


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"breaker": {"failure_rate_threshold": 50}}, "plugins.circuit_breaker.breaker.failure_rate_threshold"),
        ({"breaker": {"window_type": "sliding"}}, "plugins.circuit_breaker.breaker.window_type"),
        ({"breaker": {"minimum_calls": "5"}}, "plugins.circuit_breaker.breaker.minimum_calls"),
        ({"breaker": {"failure_categories": ["server_eror"]}}, "plugins.circuit_breaker.breaker.failure_categories"),
        ({"retry": {"base_delay_seconds": -1}}, "plugins.circuit_breaker.retry.base_delay_seconds"),
        ({"trends": {"alert_channel_id": "general"}}, "plugins.circuit_breaker.trends.alert_channel_id"),
        ({"fallbacks": {"gpt-4-1": "echo"}}, "plugins.circuit_breaker.fallbacks.gpt-4-1"),
        ({"breaker": 3}, "plugins.circuit_breaker.breaker"),
    ],
)
def test_bad_settings_name_the_key(settings: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        read_table(settings)
    assert caught.value.key == key
    assert key in str(caught.value)


TRENDS = TrendSettings(window_seconds=60, alert_rate=0.3, alert_min_calls=10, novelty_seconds=600)


def test_rate_alert_fires_once_per_crossing(clock: ManualClock) -> None:
    trends = ErrorTrends(TRENDS)
    alerts = []
    for _ in range(7):
        alerts += trends.record("openai", None, clock())
    for _ in range(3):
        alerts += trends.record("openai", ErrorCategory.SERVER_ERROR, clock())
    kinds = [(alert.kind, alert.category) for alert in alerts]
    assert kinds == [("new_category", ErrorCategory.SERVER_ERROR), ("rate", ErrorCategory.SERVER_ERROR)]
    assert alerts[-1].rate == pytest.approx(0.3)
    assert alerts[-1].calls == 10
    assert trends.record("openai", ErrorCategory.SERVER_ERROR, clock()) == []  # still over: no repeat
    for _ in range(20):
        trends.record("openai", None, clock())  # falls under the threshold: re-armed
    again = [trends.record("openai", ErrorCategory.SERVER_ERROR, clock()) for _ in range(12)]
    assert [alert.kind for batch in again for alert in batch] == ["rate"]


def test_rate_alert_needs_minimum_calls(clock: ManualClock) -> None:
    trends = ErrorTrends(TRENDS)
    alerts = [alert for _ in range(5) for alert in trends.record("anthropic", ErrorCategory.OVERLOADED, clock())]
    assert [alert.kind for alert in alerts] == ["new_category"]


def test_new_category_alert_only_when_not_seen_recently(clock: ManualClock) -> None:
    trends = ErrorTrends(TRENDS)
    assert [a.kind for a in trends.record("openai", ErrorCategory.TIMEOUT, clock())] == ["new_category"]
    clock.advance(300)
    assert trends.record("openai", ErrorCategory.TIMEOUT, clock()) == []
    clock.advance(601)
    assert [a.kind for a in trends.record("openai", ErrorCategory.TIMEOUT, clock())] == ["new_category"]
    assert [a.provider for a in trends.record("anthropic", ErrorCategory.TIMEOUT, clock())] == ["anthropic"]


def test_rates_roll_over_and_trend_compares_windows(clock: ManualClock) -> None:
    trends = ErrorTrends(TRENDS)
    for _ in range(10):
        trends.record("openai", None, clock())
    clock.advance(61)
    for index in range(10):
        trends.record("openai", ErrorCategory.SERVER_ERROR if index < 4 else None, clock())
    current = trends.rates("openai", clock())
    previous = trends.rates("openai", clock(), windows_back=1)
    assert (current.calls, current.rates) == (10, {ErrorCategory.SERVER_ERROR: 0.4})
    assert (previous.calls, previous.error_rate) == (10, 0.0)
    line = trends.trend_line("openai", clock())
    assert line == "openai: 10 calls, errors 40% (server_error 40%), previous window 0% (rising)"
    clock.advance(200)
    assert trends.rates("openai", clock()).calls == 0
