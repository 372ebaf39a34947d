"""Candidate indexes from a statement's WHERE, JOIN and ORDER BY columns (parsed with sqlglot).

For each table a statement reads, the columns are sorted by role: ``equality`` (``=``,
``IN``, ``IS NULL``, join keys), ``range`` (``<``, ``>``, ``BETWEEN``, prefix ``LIKE``) and
``order`` (ORDER BY, GROUP BY). Candidates are single columns, then pairs and triples
in the order an index serves them: equality columns, then one range column or the
order columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import permutations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

MAX_COLUMNS = 3
_EQUALITY = (exp.EQ, exp.In, exp.Is)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like)


@dataclass
class ColumnUse:
    """The columns of one table a statement filters, joins or sorts on, in order of appearance."""

    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def add(self, role: str, column: str) -> None:
        bucket: list[str] = getattr(self, role)
        if column not in bucket:
            bucket.append(column)


def column_uses(parsed: exp.Expression, schema: Mapping[str, Sequence[str]]) -> dict[str, ColumnUse]:
    """Per real table name, the columns ``parsed`` filters, joins or orders by.

    ``schema`` maps table names to their columns; it resolves unqualified columns when
    a statement reads several tables, and drops names that are not real columns.
    """
    aliases: dict[str, str] = {}
    for table in parsed.find_all(exp.Table):
        if table.name and table.name in schema:
            aliases[table.alias_or_name] = table.name
            aliases[table.name] = table.name
    uses: dict[str, ColumnUse] = {}

    def resolve(column: exp.Column) -> tuple[str, str] | None:
        qualifier = column.table
        if qualifier:
            table = aliases.get(qualifier)
            return (table, column.name) if table and column.name in schema[table] else None
        owners = [name for name in set(aliases.values()) if column.name in schema[name]]
        return (owners[0], column.name) if len(owners) == 1 else None

    def note(role: str, node: exp.Expression | None) -> None:
        if isinstance(node, exp.Column):
            found = resolve(node)
            if found is not None:
                uses.setdefault(found[0], ColumnUse()).add(role, found[1])

    for where in [*parsed.find_all(exp.Where), *(join.args.get("on") for join in parsed.find_all(exp.Join))]:
        if where is None:
            continue
        for predicate in where.find_all(*_EQUALITY, *_RANGE):
            role = "equality" if isinstance(predicate, _EQUALITY) else "range"
            if isinstance(predicate, exp.Like) and not _is_prefix_pattern(predicate.expression):
                continue
            if isinstance(predicate, exp.EQ) and all(
                isinstance(s, exp.Column) for s in (predicate.this, predicate.expression)
            ):
                note("equality", predicate.this)  # a join key: either side may be the inner table
                note("equality", predicate.expression)
                continue
            note(role, predicate.this)
            if isinstance(predicate, exp.EQ | exp.GT | exp.GTE | exp.LT | exp.LTE):
                note(role, predicate.expression)
    for ordering in [*parsed.find_all(exp.Order), *parsed.find_all(exp.Group)]:
        for item in ordering.expressions:
            note("order", item.this if isinstance(item, exp.Ordered) else item)
    return uses


def _is_prefix_pattern(pattern: exp.Expression | None) -> bool:
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return not pattern.this.startswith(("%", "_"))
    return isinstance(pattern, exp.Placeholder | exp.Parameter)


def candidate_columns(use: ColumnUse) -> list[tuple[str, ...]]:
    """Column lists worth trying for one table, single columns first, at most :data:`MAX_COLUMNS` wide."""
    found: list[tuple[str, ...]] = []

    def offer(columns: Sequence[str]) -> None:
        key = tuple(dict.fromkeys(columns))[:MAX_COLUMNS]
        if key and key not in found:
            found.append(key)

    for column in [*use.equality, *use.range, *use.order]:
        offer([column])
    for pair in permutations(use.equality, 2):
        offer(pair)
    equality = use.equality[: MAX_COLUMNS - 1]
    for column in use.range:
        offer([*equality, column])
        for single in use.equality:
            offer([single, column])
    if use.order:
        offer([*use.equality, *use.order])
        offer([*equality, *use.order])
        for single in use.equality:
            offer([single, *use.order])
    if len(use.equality) > 2:
        offer(use.equality)
    return found


def parse(sql: str, dialect: str) -> exp.Expression:
    """One statement parsed with sqlglot (raises ``sqlglot.errors.ParseError``)."""
    parsed = sqlglot.parse_one(sql, read="postgres" if dialect.startswith("postgres") else "sqlite")
    if not isinstance(parsed, exp.Expression):
        raise ParseError("not a statement")
    return parsed
