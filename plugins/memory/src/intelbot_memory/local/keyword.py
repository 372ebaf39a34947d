"""Keyword search over memory rows: SQLite FTS5 (BM25) or PostgreSQL full text (``ts_rank_cd``).

The scope, owner, kind and expiry conditions are part of the same SQL statement as
the text match, so ``limit`` rows of the asked scope come back whenever that many
match; other scopes' rows are never candidates.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlalchemy import TextClause, bindparam, text

MAX_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """The distinct lower-cased words of ``query`` (at most :data:`MAX_TERMS`), in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def keyword_statement(
    dialect: str,
    *,
    scope: str,
    query: str,
    limit: int,
    now: float,
    user_id: int | None = None,
    kinds: Collection[str] | None = None,
) -> tuple[TextClause, dict[str, object]] | None:
    """The statement (and its parameters) whose rows are (row id, score > 0) of the best keyword matches in
    ``scope``, best first, on ``dialect`` (``sqlite`` or ``postgresql``); any term may match. None: no terms."""
    terms = query_terms(query)
    if not terms or limit <= 0:
        return None
    conditions = ["e.scope = :scope", "(e.expires_at IS NULL OR e.expires_at > :now)"]
    params: dict[str, object] = {"scope": scope, "now": now, "limit": limit}
    if user_id is not None:
        conditions.append("e.user_id = :user_id")
        params["user_id"] = user_id
    if kinds is not None:
        conditions.append("e.kind IN :kinds")
        params["kinds"] = sorted(kinds)
    where = " AND ".join(conditions)
    if dialect == "sqlite":
        params["match"] = " OR ".join('"' + term.replace('"', "") + '"' for term in terms)
        sql = (
            "SELECT e.id, -bm25(memory_fts) AS score FROM memory_fts "
            "JOIN memory_entries e ON e.id = memory_fts.rowid "
            f"WHERE memory_fts MATCH :match AND {where} ORDER BY bm25(memory_fts) LIMIT :limit"
        )
    else:
        params["match"] = " | ".join(terms)
        sql = (
            "SELECT e.id, ts_rank_cd(e.text_search, q) AS score "
            "FROM memory_entries e, to_tsquery('english', :match) q "
            f"WHERE e.text_search @@ q AND {where} ORDER BY score DESC, e.id LIMIT :limit"
        )
    statement = text(sql)
    if kinds is not None:
        statement = statement.bindparams(bindparam("kinds", expanding=True))
    return statement, params
