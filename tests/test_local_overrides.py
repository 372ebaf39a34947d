"""`intelbot plugins enable|disable` edits settings.local.toml without damaging what the user wrote."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from intelbot.errors import ConfigurationError
from intelbot.local_overrides import write_plugin_flag
from intelbot.redaction import redacted

USER_FILE = '''# my local tweaks
[default.models."gpt-4.1-mini"]
provider = "openai"  # keep this comment
tier = "small"

[default.llm]
system_prompt = """Line one.
Line two."""
'''


def test_toggle_keeps_comments_quoted_keys_and_multiline_strings(tmp_path: Path) -> None:
    (tmp_path / "settings.local.toml").write_text(USER_FILE)
    write_plugin_flag(tmp_path, "circuit_breaker", False)
    write_plugin_flag(tmp_path, "circuit_breaker", True)
    write_plugin_flag(tmp_path, "semantic_cache", False)
    text = (tmp_path / "settings.local.toml").read_text()
    assert text.startswith(USER_FILE)  # the user's lines are untouched
    document = tomllib.loads(text)["default"]
    assert document["models"]["gpt-4.1-mini"]["provider"] == "openai"
    assert document["llm"]["system_prompt"] == "Line one.\nLine two."
    # enabling what settings.toml already enables removes the override instead of repeating the default
    assert document["plugins"] == {"semantic_cache": {"enabled": False}}


def test_an_invalid_override_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    broken = "[default.plugins\nenabled = true\n"
    (tmp_path / "settings.local.toml").write_text(broken)
    with pytest.raises(ConfigurationError) as caught:
        write_plugin_flag(tmp_path, "semantic_cache", False)
    assert str(tmp_path / "settings.local.toml") in str(caught.value)
    assert (tmp_path / "settings.local.toml").read_text() == broken


def test_redaction_masks_secret_keys_url_passwords_and_query_secrets() -> None:
    shown = redacted(
        {
            "providers": {"openai": {"api_key": "sk-live-1", "base_url": "http://127.0.0.1:8000/v1"}},
            "database_url": "postgresql+asyncpg://bot:pw-1@db:5432/test?password=pw-2&sslmode=require",
            "headers": {"Authorization": "Bearer abc"},
            "discord": {"token": "tok", "max_question_chars": 1000},
        }
    )
    flat = str(shown)
    for secret in ("sk-live-1", "pw-1", "pw-2", "Bearer abc", "'tok'"):
        assert secret not in flat
    assert shown["providers"]["openai"]["base_url"] == "http://127.0.0.1:8000/v1"
    assert "sslmode=require" in shown["database_url"] and "bot:***@db:5432" in shown["database_url"]
    assert shown["discord"]["max_question_chars"] == 1000


def test_enable_after_disable_leaves_no_override_behind(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("[default.plugins.semantic_cache]\nenabled = true\n")
    path, written = write_plugin_flag(tmp_path, "semantic_cache", False)
    assert written and tomllib.loads(path.read_text())["default"]["plugins"]["semantic_cache"]["enabled"] is False
    path, written = write_plugin_flag(tmp_path, "semantic_cache", True)
    assert not written
    assert tomllib.loads(path.read_text()) == {}  # nothing left: the committed default applies


def test_disabling_what_settings_toml_disables_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("[default.plugins.metrics]\nenabled = false\n")
    path, written = write_plugin_flag(tmp_path, "metrics", False)
    assert not written and not path.exists()
    path, written = write_plugin_flag(tmp_path, "metrics", True)
    assert written and "enabled = true" in path.read_text()
