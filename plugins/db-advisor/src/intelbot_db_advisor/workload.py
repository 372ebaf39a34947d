"""The statements an analysis weighs: captured ones (with their figures) or a file's (``;``-separated).

A statement file is split on ``;`` outside quotes and comments; each statement keeps the
line it starts on, and one that sqlglot cannot parse becomes a :class:`StatementProblem`
naming its line while the rest go on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlglot.errors import ParseError, SqlglotError

from intelbot_db_advisor.candidates import parse
from intelbot_db_advisor.capture import StatementFigures
from intelbot_db_advisor.fingerprint import fingerprint


@dataclass(frozen=True, slots=True)
class WorkloadStatement:
    """One statement to analyse: executable ``sql`` with a sample of its ``parameters``, and its weight.

    ``total_seconds`` is the captured time (None for a file's statements, which the
    analysis times itself); ``line`` is where a file's statement starts.
    ``parameter_samples`` are further captured parameter sets for the same text (the
    first is ``parameters``); :meth:`samples` is what a timed trial runs it with.
    """

    index: int
    sql: str
    parameters: Any
    fingerprint: str
    text: str
    kind: str
    calls: int = 1
    total_seconds: float | None = None
    line: int | None = None
    parameter_samples: tuple[Any, ...] = ()

    def samples(self) -> tuple[Any, ...]:
        """The parameter sets to time the statement with: the captured samples, else ``(parameters,)``."""
        return self.parameter_samples or (self.parameters,)


@dataclass(frozen=True, slots=True)
class StatementProblem:
    """A statement that could not be analysed: where it is and why (never its literals)."""

    index: int
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"statement {self.index}"
        return f"{where}: {self.message}"


def split_statements(text: str) -> list[tuple[int, str]]:
    """``(start line, statement)`` for each non-empty ``;``-separated statement of ``text``."""
    pieces: list[tuple[int, str]] = []
    start, line, index, quote = 0, 1, 0, ""
    start_line: int | None = None
    length = len(text)
    while index < length:
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif text.startswith("--", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            skipped = text[index : length if end < 0 else end + 2]
            line += skipped.count("\n")
            index = length if end < 0 else end + 2
            continue
        elif char == ";":
            if start_line is not None:
                pieces.append((start_line, text[start:index].strip()))
            start, start_line = index + 1, None
        if char == "\n":
            line += 1
        elif start_line is None and not char.isspace() and char != ";":
            start_line = line
        index += 1
    if start_line is not None:
        pieces.append((start_line, text[start:].strip()))
    return pieces


def statements_from_file(text: str, dialect: str) -> tuple[list[WorkloadStatement], list[StatementProblem]]:
    """The file's statements numbered from 0 in file order, and the ones sqlglot rejected."""
    statements: list[WorkloadStatement] = []
    problems: list[StatementProblem] = []
    for index, (line, sql) in enumerate(split_statements(text)):
        try:
            parse(sql, dialect)
        except ParseError as error:
            detail = error.errors[0] if error.errors else {}
            where = line + int(detail.get("line", 1) or 1) - 1
            description = str(detail.get("description", "cannot parse")).split(" <Token")[0].removesuffix(" but got")
            near = f" near {detail['highlight']!r}" if detail.get("highlight") else ""
            problems.append(StatementProblem(index, where, f"syntax error: {description}{near}"))
            continue
        except SqlglotError as error:
            problems.append(StatementProblem(index, line, f"cannot parse: {type(error).__name__}"))
            continue
        print_ = fingerprint(sql, dialect)
        statements.append(WorkloadStatement(index, sql, None, print_.id, print_.text, print_.kind, line=line))
    return statements, problems


def statements_from_capture(figures: Iterable[StatementFigures]) -> list[WorkloadStatement]:
    """Captured fingerprints as a workload, heaviest (total time) first."""
    ordered = sorted(figures, key=lambda item: item.total_seconds, reverse=True)
    return [
        WorkloadStatement(
            index,
            item.sample_sql,
            item.sample_parameters,
            item.fingerprint,
            item.text,
            item.kind,
            calls=item.calls,
            total_seconds=item.total_seconds,
            parameter_samples=item.parameter_samples,
        )
        for index, item in enumerate(ordered)
    ]
