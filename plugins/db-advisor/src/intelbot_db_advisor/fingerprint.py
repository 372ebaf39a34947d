"""Statement fingerprints: the text of a statement with every literal and parameter list normalised.

``SELECT * FROM t WHERE a = 5 AND b IN (1, 2)`` and ``... a = ? AND b IN (?, ?, ?)`` have the
same fingerprint ``SELECT * FROM t WHERE a = ? AND b IN (?)``. Parsing is done with sqlglot;
a statement sqlglot cannot parse falls back to a token-level normaliser (quoted strings and
numbers become ``?``), so no literal ever survives into a fingerprint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from intelbot_db_advisor.sqlglot_log import quiet_sqlglot

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot (about 0.1 s of CPU to import) is imported by the first fingerprint, not with this module:
# statements are captured from the first turn on, but fingerprinted later, off the hot path.

KINDS = ("select", "insert", "update", "delete", "other")
_FALLBACK_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b|\$\d+|:\w+|%\(\w+\)s|\?")
_FALLBACK_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """``id`` (12 hex digits) identifies ``text``, the normalised statement; ``kind`` is its verb."""

    id: str
    text: str
    kind: str
    tables: tuple[str, ...]


def statement_kind(sql: str) -> str:
    """``select``/``insert``/``update``/``delete``/``other`` from the statement's first keyword (cheap)."""
    head = sql.lstrip(" \t\r\n(").split(None, 1)
    word = head[0].lower() if head else ""
    if word == "with":
        lowered = sql.lower()
        for verb in ("insert", "update", "delete"):
            if f" {verb} " in lowered or f"\n{verb} " in lowered:
                return verb
        return "select"
    return word if word in KINDS else "other"


def _normalise_node(node: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    if isinstance(node, exp.Literal | exp.Placeholder | exp.Parameter):
        return exp.Placeholder()
    if isinstance(node, exp.In) and all(
        isinstance(item, exp.Literal | exp.Placeholder | exp.Parameter) for item in node.expressions
    ):
        node.set("expressions", [exp.Placeholder()] if node.expressions else [])
    return node


@lru_cache(maxsize=4096)
def fingerprint(sql: str, dialect: str = "sqlite") -> Fingerprint:
    """The fingerprint of one statement (cached per distinct text)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    kind = statement_kind(sql)
    quiet_sqlglot()
    try:
        parsed = sqlglot.parse_one(sql, read=_read_dialect(dialect))
        if isinstance(parsed, exp.Command) or parsed.find(exp.Command) is not None:
            # sqlglot's fallback (a Command, or a Block of them) keeps the raw text, literals included
            raise ValueError("not parsed")
        # IN lists first (their items are still literals), then every remaining literal.
        normalised = parsed.transform(_normalise_node)
        text = normalised.sql(dialect=_read_dialect(dialect))
        tables = tuple(sorted({table.name for table in normalised.find_all(exp.Table) if table.name}))
    except (SqlglotError, ValueError, RecursionError):
        text = _FALLBACK_LIST.sub("(?)", _FALLBACK_LITERAL.sub("?", _SPACE.sub(" ", sql).strip()))
        tables = ()
    digest = hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    return Fingerprint(id=digest, text=text, kind=kind, tables=tables)


def _read_dialect(dialect: str) -> str:
    return "postgres" if dialect.startswith("postgres") else "sqlite"
