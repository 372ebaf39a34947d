"""Validating settings before anything starts, with messages that name the key and the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dynaconf import Dynaconf

from intelbot.catalog import ModelCatalog
from intelbot.errors import ConfigurationError
from intelbot.plugins import DEFAULT_PLUGINS, discover
from intelbot.settings import lookup, origin_of

BUILTIN_PROVIDERS = ("echo", "openai", "anthropic")
NUMBER_KEYS = ("llm.timeout_seconds", "llm.turn_timeout_seconds")
INTEGER_KEYS = ("llm.max_tokens", "llm.max_attempts")
DISCORD_MODES = ("gateway", "interactions")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One invalid setting: the dotted key, where it was set, and what is wrong."""

    key: str
    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message} (set in {self.origin})"


def find_problems(settings: Dynaconf, *, extra_providers: tuple[str, ...] = ()) -> list[ConfigProblem]:
    """Every problem found in ``settings``; an empty list means they are valid."""
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str, *, origin_key: str | None = None) -> None:
        problems.append(ConfigProblem(key, origin_of(settings, origin_key or key), message))

    try:
        catalog = ModelCatalog.from_settings(settings.get("models") or {})
    except ConfigurationError as error:
        problem(error.key or "models", str(error.message).split(" (key")[0])
        catalog = ModelCatalog({})
    from intelbot.providers.openai import compatible_servers

    known_providers = set(BUILTIN_PROVIDERS) | set(extra_providers) | set(compatible_servers(settings))
    for spec in catalog.values():
        if spec.provider not in known_providers:
            problem(
                f"models.{spec.name}.provider",
                f"unknown provider {spec.provider!r} (known: {', '.join(sorted(known_providers))})",
            )
    default_model = lookup(settings, "llm.default_model", "echo")
    if catalog and default_model not in catalog:
        problem("llm.default_model", f"unknown model {default_model!r} (catalog has: {', '.join(sorted(catalog))})")
    for key in NUMBER_KEYS:
        value = lookup(settings, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            problem(key, f"must be a positive number, got {value!r}")
    for key in INTEGER_KEYS:
        value = lookup(settings, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            problem(key, f"must be a positive integer, got {value!r}")
    providers = settings.get("providers") or {}
    if not isinstance(providers, Mapping):
        problem("providers", "must be a table")
        providers = {}
    for name, table in providers.items():
        if not isinstance(table, Mapping):
            problem(f"providers.{name}", "must be a table")
            continue
        enabled = lookup(table, "enabled")
        if enabled is True and not _has_key(str(name), table):
            problem(
                f"providers.{name}.api_key",
                f"provider {name} is enabled but has no api_key "
                f"(.secrets.toml or INTELBOT_PROVIDERS__{str(name).upper()}__API_KEY)",
                origin_key=f"providers.{name}.enabled",
            )
    installed = {entry.name.lower() for entry in discover()} | {module.rsplit(".", 1)[1] for module in DEFAULT_PLUGINS}
    plugins = settings.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        problem("plugins", "must be a table")
        plugins = {}
    for name, table in plugins.items():
        key = f"plugins.{name}"
        if str(name).lower() not in installed:
            problem(key, f"unknown plugin {name!r} (installed: {', '.join(sorted(installed)) or 'none'})")
            continue
        if not isinstance(table, Mapping):
            problem(key, "must be a table")
            continue
        enabled = lookup(table, "enabled", True)
        if not isinstance(enabled, bool):
            problem(f"{key}.enabled", f"must be true or false, got {enabled!r}")
    mode = lookup(settings, "discord.mode")
    if mode is not None and mode not in DISCORD_MODES:
        problem("discord.mode", f"must be one of {', '.join(DISCORD_MODES)}, got {mode!r}")
    return problems


def _has_key(name: str, table: Mapping[str, Any]) -> bool:
    import os

    return bool(lookup(table, "api_key")) or bool(os.environ.get(f"{name.upper()}_API_KEY"))


def raise_for_problems(settings: Dynaconf) -> None:
    """Raise :class:`ConfigurationError` for the first problem, naming its key and origin."""
    problems = find_problems(settings)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more; run `intelbot config check`)" if len(problems) > 1 else ""
        raise ConfigurationError(first.message + more, key=first.key, file=first.origin)
