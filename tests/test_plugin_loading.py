"""Plugins are found by entry point, switched by flags, and isolated when broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intelbot import TurnContext
from intelbot.testing.kernels import KernelFactory

INTELBOT = str(Path(sys.executable).parent / "intelbot")


async def test_installed_plugin_is_discovered_and_its_sync_and_async_hooks_run(
    sample_plugin: Path, make_kernel: KernelFactory
) -> None:
    kernel = await make_kernel(plugins=["sample"])
    ctx = TurnContext()
    response = await kernel.ask("hello plugins", ctx)

    info = kernel.plugin_info("sample")
    assert info is not None and info.loaded
    assert info.distribution == "intelbot-sample" and info.version == "1.2.3"
    assert info.hooks == ["after_llm_call", "before_llm_call", "collect_stats"]
    from intelbot_sample.plugin import SampleNote

    assert ctx.state(SampleNote).text == "before (sync)"
    assert response.metadata["sample"] == "after (async)"
    assert (await kernel.stats())["sample"] == {"seen": 2}


async def test_plugin_with_flag_off_is_never_imported(sample_plugin: Path, make_kernel: KernelFactory) -> None:
    settings = {
        "plugins": {
            "sample": {"enabled": False},
            "sample_broken": {"enabled": False},
            "sample_misspelled": {"enabled": False},
        }
    }
    factory_kernel = await make_kernel(plugins=[], settings=settings)
    assert "intelbot_sample.plugin" not in sys.modules
    # the flags decide when no explicit selection is made
    from intelbot.kernel import Kernel
    from intelbot.settings import load_settings

    loaded = load_settings(Path(factory_kernel.settings.settings_dir), overrides=settings)
    kernel = await Kernel.start(loaded)
    try:
        info = kernel.plugin_info("sample")
        assert info is not None and not info.enabled and not info.loaded
        assert "intelbot_sample.plugin" not in sys.modules
        response = await kernel.ask("still answers", TurnContext())
        assert "still answers" in response.text
    finally:
        await kernel.stop()


async def test_environment_flag_matches_plugin_name_without_regard_to_case(
    sample_plugin: Path, make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intelbot.loading import flag_enabled
    from intelbot.settings import load_settings

    monkeypatch.setenv("INTELBOT_PLUGINS__SAMPLE__ENABLED", "false")
    settings = load_settings(make_kernel.root)
    assert flag_enabled(settings, "sample") is False
    monkeypatch.setenv("INTELBOT_PLUGINS__SAMPLE__ENABLED", "true")
    assert flag_enabled(load_settings(make_kernel.root), "Sample") is True


async def test_broken_and_misspelled_plugins_are_reported_and_the_bot_serves(
    sample_plugin: Path, make_kernel: KernelFactory
) -> None:
    kernel = await make_kernel(plugins=["sample", "sample_broken", "sample_misspelled"])
    broken = kernel.plugin_info("sample_broken")
    misspelled = kernel.plugin_info("sample_misspelled")
    assert broken is not None and not broken.loaded
    assert broken.error is not None and "broken on purpose" in broken.error
    assert misspelled is not None and not misspelled.loaded
    assert misspelled.error is not None and "before_llm_cal" in misspelled.error
    response = await kernel.ask("serving anyway", TurnContext())
    assert "serving anyway" in response.text
    assert any("sample_broken" in line and "NOT LOADED" in line for line in await kernel.health())


async def test_load_plugins_env_empty_starts_with_none(
    sample_plugin: Path, make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intelbot.kernel import Kernel
    from intelbot.settings import load_settings

    monkeypatch.setenv("INTELBOT_LOAD_PLUGINS", "")
    kernel = await Kernel.start(load_settings(make_kernel.root, overrides={"data_dir": str(make_kernel.root / "d")}))
    try:
        assert [info.name for info in kernel.plugins if info.loaded and not info.builtin] == []
        assert "intelbot_sample.plugin" not in sys.modules
    finally:
        await kernel.stop()


def test_plugins_command_lists_name_distribution_version_and_hooks(
    sample_plugin_path: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["PYTHONPATH"] = str(sample_plugin_path)
    cli_env["INTELBOT_LOAD_PLUGINS"] = "sample"
    result = subprocess.run([INTELBOT, "plugins", "--json"], env=cli_env, capture_output=True, text=True, check=True)
    listed = {item["name"]: item for item in json.loads(result.stdout)}
    assert listed["sample"]["distribution"] == "intelbot-sample"
    assert listed["sample"]["version"] == "1.2.3"
    assert listed["sample"]["enabled"] is True
    assert listed["sample"]["hooks"] == ["after_llm_call", "before_llm_call", "collect_stats"]
    assert listed["sample_broken"]["enabled"] is False


def test_plugins_disable_writes_the_local_override_that_dynaconf_loads(
    sample_plugin_path: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["PYTHONPATH"] = str(sample_plugin_path)
    (tmp_path / "settings.toml").write_text("[default.plugins.sample]\nenabled = true\nkept = 7\n")
    subprocess.run([INTELBOT, "plugins", "disable", "sample"], env=cli_env, capture_output=True, text=True, check=True)
    assert "enabled = false" in (tmp_path / "settings.local.toml").read_text()
    listed = subprocess.run([INTELBOT, "plugins", "--json"], env=cli_env, capture_output=True, text=True, check=True)
    sample = next(item for item in json.loads(listed.stdout) if item["name"] == "sample")
    assert sample["enabled"] is False
    subprocess.run([INTELBOT, "plugins", "enable", "SAMPLE"], env=cli_env, capture_output=True, text=True, check=True)
    listed = subprocess.run([INTELBOT, "plugins", "--json"], env=cli_env, capture_output=True, text=True, check=True)
    assert next(item for item in json.loads(listed.stdout) if item["name"] == "sample")["enabled"] is True
    assert "enabled" not in (tmp_path / "settings.local.toml").read_text()  # back to the committed default
    unknown = subprocess.run([INTELBOT, "plugins", "enable", "nope"], env=cli_env, capture_output=True, text=True)
    assert unknown.returncode != 0 and "unknown plugin 'nope'" in unknown.stderr
    near = subprocess.run([INTELBOT, "plugins", "enable", "sampel"], env=cli_env, capture_output=True, text=True)
    assert near.returncode != 0 and "did you mean 'sample'?" in near.stderr
    assert os.path.exists(tmp_path / "settings.local.toml")


def test_plugins_command_reports_invalid_settings_and_fails(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "settings.toml").write_text("[default.plugins.semantic_cahce]\nenabled = true\n")
    result = subprocess.run([INTELBOT, "plugins"], env=cli_env, capture_output=True, text=True)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "plugins.semantic_cahce" in result.stderr and "did you mean 'semantic_cache'?" in result.stderr
    assert "echo" not in result.stderr.split("installed:", 1)[1]  # built-in providers are not plugins
    assert "semantic_cache" in result.stdout  # the listing is still printed


def test_stats_command_prints_every_plugins_figures(
    sample_plugin_path: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli_env["PYTHONPATH"] = str(sample_plugin_path)
    cli_env["INTELBOT_LOAD_PLUGINS"] = "sample"
    result = subprocess.run([INTELBOT, "stats"], env=cli_env, capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout)
    assert figures["sample"] == {"seen": 0}
    assert figures["kernel"]["default_model"] == "echo" and figures["kernel"]["plugins_loaded"] == 1
