"""Keyword search over memory rows: SQLite FTS5 (BM25) or PostgreSQL full text (``ts_rank_cd``).

The scope, owner, kind and expiry conditions are part of the same SQL statement as
the text match, so ``limit`` rows of the asked scope come back whenever that many
match; other scopes' rows are never candidates.

**Bounded work.** Ranking by BM25 scores every row that matches any term, so a query
with common words ("what", "best", "way") scores most of a large table: about a second
at a million memories (``benchmarks/memory.py``). A search therefore first counts, for
each term, its matching rows up to ``match_budget + 1`` (:func:`frequency_statement`:
cheap, the count stops there), and ranks only by the rarest terms whose counts add up to
at most ``match_budget`` (:func:`rare_terms`). Words more common than that add nothing
the vector search does not (their IDF is low, and the vector side already matches the
topic); rare words, the ones keyword search is for (names, codes), are kept. The counts
are over the whole keyword index, every scope included: a conservative bound (a word
common elsewhere but rare in this scope is left out), never a leak (the ranking
statement filters by scope).

**Common words are remembered** (:class:`CommonTerms`): a word once counted past the
budget is not counted again for a while. Adding rows never makes a common word rare, so
skipping it changes nothing; deleting rows may, so the backend forgets what it remembered
on each of its deletes, and every word is counted again after ``ttl`` seconds (another
process on the same database may have deleted rows). Common words were most of the
counting: their doclists are the long ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Iterable

from sqlalchemy import TextClause, bindparam, text

MAX_TERMS = 32
MATCH_BUDGET = 250
"""Default of ``match_budget``: at most this many matching rows are ranked per search."""
_WORD = re.compile(r"\w+", re.UNICODE)


class CommonTerms:
    """Terms last counted at more than ``budget`` matching rows, remembered for ``ttl`` seconds (at most
    ``capacity`` of them: when full, all are forgotten)."""

    def __init__(
        self,
        budget: int,
        *,
        ttl: float = 300.0,
        capacity: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget = budget
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self.counted_at: dict[str, float] = {}

    def known(self, term: str) -> bool:
        """Whether ``term`` was counted past the budget less than ``ttl`` seconds ago."""
        counted_at = self.counted_at.get(term)
        if counted_at is None:
            return False
        if self.clock() - counted_at >= self.ttl:
            del self.counted_at[term]
            return False
        return True

    def note(self, counts: Iterable[tuple[str, int]]) -> None:
        """Remember the terms of ``counts`` (term, matching rows counted up to ``budget + 1``) past the budget."""
        now = self.clock()
        for term, matches in counts:
            if matches > self.budget:
                if len(self.counted_at) >= self.capacity:
                    self.counted_at.clear()
                self.counted_at[term] = now

    def clear(self) -> None:
        self.counted_at.clear()


def query_terms(query: str) -> list[str]:
    """The distinct lower-cased words of ``query`` (at most :data:`MAX_TERMS`), in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def frequency_statement(dialect: str, terms: list[str], cap: int) -> tuple[TextClause, dict[str, object]]:
    """The statement whose rows are (term, matching rows counted up to ``cap``), one per term, on ``dialect``."""
    params: dict[str, object] = {"cap": cap}
    parts = []
    for number, term in enumerate(terms):
        params[f"term{number}"] = term
        if dialect == "sqlite":
            params[f"match{number}"] = '"' + term.replace('"', "") + '"'
            source = f"SELECT 1 FROM memory_fts WHERE memory_fts MATCH :match{number} LIMIT :cap"
        else:
            params[f"match{number}"] = term
            source = (
                f"SELECT 1 FROM memory_entries WHERE text_search @@ to_tsquery('english', :match{number}) LIMIT :cap"
            )
        parts.append(
            f"SELECT CAST(:term{number} AS TEXT) AS term, (SELECT count(*) FROM ({source}) AS found{number}) AS matches"
        )
    return text(" UNION ALL ".join(parts)), params


def rare_terms(counts: list[tuple[str, int]], budget: int) -> list[str]:
    """The rarest terms of ``counts`` (term, matching rows) whose counts add up to at most ``budget``.

    Rarest first, ties in query order; a term matching nothing is dropped (it cannot
    score), and so is every term once the next rarest would pass the budget.
    """
    kept: list[str] = []
    total = 0
    for term, matches in sorted(counts, key=lambda pair: pair[1]):
        if matches == 0:
            continue
        if total + matches > budget:
            break
        kept.append(term)
        total += matches
    return kept


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
    ``scope``, best first, on ``dialect`` (``sqlite`` or ``postgresql``); any term may match. None: no terms.

    ``query`` is taken as it is: narrow it to :func:`rare_terms` first to bound the work.
    """
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
