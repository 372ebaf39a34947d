"""Finding, switching and registering plugins.

Plugins are found through the entry-point group ``intelbot``. An entry point names a
plugin class (:class:`intelbot.plugin.Plugin`), which is validated against its settings
model and instantiated once for this plugin manager (one per kernel), or a module of
hook functions. A plugin whose flag
``[default.plugins.<name>] enabled`` is false is blocked before loading and never
imported (as pytest's ``-p no:NAME``). ``INTELBOT_LOAD_PLUGINS`` overrides the
flags: '' loads none, 'a,b' loads only those. A plugin that fails to import, or
implements a hook that does not exist, is reported and left out; the rest load.
Built-in behaviour (the providers) is registered as default plugins, the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from intelbot import hookspecs
from intelbot.errors import ConfigurationError
from intelbot.plugin import PluginRecipe, is_plugin_class, recipe_of
from intelbot.settings import lookup

log = logging.getLogger("intelbot.plugins")

ENTRY_POINT_GROUP = "intelbot"
LOAD_PLUGINS_ENV = "INTELBOT_LOAD_PLUGINS"
DEFAULT_PLUGINS: tuple[str, ...] = (
    "intelbot.providers.echo",
    "intelbot.providers.openai",
    "intelbot.providers.anthropic",
)


@dataclass(slots=True)
class PluginInfo:
    """What is known about one plugin after loading: shown by ``intelbot plugins`` and ``/plugins list``."""

    name: str
    distribution: str | None
    version: str | None
    enabled: bool
    loaded: bool = False
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    settings_error: ConfigurationError | None = None
    """The plugin's table failed its settings model (the plugin is not registered)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "enabled": self.enabled,
            "loaded": self.loaded,
            "builtin": self.builtin,
            "hooks": list(self.hooks),
            "error": self.error,
        }


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows intelbot's hook specifications."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def discover() -> list[EntryPoint]:
    """Installed plugins' entry points in group ``intelbot``, sorted by name, one per name."""
    seen: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault(entry.name, entry)
    return [seen[name] for name in sorted(seen)]


def flag_enabled(settings: Any, name: str) -> bool:
    """The plugin's feature flag (matched without regard to case); a plugin with no flag is enabled."""
    value = lookup(settings.get("plugins") or {}, f"{name}.enabled", True)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def load_selection(explicit: Sequence[str] | None) -> set[str] | None:
    """Plugins to load regardless of flags: ``explicit``, else ``INTELBOT_LOAD_PLUGINS``, else None (flags)."""
    if explicit is not None:
        return {name.lower() for name in explicit}
    raw = os.environ.get(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def hooks_of(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    callers = manager.get_hookcallers(plugin) or []
    return sorted(caller.name for caller in callers)


def _register(manager: pluggy.PluginManager, plugin: object, name: str) -> str | None:
    """Register ``plugin``; return an error message (and leave it unregistered) when its hooks are invalid."""
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as error:
        return str(error)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        manager.unregister(plugin)
        return f"unknown hook: {error}"
    return None


def register_plugins(
    manager: pluggy.PluginManager,
    settings: Any,
    *,
    only: Sequence[str] | None = None,
    extra: Iterable[object] = (),
) -> list[PluginInfo]:
    """Register built-ins, installed plugins allowed by flags or ``only``, and ``extra`` objects.

    Registration order gives the documented call order within a mark: ``extra``
    objects (tests, embedding applications) in the order given, then installed
    plugins alphabetically, then built-ins (pluggy calls the last registered first).
    """
    import importlib

    infos: list[PluginInfo] = []
    for module_name in DEFAULT_PLUGINS:
        short = module_name.rsplit(".", 1)[1]
        info = PluginInfo(
            name=f"builtin:{short}", distribution="intelbot", version=_version("intelbot"), enabled=True, builtin=True
        )
        infos.append(info)
        try:
            module = importlib.import_module(module_name)
        except Exception as failure:  # noqa: BLE001 - a broken built-in is reported like any plugin
            info.error = f"import failed: {type(failure).__name__}: {failure}"
            log.error("built-in plugin %r not loaded: %s", short, info.error)
            continue
        info.error = _register(manager, module, info.name)
        info.loaded = info.error is None
        info.hooks = hooks_of(manager, module) if info.loaded else []
    selection = load_selection(only)
    for entry in reversed(discover()):
        name = entry.name
        distribution = entry.dist.name if entry.dist else None
        version = entry.dist.version if entry.dist else None
        enabled = flag_enabled(settings, name) if selection is None else name.lower() in selection
        info = PluginInfo(name=name, distribution=distribution, version=version, enabled=enabled)
        infos.append(info)
        if not enabled:
            manager.set_blocked(name)
            continue
        try:
            plugin = entry.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the bot
            info.error = f"import failed: {type(error).__name__}: {error}"
            log.error("plugin %r not loaded: %s", name, info.error)
            continue
        if isinstance(plugin, type):
            if not is_plugin_class(plugin):
                info.error = f"entry point names {plugin.__qualname__}, which is not an intelbot.plugin.Plugin subclass"
                log.error("plugin %r not loaded: %s", name, info.error)
                continue
            if getattr(plugin, "name", "") != name:
                info.error = f"entry point {name!r} names a class whose name is {getattr(plugin, 'name', '')!r}"
                log.error("plugin %r not loaded: %s", name, info.error)
                continue
            plugin = _instance(PluginRecipe(plugin), settings, info)
            if plugin is None:
                continue
        problem = _register(manager, plugin, name)
        if problem is not None:
            info.error = problem
            log.error("plugin %r not loaded: %s", name, problem)
            continue
        info.loaded = True
        info.hooks = hooks_of(manager, plugin)
    # pluggy calls the last registered first: register in reverse so they run in the order given
    for index, given in reversed(list(enumerate(extra))):
        name = getattr(given, "name", None) or getattr(given, "__name__", None) or f"extra-{index}"
        info = PluginInfo(name=str(name), distribution=None, version=None, enabled=True)
        recipe = recipe_of(given)
        plugin = given if recipe is None else _instance(recipe, settings, info)
        if plugin is None:
            infos.append(info)
            continue
        if manager.is_blocked(str(name)):
            manager.unblock(str(name))  # an object given directly wins over a disabled entry point
        problem = _register(manager, plugin, str(name))
        info.loaded = problem is None
        info.error = problem
        if problem is None:
            info.hooks = hooks_of(manager, plugin)
        else:
            log.error("plugin %r not loaded: %s", name, problem)
        infos.append(info)
    infos.sort(key=lambda item: (not item.builtin, item.name))
    return infos


def _instance(recipe: PluginRecipe, settings: Any, info: PluginInfo) -> object | None:
    """The plugin ``recipe`` builds from ``settings``; None (and ``info`` says why) when its settings are bad."""
    try:
        return recipe.build(settings)
    except ConfigurationError as error:
        info.settings_error = error
        info.error = f"invalid settings: {error}"
    except Exception as error:  # noqa: BLE001 - a broken constructor must not stop the bot
        info.error = f"construction failed: {type(error).__name__}: {error}"
    log.error("plugin %r not loaded: %s", info.name, info.error)
    return None


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None
