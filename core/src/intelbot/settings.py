"""Loading settings with Dynaconf, and finding where a setting came from.

Files, in load order (later wins), all in the settings directory
(``INTELBOT_SETTINGS_DIR``, else the current directory):

- ``settings.toml``: the committed defaults and feature flags;
- ``.secrets.toml``: keys and tokens, never committed;
- ``settings.local.toml``: local overrides, written by ``intelbot plugins enable|disable``
  (Dynaconf loads ``<name>.local.toml`` after each file on its own);
- environment variables ``INTELBOT_<KEY>``, nested with ``__``
  (``INTELBOT_PLUGINS__SEMANTIC_CACHE__ENABLED=false``).

Each file has ``[default]``, ``[development]`` and ``[production]`` sections;
``INTELBOT_ENV`` picks the one layered on top of ``[default]``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dynaconf import Dynaconf, LazySettings

if TYPE_CHECKING:
    from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound="BaseModel")

ENV_PREFIX = "INTELBOT"
SETTINGS_FILES = ("settings.toml", ".secrets.toml")
LOCAL_OVERRIDE_FILE = "settings.local.toml"


def settings_dir() -> Path:
    """Where the settings files live: ``INTELBOT_SETTINGS_DIR`` or the current directory."""
    return Path(os.environ.get("INTELBOT_SETTINGS_DIR") or Path.cwd())


def load_settings(
    root: Path | None = None,
    *,
    environment: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Dynaconf:
    """Load settings from ``root`` (default :func:`settings_dir`), then merge ``overrides`` on top.

    Raises :class:`intelbot.errors.ConfigurationError` naming the file when a file is not valid TOML.
    """
    from intelbot.errors import ConfigurationError

    base = (root or settings_dir()).resolve()
    for name in (*SETTINGS_FILES, LOCAL_OVERRIDE_FILE):
        path = base / name
        if path.exists():
            try:
                tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
                raise ConfigurationError(f"not valid TOML: {error}", file=str(path)) from None
    kwargs: dict[str, Any] = {}
    if environment is not None:
        kwargs["env"] = environment
    settings = Dynaconf(
        envvar_prefix=ENV_PREFIX,
        settings_files=[str(base / name) for name in SETTINGS_FILES],
        environments=True,
        env_switcher=f"{ENV_PREFIX}_ENV",
        root_path=str(base),
        merge_enabled=True,
        **kwargs,
    )
    settings.set("settings_dir", str(base))
    if overrides:
        settings.update(dict(overrides), merge=True)
    return settings


def data_directory(settings: Any) -> Path:
    """The data directory: ``data_dir`` (default ``data``), relative to the settings directory. Not created here."""
    path = Path(str(lookup(settings, "data_dir", "data") or "data"))
    if not path.is_absolute():
        path = Path(str(lookup(settings, "settings_dir", "."))) / path
    return path


def lookup(mapping: Any, dotted: str, default: Any = None) -> Any:
    """Read a dotted key from nested mappings, matching each part without regard to case."""
    current: Any = mapping
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            if isinstance(current, Dynaconf | LazySettings):
                current = current.get(part, default)  # Dynaconf's own lookup ignores case
                continue
            return default
        found = False
        for key, value in current.items():
            if str(key).lower() == part.lower():
                current, found = value, True
                break
        if not found:
            return default
    return current


def origin_of(settings: Dynaconf, dotted: str) -> str:
    """Say where ``dotted`` was set: an environment variable, a file, or 'built-in default'."""
    env_name = f"{ENV_PREFIX}_" + "__".join(part.upper() for part in dotted.split("."))
    for name in os.environ:
        if name.upper() == env_name:
            return f"environment variable {name}"
    base = Path(str(settings.get("settings_dir", ".")))
    current_env = str(settings.current_env).lower()
    for name in (LOCAL_OVERRIDE_FILE, ".secrets.toml", "settings.toml"):
        path = base / name
        if not path.exists():
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        for section in (current_env, "default"):
            if lookup(document.get(section, {}), dotted) is not None:
                return str(path)
    return "built-in default"


def validated(model: type[ModelT], table: Mapping[str, Any], prefix: str, settings: Any = None) -> ModelT:
    """``table`` validated by the pydantic ``model``; ConfigurationError naming the first bad key and its file.

    ``prefix`` is the table's dotted key (``plugins.semantic_cache``). The message never
    repeats the value given for a secret-looking key.
    """
    from pydantic import ValidationError

    from intelbot.errors import ConfigurationError
    from intelbot.settings_errors import describe

    try:
        return model.model_validate(dict(table))
    except ValidationError as error:
        first = error.errors()[0]
        path = [str(part) for part in first.get("loc", ()) if not isinstance(part, int)]
        key = ".".join(part for part in (prefix, *path) if part) or "settings"
        origin = origin_of(settings, key) if isinstance(settings, Dynaconf | LazySettings) else None
        raise ConfigurationError(describe(model, first), key=key, file=origin) from None


def plugin_table(settings: Any, name: str) -> dict[str, Any]:
    """The ``[default.plugins.<name>]`` table as a plain dict with lower-case keys ({} when absent)."""
    return _lowered(lookup(settings, f"plugins.{name}", {}) or {})


def provider_table(settings: Any, name: str) -> dict[str, Any]:
    """The ``[default.providers.<name>]`` table as a plain dict with lower-case keys ({} when absent)."""
    return _lowered(lookup(settings, f"providers.{name}", {}) or {})


def _lowered(table: Any) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        return {}
    return {str(key).lower(): value for key, value in table.items()}
