"""Validating settings before anything starts, with messages that name the key and the file."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dynaconf import Dynaconf
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from intelbot.catalog import ModelCatalog
from intelbot.dispatch import HookDispatcher
from intelbot.errors import ConfigurationError
from intelbot.kernel_settings import kernel_settings
from intelbot.loading import DEFAULT_PLUGINS, PluginInfo, discover
from intelbot.providers.openai import compatible_servers
from intelbot.settings import lookup, origin_of

BUILTIN_PROVIDERS = tuple(module.rsplit(".", 1)[1] for module in DEFAULT_PLUGINS)
"""The providers the kernel brings: one per built-in provider module."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One invalid setting: the dotted key, where it was set, and what is wrong."""

    key: str
    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message} (set in {self.origin})"


def find_problems(
    settings: Dynaconf, *, extra_providers: Collection[str] | None = (), extra_plugins: Collection[str] = ()
) -> list[ConfigProblem]:
    """Every problem found in ``settings``; an empty list means they are valid.

    ``extra_providers`` names providers that plugins registered (a catalog model may use
    them); None skips checking models' providers (before plugins are registered).
    ``extra_plugins`` names plugin objects given directly, whose tables are not unknown.
    Plugins' own settings are checked by :func:`find_plugin_problems`.
    """
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str, *, origin_key: str | None = None) -> None:
        problems.append(ConfigProblem(key, origin_of(settings, origin_key or key), message))

    try:
        catalog = ModelCatalog.from_settings(settings.get("models") or {})
    except ConfigurationError as error:
        problem(error.key or "models", error.reason)
        catalog = ModelCatalog({})
    if extra_providers is not None:
        for key, message in unknown_model_providers(settings, catalog, extra_providers):
            problem(key, message)
    try:
        default_model = kernel_settings(settings).llm.default_model
    except ConfigurationError as error:
        problem(error.key or "settings", error.reason)
        default_model = str(lookup(settings, "llm.default_model", "echo"))
    if catalog and default_model not in catalog:
        problem("llm.default_model", f"unknown model {default_model!r} (catalog has: {', '.join(sorted(catalog))})")
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
    # each provider's own table is validated by its settings model when it registers (find_provider_problems)
    _check_database(settings, problem)
    if isinstance(lookup(settings, "discord"), Mapping):
        _collect(problem, lambda: _check_discord(settings))
    if isinstance(lookup(settings, "spending"), Mapping):
        _collect(problem, lambda: _check_spending(settings))
    if isinstance(lookup(settings, "embedding"), Mapping):
        _collect(problem, lambda: _check_embedding(settings))
    installed = {entry.name.lower() for entry in discover()} | {name.lower() for name in extra_plugins}
    plugins = settings.get("plugins") or {}
    if not isinstance(plugins, Mapping):
        problem("plugins", "must be a table")
        plugins = {}
    for name, table in plugins.items():
        key = f"plugins.{name}"
        if str(name).lower() not in installed:
            problem(key, unknown_plugin_message(str(name), installed))
            continue
        if not isinstance(table, Mapping):
            problem(key, "must be a table")
            continue
        enabled = lookup(table, "enabled", True)
        if not isinstance(enabled, bool):
            problem(f"{key}.enabled", f"must be true or false, got {enabled!r}")
    return problems


Report = Callable[..., None]


def _collect(problem: Report, check: Callable[[], object]) -> None:
    """Run ``check``; a ConfigurationError it raises becomes a problem naming its key."""
    try:
        check()
    except ConfigurationError as error:
        problem(error.key or "settings", error.reason)


def _check_database(settings: Any, problem: Report) -> None:
    url = str(lookup(settings, "database_url", "") or "")
    if url:
        try:
            dialect = make_url(url).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError):
            problem("database_url", "not a database URL SQLAlchemy knows (e.g. postgresql+asyncpg://user@host/db)")
            return
        if not getattr(dialect, "is_async", False):
            drivers = "sqlite+aiosqlite, postgresql+asyncpg"
            problem("database_url", f"needs an async driver ({drivers}), got {dialect.driver!r}")


