"""The retry policy: categories, Retry-After, backoff with full jitter, fallbacks, deadlines."""

from __future__ import annotations

import random

import pytest

from intelbot.contract import GiveUp, Retry
from intelbot.errors import ErrorCategory
from intelbot_circuit_breaker.recovery import FailureFacts, decide, full_jitter
from intelbot_circuit_breaker.settings import RetrySettings

POLICY = RetrySettings(base_delay_seconds=0.5, max_delay_seconds=4.0, max_retry_after_seconds=10.0, retries_per_model=1)


def run(facts: FailureFacts, seed: int = 1) -> Retry | GiveUp:
    return decide(facts, POLICY, random.Random(seed))


def test_rate_limited_with_retry_after_waits_exactly_that_long_on_the_same_model() -> None:
    decision = run(FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=3.0, fallback="other"))
    assert decision == Retry(3.0, model=None, reason=decision.reason)


def test_overloaded_honours_retry_after_too() -> None:
    decision = run(FailureFacts(ErrorCategory.OVERLOADED, retry_after=2.0))
    assert isinstance(decision, Retry)
    assert decision.delay == 2.0


def test_retry_after_longer_than_allowed_moves_to_the_fallback() -> None:
    assert run(FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=60.0, fallback="other")) == Retry(
        0.0, model="other", reason="rate_limited: moving to fallback other"
    )
    assert isinstance(run(FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=60.0)), GiveUp)


@pytest.mark.parametrize(
    "category",
    [
        ErrorCategory.BAD_REQUEST,
        ErrorCategory.CONTENT_FILTERED,
        ErrorCategory.NOT_FOUND,
        ErrorCategory.BUDGET_EXCEEDED,
    ],
)
def test_caller_errors_are_never_retried(category: ErrorCategory) -> None:
    decision = run(FailureFacts(category, fallback="other", larger_fallback="big"))
    assert isinstance(decision, GiveUp)
    assert category.value in decision.reason


@pytest.mark.parametrize("category", [ErrorCategory.AUTHENTICATION, ErrorCategory.PERMISSION])
def test_credential_and_quota_errors_go_to_the_fallback_never_the_same_model(category: ErrorCategory) -> None:
    decision = run(FailureFacts(category, fallback="other", larger_fallback="big"))
    assert isinstance(decision, Retry)
    assert (decision.model, decision.delay) == ("other", 0.0)
    alone = run(FailureFacts(category))  # no fallback: nothing else to try
    assert isinstance(alone, GiveUp) and category.value in alone.reason


def test_context_length_moves_to_a_model_with_a_larger_window() -> None:
    decision = run(FailureFacts(ErrorCategory.CONTEXT_LENGTH_EXCEEDED, fallback="small", larger_fallback="big"))
    assert isinstance(decision, Retry)
    assert (decision.model, decision.delay) == ("big", 0.0)
    assert isinstance(run(FailureFacts(ErrorCategory.CONTEXT_LENGTH_EXCEEDED, fallback="small")), GiveUp)


def test_server_error_retries_the_same_model_with_jitter_then_falls_back() -> None:
    first = run(FailureFacts(ErrorCategory.SERVER_ERROR, attempts_on_model=1, fallback="other"))
    assert isinstance(first, Retry)
    assert first.model is None
    assert 0.0 <= first.delay <= 0.5
    second = run(FailureFacts(ErrorCategory.SERVER_ERROR, attempts_on_model=2, fallback="other"))
    assert second == Retry(0.0, model="other", reason=second.reason)
    assert isinstance(run(FailureFacts(ErrorCategory.SERVER_ERROR, attempts_on_model=2)), GiveUp)


def test_timeout_switches_model_at_once_but_retries_when_there_is_no_fallback() -> None:
    assert run(FailureFacts(ErrorCategory.TIMEOUT, fallback="other")) == Retry(
        0.0, model="other", reason="timeout: moving to fallback other"
    )
    alone = run(FailureFacts(ErrorCategory.TIMEOUT))
    assert isinstance(alone, Retry)
    assert alone.model is None


def test_open_breaker_moves_to_the_fallback_or_gives_up() -> None:
    assert run(FailureFacts(ErrorCategory.CONNECTION, breaker_open=True, fallback="other")) == Retry(
        0.0, model="other", reason="connection: moving to fallback other"
    )
    decision = run(FailureFacts(ErrorCategory.CONNECTION, breaker_open=True))
    assert isinstance(decision, GiveUp)
    assert "breaker open" in decision.reason


def test_a_retry_that_cannot_finish_before_the_deadline_is_not_started() -> None:
    tight = FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=2.0, remaining=2.4)  # 2.0 + 0.5 > 2.4
    decision = run(tight)
    assert isinstance(decision, GiveUp)
    assert "deadline" in decision.reason
    with_fallback = run(FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=2.0, remaining=2.4, fallback="other"))
    assert with_fallback == Retry(0.0, model="other", reason=with_fallback.reason)
    assert isinstance(run(FailureFacts(ErrorCategory.SERVER_ERROR, remaining=0.3, fallback="other")), GiveUp)
    roomy = run(FailureFacts(ErrorCategory.RATE_LIMITED, retry_after=2.0, remaining=2.6))
    assert roomy == Retry(2.0, model=None, reason=roomy.reason)


def test_full_jitter_is_uniform_under_an_exponential_ceiling() -> None:
    rng = random.Random(7)
    for retry_number, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        draws = [full_jitter(retry_number, POLICY, rng) for _ in range(2000)]
        assert all(0.0 <= draw <= ceiling for draw in draws)
        assert max(draws) > 0.9 * ceiling  # spread over the whole range, not a fixed delay
        assert min(draws) < 0.1 * ceiling
        assert abs(sum(draws) / len(draws) - ceiling / 2) < 0.05 * ceiling
