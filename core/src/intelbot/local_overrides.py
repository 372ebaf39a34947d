"""The local override file, ``settings.local.toml``, written by ``intelbot plugins enable|disable``.

Dynaconf loads it after ``settings.toml``. Edits go through tomlkit, which keeps the
file's comments, quoting and layout: a user's own lines survive every toggle.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from intelbot.errors import ConfigurationError
from intelbot.settings import LOCAL_OVERRIDE_FILE


def write_plugin_flag(root: Path, plugin: str, enabled: bool) -> Path:
    """Set ``[default.plugins.<plugin>] enabled`` in ``root/settings.local.toml``; returns the file.

    Raises ConfigurationError naming the file when it exists but is not valid TOML
    (it is then left untouched).
    """
    path = root / LOCAL_OVERRIDE_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as error:
        raise ConfigurationError(f"not valid TOML: {error}", file=str(path)) from None
    default = document.setdefault("default", tomlkit.table())
    plugins = default.setdefault("plugins", tomlkit.table())
    table = plugins.setdefault(plugin, tomlkit.table())
    table["enabled"] = enabled
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return path