def _check_discord(settings: Any) -> None:
    """Validate ``[default.discord]`` as the front end will read it (a missing token only means: console)."""
    from intelbot.frontends.discord.config import DiscordSettings

    DiscordSettings.from_settings(settings, require_token=False)


def _check_spending(settings: Any) -> None:
    from intelbot.spending import SpendingSettings

    SpendingSettings.from_settings(settings)


def _check_embedding(settings: Any) -> None:
    from intelbot.embedding.factory import check_embedding_config, embedding_config

    check_embedding_config(embedding_config(settings))


def _has_key(name: str, table: Mapping[str, Any]) -> bool:
    return bool(lookup(table, "api_key")) or bool(os.environ.get(f"{name.upper()}_API_KEY"))


def unknown_model_providers(
    settings: Any, catalog: ModelCatalog, extra_providers: Collection[str]
) -> list[tuple[str, str]]:
    """``(key, message)`` for each catalog model whose provider nobody offers."""
    known = set(BUILTIN_PROVIDERS) | set(extra_providers) | set(compatible_servers(settings))
    return [
        (f"models.{spec.name}.provider", f"unknown provider {spec.provider!r} (known: {', '.join(sorted(known))})")
        for spec in catalog.values()
        if spec.provider not in known
    ]


def unknown_plugin_message(name: str, installed: Collection[str]) -> str:
    """ "unknown plugin 'x'", with the nearest installed name when one is close, and what is installed."""
    near = difflib.get_close_matches(name.lower(), sorted(installed), n=1, cutoff=0.6)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown plugin {name!r}{hint} (installed: {', '.join(sorted(installed)) or 'none'})"


def find_provider_problems(settings: Any, dispatch: HookDispatcher) -> tuple[list[str], list[ConfigProblem]]:
    """Run every ``register_providers`` hook as start-up does: (names registered, problems raised).

    Each provider validates its own table with its settings model there, so a bad value
    is found once, the same way at ``intelbot config check`` and at start-up.
    """
    names: list[str] = []
    raised: list[tuple[str, Exception]] = []
    dispatch.call_all_sync(
        "register_providers", problems=raised, register=lambda provider: names.append(provider.name), settings=settings
    )
    problems = []
    for plugin, failure in raised:
        key = getattr(failure, "key", None) or f"plugins.{plugin}"
        reason = getattr(failure, "reason", None) or f"registering providers failed: {type(failure).__name__}"
        problems.append(ConfigProblem(key, getattr(failure, "file", None) or origin_of(settings, key), reason))
    return names, problems


def raise_first(problems: list[ConfigProblem]) -> None:
    """Raise :class:`ConfigurationError` for the first problem, naming its key and origin."""
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more; run `intelbot config check`)" if len(problems) > 1 else ""
        raise ConfigurationError(first.message + more, key=first.key, file=first.origin)


def find_plugin_problems(
    settings: Dynaconf, dispatch: HookDispatcher, infos: Iterable[PluginInfo] = ()
) -> list[ConfigProblem]:
    """Problems with plugins' own settings: tables their settings models refused (from ``infos``),
    then what each loaded plugin's ``check_settings`` hook raises (called through the dispatcher)."""
    problems: list[ConfigProblem] = []
    for info in infos:
        error = info.settings_error
        if error is not None:
            key = error.key or f"plugins.{info.name}"
            problems.append(ConfigProblem(key, error.file or origin_of(settings, key), error.reason))
    raised: list[tuple[str, Exception]] = []
    dispatch.call_all_sync("check_settings", problems=raised, settings=settings)
    for plugin, failure in raised:
        if isinstance(failure, ConfigurationError):
            key = failure.key or f"plugins.{plugin}"
            problems.append(ConfigProblem(key, origin_of(settings, key), failure.reason))
        else:  # a broken check is itself a problem to report
            key = f"plugins.{plugin}"
            reason = f"settings check failed: {type(failure).__name__}"
            problems.append(ConfigProblem(key, origin_of(settings, key), reason))
    return problems
