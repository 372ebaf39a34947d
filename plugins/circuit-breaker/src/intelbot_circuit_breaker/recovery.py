"""The recovery decision after a failed attempt, from the error taxonomy alone.

:func:`decide` is pure: it gets the facts of the failure (category, Retry-After,
attempts already spent on the model, whether its breaker is open, time left, the
next usable fallback) and returns ``Retry`` or ``GiveUp``. The kernel then sleeps
the delay and makes the next attempt, so this module never sleeps or loops itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from intelbot.contract import GiveUp, RecoveryDecision, Retry
from intelbot.errors import ErrorCategory
from intelbot_circuit_breaker.settings import RetrySettings


@dataclass(frozen=True, slots=True)
class FailureFacts:
    """What :func:`decide` needs to know about one failed attempt.

    ``attempts_on_model`` counts the attempts made on the failed model in this turn,
    this one included. ``fallback`` is the next model of the chain whose breaker
    admits calls; ``larger_fallback`` the next one with a larger context window.
    ``remaining`` is seconds to the turn's deadline (None: no deadline).
    """

    category: ErrorCategory
    retry_after: float | None = None
    attempts_on_model: int = 1
    breaker_open: bool = False
    remaining: float | None = None
    fallback: str | None = None
    larger_fallback: str | None = None


def full_jitter(retry_number: int, config: RetrySettings, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, base * 2**retry_number)]."""
    ceiling = min(config.max_delay_seconds, config.base_delay_seconds * 2 ** max(0, retry_number))
    return rng.uniform(0.0, ceiling)


def decide(facts: FailureFacts, config: RetrySettings, rng: random.Random) -> RecoveryDecision:
    """Retry on the same model, move to a fallback, or give up.

    - context length exceeded: the next model with a larger context window, else give up;
    - ``fallback_only_on`` categories (auth, quota): the fallback at once, never the same model;
    - ``never_retry`` categories and anything not retryable: give up;
    - an open breaker, a ``switch_model_on`` category, spent ``retries_per_model`` or a
      Retry-After over ``max_retry_after_seconds``: the fallback at once when there is one;
    - otherwise the same model after Retry-After (when honoured) or a full-jitter backoff;
    - an attempt that cannot start ``min_attempt_seconds`` before the deadline is not made.
    """
    category = facts.category

    def fits(delay: float) -> bool:
        return facts.remaining is None or delay + config.min_attempt_seconds <= facts.remaining

    if category is ErrorCategory.CONTEXT_LENGTH_EXCEEDED:
        if facts.larger_fallback is not None and fits(0.0):
            return Retry(0.0, model=facts.larger_fallback, reason="context length exceeded: model with a larger window")
        return GiveUp(reason="context length exceeded and no model with a larger context window is available")
    if category in config.fallback_only_on:
        if facts.fallback is not None and fits(0.0):
            return Retry(
                0.0, model=facts.fallback, reason=f"{category.value}: never retried here, moving to {facts.fallback}"
            )
        return GiveUp(reason=f"{category.value}: never retried on this provider and no fallback available")
    if category in config.never_retry or not category.retryable:
        return GiveUp(reason=f"{category.value} is never retried")

    honoured = category in config.honour_retry_after and facts.retry_after is not None
    delay = (
        facts.retry_after
        if honoured and facts.retry_after is not None
        else full_jitter(facts.attempts_on_model - 1, config, rng)
    )
    wait_too_long = honoured and delay > config.max_retry_after_seconds
    spent = facts.attempts_on_model > config.retries_per_model
    move_on = facts.breaker_open or category in config.switch_model_on or spent or wait_too_long

    if move_on and facts.fallback is not None and fits(0.0):
        return Retry(0.0, model=facts.fallback, reason=f"{category.value}: moving to fallback {facts.fallback}")
    if facts.breaker_open:
        return GiveUp(reason=f"{category.value}: breaker open and no fallback available")
    if spent:
        return GiveUp(reason=f"{category.value}: {config.retries_per_model} retries spent and no fallback available")
    if wait_too_long:
        return GiveUp(reason=f"{category.value}: Retry-After {delay:g}s is over {config.max_retry_after_seconds:g}s")
    if not fits(delay):
        if facts.fallback is not None and fits(0.0):
            return Retry(
                0.0, model=facts.fallback, reason=f"{category.value}: no time to wait, moving to {facts.fallback}"
            )
        return GiveUp(reason=f"{category.value}: a retry after {delay:.2f}s cannot finish before the deadline")
    return Retry(delay, reason=f"{category.value}: retry after {delay:.2f}s")
