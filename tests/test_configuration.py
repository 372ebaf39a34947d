"""Bad configuration gives a clear message naming the key and the file, and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

INTELBOT = str(Path(sys.executable).parent / "intelbot")
REPOSITORY_SETTINGS = (Path(__file__).parents[1] / "settings.toml").read_text()


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([INTELBOT, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120)


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ('[default.llm]\nmax_attempts = "three"\n', "llm.max_attempts", "positive integer"),
        ('[default.llm]\ndefault_model = "gpt-9"\n', "llm.default_model", "unknown model 'gpt-9'"),
        ('[default.models.mystery]\nprovider = "nowhere"\n', "models.mystery.provider", "unknown provider 'nowhere'"),
        ("[default.plugins.no_such_plugin]\nenabled = true\n", "plugins.no_such_plugin", "unknown plugin"),
        ("[default.providers.openai]\nenabled = true\n", "providers.openai.api_key", "no api_key"),
        ('[default.models.echo]\nprovider = "echo"\ninput_per_mtok = -1\n', "models.echo.input_per_mtok", ">= 0"),
        ('[default.discord]\nmode = "carrier-pigeon"\n', "discord.mode", "gateway, interactions"),
    ],
)
def test_config_check_names_key_and_file(
    settings: str, key: str, words: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(settings)
    result = run(["config", "check"], cli_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stderr and words in result.stderr
    assert str(tmp_path / "settings.toml") in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_toml_names_the_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("[default.llm\nmax_attempts = 3\n")
    for command in (["config", "check"], ["ask", "hello"]):
        result = run(command, cli_env)
        assert result.returncode == 2
        assert str(tmp_path / "settings.toml") in result.stderr and "not valid TOML" in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_value_from_the_environment_names_the_variable(cli_env: dict[str, str], tmp_path: Path) -> None:
    cli_env["INTELBOT_LLM__MAX_ATTEMPTS"] = "0"
    result = run(["config", "check"], cli_env)
    assert result.returncode == 2
    assert "llm.max_attempts" in result.stderr and "environment variable INTELBOT_LLM__MAX_ATTEMPTS" in result.stderr


def test_run_refuses_bad_configuration_without_a_traceback(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text('[default.llm]\ndefault_model = "gpt-9"\n')
    result = run(["run"], cli_env, stdin="hello\n")
    assert result.returncode == 2
    assert "llm.default_model" in result.stderr and str(tmp_path / "settings.toml") in result.stderr
    assert "Traceback" not in result.stderr


def test_effective_configuration_is_printed_with_secrets_redacted(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    (tmp_path / ".secrets.toml").write_text('[default.providers.anthropic]\napi_key = "sk-ant-very-secret-value"\n')
    cli_env["INTELBOT_DISCORD__TOKEN"] = "discord-token-secret-value"
    cli_env["INTELBOT_DATABASE_URL"] = "postgresql+asyncpg://bot:hunter2-password@127.0.0.1:5432/test"
    result = run(["config", "check"], cli_env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for secret in ("sk-ant-very-secret-value", "discord-token-secret-value", "hunter2-password"):
        assert secret not in output
    assert '"api_key": "***"' in result.stdout and "configuration is valid" in result.stdout


def test_environments_layer_on_default(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(
        REPOSITORY_SETTINGS + '\n[production.llm]\nsystem_prompt = "production prompt"\n'
    )
    cli_env["INTELBOT_ENV"] = "production"
    result = run(["config", "check", "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    assert '"system_prompt": "production prompt"' in result.stdout
    assert '"max_attempts": 4' in result.stdout  # still inherited from [default]


def test_run_with_no_key_answers_with_echo_and_says_why(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        cli_env.pop(variable, None)
    result = run(["run"], cli_env, stdin="hi there\nsecond question ✨\n")
    assert result.returncode == 0, result.stderr
    assert "Echo: hi there" in result.stdout and "Echo: second question ✨" in result.stdout
    assert "no credentials for provider 'anthropic'" in result.stderr
    assert "starting the console: no Discord token configured" in result.stderr
    assert "echo · echo" in result.stdout  # the footer: model and who served it


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("INTELBOT_PROVIDERS__OPENAI__MAX_RETRIES", '"two"', "providers.openai.max_retries"),
        ("INTELBOT_PROVIDERS__OPENAI__BASE_URL", "ftp://example", "providers.openai.base_url"),
        ("INTELBOT_PROVIDERS__ECHO__LATENCY_MS", '"abc"', "providers.echo.latency_ms"),
        ("INTELBOT_LLM__TIMEOUT_SECONDS", '"fast"', "llm.timeout_seconds"),
        ("INTELBOT_DATABASE_URL", "notaurl", "database_url"),
        ("INTELBOT_DATABASE_URL", "postgresql://postgres@127.0.0.1/test", "database_url"),
        ("INTELBOT_DISCORD__PORT", '"abc"', "discord.port"),
        ("INTELBOT_DISCORD__RATE_LIMIT_REQUESTS", "-3", "discord.rate_limit_requests"),
        ("INTELBOT_EMBEDDING__BACKEND", "bogus", "embedding.backend"),
        ("INTELBOT_GUILD_SWITCH_REFRESH_SECONDS", "-1", "guild_switch_refresh_seconds"),
    ],
)
def test_bad_values_stop_check_and_run_naming_the_key(
    variable: str, value: str, key: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    cli_env["INTELBOT_PROVIDERS__OPENAI__API_KEY"] = "sk-test-never-printed-0123456789"
    cli_env[variable] = value
    for command in (["config", "check"], ["ask", "hi"]):
        result = run(command, cli_env)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert key in result.stderr and f"environment variable {variable}" in result.stderr
        assert "Traceback" not in result.stderr
        assert "sk-test-never-printed" not in result.stdout + result.stderr


def test_unwritable_data_dir_and_unreachable_database_are_messages_not_tracebacks(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cli_env["INTELBOT_DATA_DIR"] = str(blocker / "data")
    result = run(["ask", "hi"], cli_env)
    assert result.returncode == 2 and "data_dir" in result.stderr and "Traceback" not in result.stderr
    del cli_env["INTELBOT_DATA_DIR"]
    cli_env["INTELBOT_DATABASE_URL"] = "postgresql+asyncpg://nobody:secret-pw@127.0.0.1:1/none"
    result = run(["ask", "hi"], cli_env)
    assert result.returncode == 1 and "error (database)" in result.stderr
    assert "Traceback" not in result.stderr and "secret-pw" not in result.stderr


def test_a_bad_circuit_breaker_setting_stops_check_and_run(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    cli_env["INTELBOT_PLUGINS__CIRCUIT_BREAKER__BREAKER__MINIMUM_CALLS"] = '"5"'
    for command in (["config", "check"], ["ask", "hi"]):
        result = run(command, cli_env)
        assert result.returncode == 2, (command, result.stderr)
        assert "plugins.circuit_breaker.breaker.minimum_calls" in result.stderr
        assert "INTELBOT_PLUGINS__CIRCUIT_BREAKER__BREAKER__MINIMUM_CALLS" in result.stderr


def test_a_bad_semantic_cache_setting_stops_check_and_run(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    cli_env["INTELBOT_PLUGINS__SEMANTIC_CACHE__INDEX"] = "quantum"
    for command in (["config", "check"], ["ask", "hi"]):
        result = run(command, cli_env)
        assert result.returncode == 2, (command, result.stderr)
        assert "plugins.semantic_cache.index" in result.stderr
        assert "INTELBOT_PLUGINS__SEMANTIC_CACHE__INDEX" in result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("guild_switch_refresh_seconds", -2),
        ("llm.max_tokens", 0),
        ("providers.openai.timeout", -1),
        ("providers.anthropic.max_retries", "many"),
        ("providers.echo.latency_ms", -5),
        ("discord.port", 70000),
        ("spending.daily_user_cap_usd", -1),
        ("embedding.backend", "crystal-ball"),
        ("plugins.semantic_cache.candidates", 0),
        ("plugins.semantic_cache.learn_from_feedback", "yes"),
        ("plugins.semantic_cache.reask_window_seconds", -1),
        ("plugins.semantic_cache.near_exact_similarity", 1.5),
        ("plugins.circuit_breaker.retry.retries_per_model", -1),
    ],
)
def test_each_table_reports_a_bad_value_with_its_key_and_file(
    key: str, value: object, cli_env: dict[str, str], tmp_path: Path
) -> None:
    import tomlkit

    document = tomlkit.parse(REPOSITORY_SETTINGS)
    table = document["default"]
    *path, name = key.split(".")
    for part in path:
        table = table.setdefault(part, tomlkit.table())
    table[name] = value
    settings = tmp_path / "settings.toml"
    settings.write_text(tomlkit.dumps(document))
    result = run(["config", "check"], cli_env)
    assert result.returncode == 2, result.stdout + result.stderr
    problem = next(row for row in result.stderr.splitlines() if row.startswith(f"error: {key}:"))
    assert f"(set in {settings})" in problem
    assert "Traceback" not in result.stderr


def test_config_check_prints_one_readable_line_per_setting_and_still_redacts(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "settings.toml").write_text(REPOSITORY_SETTINGS)
    cli_env["INTELBOT_PROVIDERS__ANTHROPIC__API_KEY"] = "sk-ant-multiline-secret-0123"
    result = run(["config", "check"], cli_env)
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 200  # no 1,500-character table lines
    assert '  "circuit_breaker": {' in result.stdout  # tables are indented, one key a line
    assert "sk-ant-multiline-secret" not in result.stdout + result.stderr
