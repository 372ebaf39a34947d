"""Candidate indexes from a statement's WHERE, JOIN and ORDER BY columns (parsed with sqlglot).

For each table a statement reads, the columns are sorted by role: ``equality`` (``=``,
``IN``, ``IS NULL`` against a value), ``join`` (a column compared with another table's
column), ``range`` (``<``, ``>``, ``BETWEEN``, prefix ``LIKE``) and ``order`` (ORDER BY,
GROUP BY), each in the order the statement writes them.

One rule orders the columns of every candidate, on every dialect (:func:`lead_columns`):
the statement's equality columns come first, heaviest first, where a column's weight is
the share of the workload's time spent in statements that filter, join or sort on it
(:func:`column_weights`), so the index's leading column also serves the most time
elsewhere; columns of equal weight keep the order the statement writes them in; join
keys follow the equality columns (they narrow a table only when it is the inner side of
a join); then one range column or the ORDER BY columns. Candidates are the leading
prefixes of that order (a candidate led by a lighter column is the order the rule
rejected), single range and ORDER BY columns, and the prefixes followed by a range
column or the ORDER BY columns, at most :data:`MAX_COLUMNS` wide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from intelbot_db_advisor.sqlglot_log import quiet_sqlglot

MAX_COLUMNS = 3
_EQUALITY = (exp.EQ, exp.In, exp.Is)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.Like)


@dataclass
class ColumnUse:
    """The columns of one table a statement filters, joins or sorts on, in order of appearance."""

    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    join: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        """Every column the statement filters, joins or sorts on, each once."""
        return list(dict.fromkeys([*self.equality, *self.join, *self.range, *self.order]))

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
        for predicate in where.find_all(*_EQUALITY, *_RANGE, bfs=False):  # depth first: written order
            role = "equality" if isinstance(predicate, _EQUALITY) else "range"
            if isinstance(predicate, exp.Like) and not _is_prefix_pattern(predicate.expression):
                continue
            if isinstance(predicate, exp.EQ) and all(
                isinstance(s, exp.Column) for s in (predicate.this, predicate.expression)
            ):
                note("join", predicate.this)  # a join key: either side may be the inner table
                note("join", predicate.expression)
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


def column_weights(
    uses: Mapping[int, Mapping[str, ColumnUse]], shares: Mapping[int, float]
) -> dict[str, dict[str, float]]:
    """Per table and column, the summed ``shares`` (of the workload's time) of the statements using it.

    ``uses`` maps each analysed statement to its :func:`column_uses`; a statement uses a
    column when it filters, joins or sorts on it, so an index led by that column can serve it.
    """
    weights: dict[str, dict[str, float]] = {}
    for statement in sorted(uses):
        for table, use in uses[statement].items():
            for column in use.columns():
                table_weights = weights.setdefault(table, {})
                table_weights[column] = table_weights.get(column, 0.0) + shares.get(statement, 0.0)
    return weights


def lead_columns(use: ColumnUse, weights: Mapping[str, float] | None = None) -> list[str]:
    """The order of a statement's equality columns in an index: heaviest first, ties in written order.

    Equality columns (compared with a value) come before join keys; within each group the
    sort is stable on descending weight, so columns the workload cannot tell apart keep
    the order the statement writes them in. With no weights, the written order.
    """
    weight = weights or {}
    constants = sorted(use.equality, key=lambda column: -weight.get(column, 0.0))
    keys = sorted((c for c in use.join if c not in use.equality), key=lambda column: -weight.get(column, 0.0))
    return [*constants, *keys]


def candidate_columns(use: ColumnUse, weights: Mapping[str, float] | None = None) -> list[tuple[str, ...]]:
    """Column lists worth trying for one table, narrowest first, at most :data:`MAX_COLUMNS` wide.

    ``weights`` are the table's :func:`column_weights`; every multi-column candidate puts
    the equality columns in :func:`lead_columns` order, then one range column or the
    ORDER BY columns.
    """
    found: list[tuple[str, ...]] = []

    def offer(columns: Sequence[str]) -> None:
        key = tuple(dict.fromkeys(columns))[:MAX_COLUMNS]
        if key and key not in found:
            found.append(key)

    lead = lead_columns(use, weights)[:MAX_COLUMNS]
    prefixes = [lead[:width] for width in range(1, len(lead) + 1)]
    for column in [*lead[:1], *use.range, *use.order]:
        offer([column])
    for prefix in prefixes[1:]:
        offer(prefix)
    for column in use.range:
        for prefix in prefixes[: MAX_COLUMNS - 1]:
            offer([*prefix, column])
    if use.order:
        offer(use.order)
        for prefix in prefixes:
            offer([*prefix, *use.order])
    return sorted(found, key=len)


def workload_candidates(
    uses: Mapping[int, Mapping[str, ColumnUse]], shares: Mapping[int, float]
) -> list[tuple[str, tuple[str, ...]]]:
    """Every analysed statement's ``(table, columns)`` candidates, each once, in statement order.

    The columns of each are ordered by the whole workload's :func:`column_weights`: the one
    implementation of the ordering rule that the SQLite and PostgreSQL analyses share.
    """
    weights = column_weights(uses, shares)
    found: dict[tuple[str, tuple[str, ...]], None] = {}
    for statement in sorted(uses):
        for table, use in uses[statement].items():
            for columns in candidate_columns(use, weights.get(table, {})):
                found[(table, columns)] = None
    return list(found)


def parse(sql: str, dialect: str) -> exp.Expression:
    """One statement parsed with sqlglot (raises ``sqlglot.errors.ParseError``)."""
    quiet_sqlglot()
    parsed = sqlglot.parse_one(sql, read="postgres" if dialect.startswith("postgres") else "sqlite")
    if not isinstance(parsed, exp.Expression):
        raise ParseError("not a statement")
    return parsed
