"""Documentation and tests cannot fall behind the contract (the guard datasette uses)."""

from __future__ import annotations

import re
from pathlib import Path

from intelbot import hookspecs
from intelbot.loading import new_plugin_manager
from intelbot.metrics import KernelMetrics

ROOT = Path(__file__).parents[1]


def hook_names() -> list[str]:
    manager = new_plugin_manager()
    return sorted(name for name in vars(manager.hook) if not name.startswith("_"))


def test_every_hook_has_a_section_in_docs_hooks_md() -> None:
    documented = set(re.findall(r"^## `?(\w+)", (ROOT / "docs" / "hooks.md").read_text(), flags=re.MULTILINE))
    missing = [name for name in hook_names() if name not in documented]
    assert not missing, f"hooks without a section in docs/hooks.md: {missing}"
    unknown = documented - set(hook_names()) - {"Order", "Objects", "Alerts"}
    assert not unknown, f"docs/hooks.md documents hooks that do not exist: {sorted(unknown)}"


def test_every_hook_has_a_test_of_its_own() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    missing = [name for name in hook_names() if f"def test_hook_{name}" not in sources]
    assert not missing, f"hooks without a test_hook_<name>: {missing}"


def test_every_hook_states_its_contract_in_a_docstring() -> None:
    for name in hook_names():
        spec = getattr(hookspecs, name)
        assert spec.__doc__ and spec.__doc__.strip().startswith("Called"), name


def test_every_kernel_metric_is_documented() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    names = {metric.name for metric in KernelMetrics().registry.collect()}
    missing = sorted(name for name in names if f"`{name}" not in text)
    assert not missing, f"metrics missing from docs/metrics.md: {missing}"


def test_every_settings_section_is_documented() -> None:
    import tomllib

    settings = tomllib.loads((ROOT / "settings.toml").read_text())["default"]
    text = (ROOT / "docs" / "configuration.md").read_text()
    for key, value in settings.items():
        if isinstance(value, dict) and key in ("models", "plugins"):
            continue
        if isinstance(value, dict):
            for sub in value:
                assert f"`{key}.{sub}`" in text, f"{key}.{sub} is not documented in docs/configuration.md"
        else:
            assert f"`{key}`" in text, f"{key} is not documented in docs/configuration.md"


def test_the_call_order_is_stated_once_and_quoted_in_docs_hooks_md() -> None:
    from intelbot import hookspecs

    paragraphs = (hookspecs.__doc__ or "").split("\n\n")
    (order,) = [paragraph for paragraph in paragraphs if paragraph.startswith("Order within a hook")]
    quoted = " ".join((ROOT / "docs" / "hooks.md").read_text().replace("`", "").split())
    assert " ".join(order.replace("``", "").split()) in quoted


def test_every_field_of_every_settings_model_is_documented() -> None:
    """docs/configuration.md documents each kernel, LLM, provider and Discord field; each plugin's README its own."""
    from intelbot.embedding.factory import EmbeddingSettings
    from intelbot.frontends.discord.config import DiscordSettings
    from intelbot.kernel_settings import KernelSettings, LLMSettings
    from intelbot.loading import discover
    from intelbot.plugin import is_plugin_class
    from intelbot.providers.echo import EchoSettings
    from intelbot.providers.sdk_settings import ProviderSettings
    from intelbot.spending import SpendingSettings

    text = (ROOT / "docs" / "configuration.md").read_text()
    providers = text.split("## `[default.providers.<name>]`", 1)[1].split("\n## ", 1)[0]
    expected = [f"`{name}`" for name in KernelSettings.model_fields if name != "llm"]
    expected += [f"`llm.{name}`" for name in LLMSettings.model_fields]
    expected += [f"`discord.{name}`" for name in DiscordSettings.model_fields]
    expected += [f"`spending.{name}`" for name in SpendingSettings.model_fields]
    expected += [f"`embedding.{name}`" for name in EmbeddingSettings.model_fields]
    missing = [name for name in expected if name not in text]
    missing += [
        f"providers: `{name}`"
        for name in ProviderSettings.model_fields
        if name != "name" and f"`{name}`" not in providers
    ]
    missing += [f"providers.echo: `{name}`" for name in EchoSettings.model_fields if f"`{name}`" not in providers]
    for entry in discover():
        plugin = entry.load()
        if not is_plugin_class(plugin) or entry.dist is None or not str(entry.dist.name).startswith("intelbot-"):
            continue
        readme = ROOT / "plugins" / str(entry.dist.name).removeprefix("intelbot-") / "README.md"
        if not readme.exists():
            continue  # a third-party plugin installed here: not ours to document
        documented = readme.read_text()
        missing += [
            f"{readme.relative_to(ROOT)}: `{name}`"
            for name in plugin.settings_model.model_fields
            if name != "enabled" and f"`{name}`" not in documented and f"{name} " not in documented
        ]
    assert not missing, f"settings fields without documentation: {missing}"
