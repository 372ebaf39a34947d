"""Turning what a provider SDK raised into a :class:`ProviderError` with the right category.

Shared by the OpenAI and Anthropic adapters. Messages are built from the status, the
provider's error type and code, and its error message with every configured secret and
anything shaped like an API key removed; the SDK exception is never chained, because its
request object carries the credentials.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from intelbot.errors import ErrorCategory, ProviderError, category_for_status
from intelbot.redaction import redact

T = TypeVar("T")
_MAX_MESSAGE = 300

#: provider error types (Anthropic ``error.type``, OpenAI ``error.type`` / ``error.code``)
#: that decide the category whatever the HTTP status
_CATEGORY_BY_ERROR_TYPE = {
    "overloaded_error": ErrorCategory.OVERLOADED,
    "rate_limit_error": ErrorCategory.RATE_LIMITED,
    "timeout_error": ErrorCategory.TIMEOUT,
    "billing_error": ErrorCategory.PERMISSION,
    "insufficient_quota": ErrorCategory.PERMISSION,
    "permission_error": ErrorCategory.PERMISSION,
    "authentication_error": ErrorCategory.AUTHENTICATION,
    "invalid_api_key": ErrorCategory.AUTHENTICATION,
    "context_length_exceeded": ErrorCategory.CONTEXT_LENGTH_EXCEEDED,
    "content_filter": ErrorCategory.CONTENT_FILTERED,
    "content_policy_violation": ErrorCategory.CONTENT_FILTERED,
}


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); None when absent.

    A date in the past gives 0. Header names are matched without regard to case
    when ``headers`` is an httpx ``Headers``; a plain dict must use lower-case names.
    """
    if headers is None:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


def error_fields(body: object) -> tuple[str | None, str | None, str | None]:
    """``(type, code, message)`` of a provider's JSON error body, whole or already unwrapped.

    OpenAI: ``{"error": {"type", "code", "message"}}``; Anthropic: ``{"type": "error",
    "error": {"type", "message", "details": {"error_code"}}}``. SDK versions differ in whether
    they keep the outer object, so both shapes are read. Missing fields are None.
    """
    if not isinstance(body, Mapping):
        return None, None, None
    inner = body.get("error")
    error = inner if isinstance(inner, Mapping) else body
    details = error.get("details")
    code = error.get("code")
    if code is None and isinstance(details, Mapping):
        code = details.get("error_code")

    def text(value: object) -> str | None:
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None

    return text(error.get("type")), text(code), text(error.get("message"))


def classify(status: int, error_type: str | None, error_code: str | None, message: str | None) -> ErrorCategory:
    """The category of an HTTP error answer: the provider's error type or code first, then the status."""
    for name in (error_code, error_type):
        if name and name in _CATEGORY_BY_ERROR_TYPE:
            return _CATEGORY_BY_ERROR_TYPE[name]
    text = " ".join(part for part in (error_type, error_code, message) if part)
    return category_for_status(status, text)


def status_error(
    *,
    provider: str,
    model: str,
    status: int,
    body: object,
    headers: Mapping[str, str] | None,
    request_id: str | None,
    secrets: Iterable[str | None],
) -> ProviderError:
    """A ProviderError for an HTTP error answer (``body`` as the SDK decoded it), ``retry_after`` from its headers."""
    error_type, error_code, api_message = error_fields(body)
    category = classify(status, error_type, error_code, api_message)
    label = error_type or "error"
    if error_code and error_code != error_type:
        label += f"/{error_code}"
    detail = redact(api_message or "", secrets)[:_MAX_MESSAGE]
    message = f"{provider} answered HTTP {status} {label}"
    if detail:
        message += f": {detail}"
    if request_id:
        message += f" (request id {request_id})"
    return ProviderError(
        message,
        category=category,
        retry_after=retry_after_seconds(headers),
        provider=provider,
        model=model,
        status=status,
    )


def timeout_error(*, provider: str, model: str, seconds: float | None) -> ProviderError:
    within = f" within {seconds:g} s" if seconds is not None else ""
    return ProviderError(
        f"{provider} did not answer{within}", category=ErrorCategory.TIMEOUT, provider=provider, model=model
    )


def connection_error(*, provider: str, model: str, reason: str) -> ProviderError:
    return ProviderError(
        f"could not reach {provider}: {reason}", category=ErrorCategory.CONNECTION, provider=provider, model=model
    )


def malformed_response(*, provider: str, model: str, reason: str, status: int | None = None) -> ProviderError:
    """The provider answered, but not with a response the adapter can read (a provider fault)."""
    return ProviderError(
        f"{provider} sent a malformed response: {reason}",
        category=ErrorCategory.SERVER_ERROR,
        provider=provider,
        model=model,
        status=status,
    )


