"""Fingerprints normalise literals and parameter lists; statement files keep lines and survive syntax errors."""

from __future__ import annotations

import logging

import pytest

from intelbot_db_advisor.fingerprint import fingerprint
from intelbot_db_advisor.workload import split_statements, statements_from_file


def test_in_lists_of_any_length_and_literals_share_one_fingerprint() -> None:
    two = fingerprint("SELECT * FROM ledger WHERE guild_id IN (?, ?) AND day = ?")
    three = fingerprint("SELECT * FROM ledger WHERE guild_id IN (?, ?, ?) AND day = ?")
    literal = fingerprint("SELECT * FROM ledger WHERE guild_id IN (1, 2, 3, 4) AND day = '2026-01-02'")
    assert two.id == three.id == literal.id
    assert "2026" not in literal.text and "IN (?)" in literal.text
    assert literal.kind == "select" and literal.tables == ("ledger",)
    assert fingerprint("SELECT * FROM ledger WHERE user_id = 1").id != two.id


def test_postgres_parameters_and_unparsable_statements_are_normalised() -> None:
    dollar = fingerprint("UPDATE memories SET body = $1 WHERE id IN ($2, $3)", "postgresql")
    assert dollar.kind == "update" and "$" not in dollar.text
    odd = fingerprint("VACUUM INTO 'secret-file-name.db' 42", "sqlite")
    assert "secret" not in odd.text and "42" not in odd.text


def test_a_statement_sqlglot_cannot_parse_is_not_quoted_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """sqlglot warns with the whole statement, literals included, when it falls back; none of that reaches the log."""
    trigger = (
        "CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN "
        "INSERT INTO memories_fts(rowid, text) VALUES (new.id, 'a-private-note'); END"
    )
    with caplog.at_level(logging.DEBUG):
        odd = fingerprint(trigger, "sqlite")
    assert "a-private-note" not in odd.text
    assert not [record for record in caplog.records if "a-private-note" in record.getMessage()]
    assert not [record for record in caplog.records if record.name.startswith("sqlglot")]


def test_statement_file_names_the_line_of_a_syntax_error_and_keeps_the_rest() -> None:
    source = (
        "-- the ledger by guild\n"
        "SELECT * FROM ledger WHERE guild_id = 1;\n"
        "SELECT FROM WHERE;\n"
        "SELECT ';' FROM memories\n"
        "  WHERE user_id = 2;\n"
        "/* trailing comment */"
    )
    assert [line for line, _ in split_statements(source)] == [2, 3, 4]
    statements, problems = statements_from_file(source, "sqlite")
    assert [s.index for s in statements] == [0, 2]
    assert [s.line for s in statements] == [2, 4]
    assert len(problems) == 1
    assert problems[0].index == 1 and problems[0].line == 3
    assert str(problems[0]).startswith("line 3: syntax error")
