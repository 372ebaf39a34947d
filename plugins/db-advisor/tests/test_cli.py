"""``intelbot db advise | apply | report`` as an operator runs them (the installed command, real files)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import fill_postgres

ROOT = Path(__file__).resolve().parents[3]


def _env(settings_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTELBOT_")}
    env["INTELBOT_SETTINGS_DIR"] = str(settings_dir)
    env["INTELBOT_LOAD_PLUGINS"] = "db_advisor"
    (settings_dir / "settings.toml").write_text((ROOT / "settings.toml").read_text(), encoding="utf-8")
    return env


def _intelbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("intelbot")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def _indexes(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as connection:
        names = [
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ]
        result = {name: [c[2] for c in connection.execute(f"PRAGMA index_info('{name}')")] for name in names}
    connection.close()
    return result


def test_advise_names_the_bad_line_goes_on_and_apply_creates_exactly_that_index(
    bot_sqlite: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    statements = tmp_path / "workload.sql"
    statements.write_text(
        "SELECT * FROM memories WHERE guild_id = 3 AND user_id = 10;\n"
        "SELECT sum(cost) FROM ledger WHERE\n  guild_id = 7 AND AND day = '2026-01-03';\n"
        "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03';\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{bot_sqlite}"
    advised = _intelbot(env, "db", "advise", "--database-url", url, "--statements", str(statements), "--json")
    assert advised.returncode == 0, advised.stderr
    result = json.loads(advised.stdout)
    assert len(result["problems"]) == 1 and result["problems"][0].startswith("line 3: syntax error")
    assert "line 3: syntax error" in advised.stderr
    (suggestion,) = result["suggestions"]
    assert suggestion["table"] == "ledger" and set(suggestion["columns"]) == {"guild_id", "day"}
    assert suggestion["statements"] == [2] and suggestion["speedup"] >= 2
    assert suggestion["sql"].startswith("CREATE INDEX")
    before = _indexes(bot_sqlite)
    applied = _intelbot(env, "db", "apply", suggestion["id"], "--database-url", url)
    assert applied.returncode == 0, applied.stderr
    after = _indexes(bot_sqlite)
    added = {name: columns for name, columns in after.items() if name not in before}
    assert list(added.values()) == [suggestion["columns"]]
    assert {name: after[name] for name in before} == before
    unknown = _intelbot(env, "db", "apply", "0000000000", "--database-url", url)
    assert unknown.returncode == 1 and "no suggestion '0000000000'" in unknown.stderr


def test_report_on_a_fresh_database_is_readable(tmp_path: Path) -> None:
    env = _env(tmp_path)
    report = _intelbot(env, "db", "report")
    assert report.returncode == 0, report.stderr
    assert "captured:" in report.stdout and "health:" in report.stdout and "pool:" in report.stdout
    assert "Traceback" not in report.stderr
    as_json = json.loads(_intelbot(env, "db", "report", "--json").stdout)
    assert {"slow_statements", "suggestions", "health", "pool"} <= set(as_json)
    assert {finding["check"] for finding in as_json["health"]} >= {"analyze", "wal", "busy_timeout"}


async def test_apply_on_postgresql_creates_the_index_concurrently(postgres_url: str, tmp_path: Path) -> None:
    await fill_postgres(postgres_url)
    env = _env(tmp_path)
    statements = tmp_path / "workload.sql"
    statements.write_text("SELECT * FROM ledger WHERE user_id = 42 ORDER BY day LIMIT 5;\n", encoding="utf-8")
    url = postgres_url
    result = json.loads(
        _intelbot(env, "db", "advise", "--database-url", url, "--statements", str(statements), "--json").stdout
    )
    (suggestion,) = result["suggestions"]
    assert suggestion["sql"].startswith("CREATE INDEX CONCURRENTLY")
    applied = _intelbot(env, "db", "apply", suggestion["id"], "--database-url", url)
    assert applied.returncode == 0, applied.stderr
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await connection.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'ledger' ORDER BY indexname")
    finally:
        await connection.close()
    definitions = [row["indexdef"] for row in rows]
    assert len(definitions) == 2  # the primary key and the applied index
    assert any(f"({', '.join(suggestion['columns'])})" in d for d in definitions)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