@dataclass(slots=True)
class CallTrace:
    """What the HTTP client saw during one provider call, across the SDK's own retries.

    Filled by :func:`trace_request` and :func:`trace_response` (httpx event hooks on the
    SDK's client) while :func:`tracing` is active. It lets a call that runs out of time
    while the SDK sleeps before a retry report the answer it was waiting out (a 429 with
    ``Retry-After``) instead of a bare timeout.
    """

    requests: int = 0
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    waiting_after_failure: bool = False


_TRACE: ContextVar[CallTrace | None] = ContextVar("intelbot_provider_call_trace", default=None)


@contextmanager
def tracing() -> Iterator[CallTrace]:
    """Trace the HTTP traffic of the provider call made inside the block (same task)."""
    trace = CallTrace()
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


async def trace_request(request: Any) -> None:
    """httpx ``request`` event hook: count the attempt."""
    trace = _TRACE.get()
    if trace is not None:
        trace.requests += 1
        trace.waiting_after_failure = False


async def trace_response(response: Any) -> None:
    """httpx ``response`` event hook: remember error answers (status and headers, never the body)."""
    trace = _TRACE.get()
    if trace is not None and response.status_code >= 400:
        headers = {str(name).lower(): str(value) for name, value in response.headers.items()}
        trace.failures.append((response.status_code, headers))
        trace.waiting_after_failure = True


def out_of_time(
    *, provider: str, model: str, seconds: float | None, trace: CallTrace, secrets: Iterable[str | None]
) -> ProviderError:
    """The error for a call cut off by its deadline: the answer being waited out, else a timeout."""
    if not trace.waiting_after_failure or not trace.failures:
        return timeout_error(provider=provider, model=model, seconds=seconds)
    status, headers = trace.failures[-1]
    error = status_error(
        provider=provider,
        model=model,
        status=status,
        body=None,
        headers=headers,
        request_id=headers.get("x-request-id") or headers.get("request-id"),
        secrets=secrets,
    )
    within = f" within {seconds:g} s" if seconds is not None else ""
    error.message = f"{error.message}; no retry could be made{within}"
    error.args = (error.message,)
    return error


@dataclass(frozen=True, slots=True)
class SDKExceptions:
    """The exception classes of one official provider SDK.

    The OpenAI and Anthropic SDKs are generated from the same template, so their
    hierarchies line up one to one; :func:`call_sdk` translates either through this.
    """

    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]
    validation: type[Exception]
    base: type[Exception]

    @classmethod
    def of(cls, sdk: Any, base: type[Exception]) -> SDKExceptions:
        """The classes of SDK module ``sdk`` (``openai`` or ``anthropic``), whose root exception is ``base``."""
        return cls(
            status=sdk.APIStatusError,
            timeout=sdk.APITimeoutError,
            connection=sdk.APIConnectionError,
            validation=sdk.APIResponseValidationError,
            base=base,
        )


async def call_sdk(
    sdk: SDKExceptions,
    call: Callable[[], Awaitable[T]],
    *,
    provider: str,
    model: str,
    seconds: float | None,
    secrets: Iterable[str | None],
) -> T:
    """Await ``call()`` within ``seconds``; whatever the SDK raises becomes a categorised ProviderError."""
    secrets = tuple(secrets)
    try:
        with tracing() as trace:
            async with asyncio.timeout(seconds):
                return await call()
    except sdk.timeout:  # before ``connection``: the SDK's timeout error is a connection error
        raise timeout_error(provider=provider, model=model, seconds=seconds) from None
    except sdk.status as error:
        raise status_error(
            provider=provider,
            model=model,
            status=error.status_code,  # type: ignore[attr-defined]
            body=error.body,  # type: ignore[attr-defined]
            headers=error.response.headers,  # type: ignore[attr-defined]
            request_id=getattr(error, "request_id", None),
            secrets=secrets,
        ) from None
    except TimeoutError:
        raise out_of_time(provider=provider, model=model, seconds=seconds, trace=trace, secrets=secrets) from None
    except sdk.connection as error:
        reason = redact(str(getattr(error, "message", "") or type(error).__name__), secrets)
        raise connection_error(provider=provider, model=model, reason=reason) from None
    except sdk.validation as error:
        raise malformed_response(
            provider=provider,
            model=model,
            reason="schema validation failed",
            status=getattr(error, "status_code", None),
        ) from None
    except json.JSONDecodeError:
        raise malformed_response(provider=provider, model=model, reason="the body is not JSON") from None
    except sdk.base as error:
        raise ProviderError(
            f"{provider} client failed: {type(error).__name__}",
            category=ErrorCategory.SERVER_ERROR,
            provider=provider,
            model=model,
        ) from None
