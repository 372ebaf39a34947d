"""The local override file, ``settings.local.toml``, written by ``intelbot plugins enable|disable``.

Dynaconf loads it after ``settings.toml``. Edits go through tomlkit, which keeps the
file's comments, quoting and layout: a user's own lines survive every toggle.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from intelbot.errors import ConfigurationError
from intelbot.settings import LOCAL_OVERRIDE_FILE


def committed_flag(root: Path, plugin: str) -> bool:
    """The plugin's flag as ``root/settings.toml`` sets it (true when it says nothing), without local overrides."""
    path = root / "settings.toml"
    if not path.exists():
        return True
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return True
    table = document.get("default", {}).get("plugins", {}).get(plugin, {})
    return bool(table.get("enabled", True)) if isinstance(table, dict) else True


def write_plugin_flag(root: Path, plugin: str, enabled: bool) -> tuple[Path, bool]:
    """Make ``[default.plugins.<plugin>] enabled`` be ``enabled`` through ``root/settings.local.toml``.

    When ``settings.toml`` already says ``enabled``, the local override is removed
    instead of repeating the default (and empty tables with it). Returns the file and
    whether an override was written. Raises ConfigurationError naming the file when it
    exists but is not valid TOML (it is then left untouched).
    """
    path = root / LOCAL_OVERRIDE_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as error:
        raise ConfigurationError(f"not valid TOML: {error}", file=str(path)) from None
    if enabled == committed_flag(root, plugin):
        table = document.get("default", {}).get("plugins", {}).get(plugin)
        if table is not None and "enabled" in table:
            del table["enabled"]
            if not table:
                del document["default"]["plugins"][plugin]
            if not document["default"]["plugins"]:
                del document["default"]["plugins"]
            if not document["default"]:
                del document["default"]
            path.write_text(tomlkit.dumps(document), encoding="utf-8")
        return path, False
    default = document.setdefault("default", tomlkit.table())
    plugins = default.setdefault("plugins", tomlkit.table())
    table = plugins.setdefault(plugin, tomlkit.table())
    table["enabled"] = enabled
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return path, True
