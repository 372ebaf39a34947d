"""Removing secrets from what the bot prints: effective settings, URLs, messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_SUFFIXES = ("api_key", "token", "secret", "password", "private_key", "webhook_url", "authorization", "dsn")
MASK = "***"


def is_secret_key(key: str) -> bool:
    """True for setting names that hold secrets (``api_key``, ``token``, ``*_password``, ...)."""
    lowered = key.lower()
    return lowered == "key" or lowered.endswith(SECRET_SUFFIXES)


def redacted(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with every secret-looking entry replaced by ``***``.

    Mappings are walked; values under secret-looking keys are masked; URLs lose the
    password in their authority and every secret-looking query parameter.
    """
    if isinstance(value, Mapping):
        return {str(k): redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item, key) for item in value]
    if value and is_secret_key(key):
        return MASK
    if isinstance(value, str) and "://" in value:
        return redacted_url(value)
    return value


def redacted_url(url: str) -> str:
    """``url`` without credentials: the user-info password and secret query parameters are masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, MASK if is_secret_key(name) else item) for name, item in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
