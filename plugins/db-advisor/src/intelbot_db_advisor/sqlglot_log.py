"""Keep sqlglot's "unsupported syntax" warning out of the bot's log.

When sqlglot cannot parse a statement (SQLite triggers, FTS5 virtual tables, ...) it
logs a warning quoting the whole statement, literals included, then falls back to a
``Command``. The advisor handles that fallback itself (:mod:`.fingerprint`), so the
warning is only noise on every first start, and it would put user text from
literals into the log, which the advisor otherwise never records.
"""

from __future__ import annotations

import logging

_MARK = "contains unsupported syntax"


class UnsupportedSyntaxFilter(logging.Filter):
    """Drops sqlglot's unsupported-syntax warning; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _MARK not in str(record.msg)


def quiet_sqlglot() -> None:
    """Install the filter on the ``sqlglot`` logger, once (idempotent)."""
    logger = logging.getLogger("sqlglot")
    if not any(isinstance(existing, UnsupportedSyntaxFilter) for existing in logger.filters):
        logger.addFilter(UnsupportedSyntaxFilter())
