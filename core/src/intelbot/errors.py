"""The error taxonomy: every failure the bot can meet, as a category with a policy.

Plugins decide from ``error.category`` (and ``retryable`` / ``retry_after``), never
from message strings. Provider adapters map SDK exceptions and HTTP statuses to
these categories with :func:`category_for_status`.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    """What went wrong, independent of which provider or library said so."""

    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SERVER_ERROR = "server_error"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    CONTENT_FILTERED = "content_filtered"
    BUDGET_EXCEEDED = "budget_exceeded"
    CIRCUIT_OPEN = "circuit_open"
    PLUGIN_FAILURE = "plugin_failure"
    CONFIGURATION = "configuration"
    DATABASE = "database"

    @property
    def retryable(self) -> bool:
        """True when trying the same call again may succeed."""
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {
        ErrorCategory.RATE_LIMITED,
        ErrorCategory.OVERLOADED,
        ErrorCategory.TIMEOUT,
        ErrorCategory.CONNECTION,
        ErrorCategory.SERVER_ERROR,
    }
)


class IntelbotError(Exception):
    """Base of every error the kernel raises or passes to ``on_error``.

    ``message`` must never contain secrets; adapters build it from status codes
    and error types, not from request headers.
    """

    category: ErrorCategory = ErrorCategory.SERVER_ERROR

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        if category is not None:
            self.category = category
        self.message = message
        self.retry_after = retry_after
        self.provider = provider
        self.model = model
        self.status = status
        self.user_message: str | None = None

    @property
    def retryable(self) -> bool:
        return self.category.retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, category={self.category.value}, "
            f"provider={self.provider!r}, model={self.model!r}, status={self.status!r})"
        )


class ProviderError(IntelbotError):
    """A failed call to an LLM provider."""


class ConfigurationError(IntelbotError):
    """Settings are invalid. ``key`` and ``file`` say where."""

    category = ErrorCategory.CONFIGURATION

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None) -> None:
        where = ", ".join(part for part in (f"key {key}" if key else "", f"in {file}" if file else "") if part)
        super().__init__(f"{message} ({where})" if where else message)
        self.reason = message
        self.key = key
        self.file = file


class BudgetExceededError(IntelbotError):
    """A spending cap or rate limit refused the call before it was made."""

    category = ErrorCategory.BUDGET_EXCEEDED


class DatabaseError(IntelbotError):
    """The database refused or lost a statement."""

    category = ErrorCategory.DATABASE


def category_for_status(status: int, body_text: str = "") -> ErrorCategory:
    """Map an HTTP status (and, for 400, the provider's error type text) to a category."""
    lowered = body_text.lower()
    if status == 429:
        return ErrorCategory.RATE_LIMITED
    if status == 529:
        return ErrorCategory.OVERLOADED
    if status in (408, 504):
        return ErrorCategory.TIMEOUT
    if status == 401:
        return ErrorCategory.AUTHENTICATION
    if status == 403:
        return ErrorCategory.PERMISSION
    if status == 404:
        return ErrorCategory.NOT_FOUND
    if status in (400, 413, 422):
        if "context_length" in lowered or "context window" in lowered or "too long" in lowered or status == 413:
            return ErrorCategory.CONTEXT_LENGTH_EXCEEDED
        if "content_filter" in lowered or "content_policy" in lowered:
            return ErrorCategory.CONTENT_FILTERED
        return ErrorCategory.BAD_REQUEST
    if status == 503 and "overloaded" in lowered:
        return ErrorCategory.OVERLOADED
    if status >= 500:
        return ErrorCategory.SERVER_ERROR
    return ErrorCategory.BAD_REQUEST


class CallRejected(IntelbotError):
    """Raised on purpose by a ``before_llm_call`` implementation to refuse a call.

    Unlike any other exception from a plugin, the kernel does not isolate it: it
    goes to the caller as it is (a circuit open on every candidate, a budget hit).
    Set ``category`` to say why; ``user_message`` is shown to the user.
    """

    def __init__(
        self, message: str, *, category: ErrorCategory, user_message: str | None = None, **kwargs: object
    ) -> None:
        super().__init__(message, category=category, **kwargs)  # type: ignore[arg-type]
        self.user_message = user_message or message
