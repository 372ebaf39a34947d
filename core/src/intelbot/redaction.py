"""Removing secrets from what the bot prints: effective settings, URLs, messages. The one scrubber."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "webhook",
        "authorization",
        "credential",
        "credentials",
        "dsn",
        "cookie",
        "apikey",
        "key",
    }
)
MASK = "***"
KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_\-*.]{8,}|\bBearer\s+[A-Za-z0-9_\-*.]{8,}")
"""Text shaped like an API key or a bearer token, wherever it appears."""
WEBHOOK_PATH = re.compile(r"(/webhooks/\d+/)[^/?#]+")
"""Discord (and Slack-style) webhook URLs carry their token as the path segment after the id."""


def is_secret_key(key: str) -> bool:
    """True for setting names that hold secrets, whatever their spelling.

    ``api_key``, ``apikey``, ``api-key``, ``secret_key``, ``aws_secret_access_key``,
    ``passwd``, ``token``, ``*_password``, ``webhook_url`` ...: a name is secret when one of
    its words (split at ``_``, ``-`` and ``.``) is a secret word, or when it ends in ``key``
    (``public_key`` too: masking a value that is not secret costs nothing, printing one that
    is costs a leak). ``max_tokens`` is not a secret: "tokens" is another word.
    """
    lowered = key.lower()
    words = set(re.split(r"[_\-.\s]+", lowered))
    return bool(words & SECRET_WORDS) or lowered.replace("_", "").replace("-", "").endswith("key")


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
    path = WEBHOOK_PATH.sub(rf"\g<1>{MASK}", parts.path)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(name, MASK if is_secret_key(name) else item) for name, item in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` (an error message, a log line) without any of ``secrets`` nor anything shaped like a key or token."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return KEY_SHAPED.sub("[redacted]", text)
