"""The shape of a plugin: a class with a typed settings model, one instance per kernel.

A plugin distribution names its class in the entry-point group ``intelbot``::

    [project.entry-points.intelbot]
    semantic_cache = "intelbot_semantic_cache.plugin:SemanticCachePlugin"

The kernel validates the table ``[default.plugins.<name>]`` with the class's
``settings_model`` (a bad value stops ``intelbot config check`` and start-up with a
message naming the key and the file), makes **one instance per kernel** with the
validated settings, registers it, and hands it out as ``kernel.plugin(name, cls)``.
Several kernels in one process never share plugin state. A constructor opens nothing
(no files, sockets or models): resources are opened in ``startup`` and released in
``shutdown``. A module with hook functions still works as a plugin (the README's
two-file plugin); it has no settings model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from intelbot.settings import plugin_table, validated


def lower_keys(data: Any) -> Any:
    """``data`` with its keys in lower case when it is a mapping (settings keys match without case)."""
    if isinstance(data, Mapping):
        return {str(key).lower(): value for key, value in data.items()}
    return data


class SettingsTable(BaseModel):
    """Base of every settings model: unknown keys are errors, keys match without case, values are frozen.

    Values are strict (``"5"`` is not an integer, ``true`` is not a number); collection
    fields that accept TOML lists as tuples or sets say ``Field(strict=False)``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _lower_keys(cls, data: Any) -> Any:
        return lower_keys(data)


class PluginSettings(SettingsTable):
    """Base of a plugin's settings model (``[default.plugins.<name>]``); ``enabled`` is its feature flag."""

    enabled: bool = True


SettingsT = TypeVar("SettingsT", bound=PluginSettings)


class Plugin(Generic[SettingsT]):
    """Base of a plugin class: ``name``, ``settings_model``, and hook methods marked with ``@hookimpl``.

    ``name`` is the entry-point name and the settings table's name. ``intelbot_order``
    sorts the plugin among others of the same mark (lower first). Subclasses add
    keyword-only constructor options (a clock, an embedder) for tests and embedding
    applications, which build instances with :meth:`from_settings` and pass them to
    ``Kernel.start(..., extra_plugins=[...])``.
    """

    name: ClassVar[str] = ""
    settings_model: ClassVar[type[PluginSettings]] = PluginSettings
    intelbot_order: ClassVar[int] = 0

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @classmethod
    def read_settings(cls, settings: Any) -> SettingsT:
        """This plugin's validated table from the loaded ``settings``; ConfigurationError names key and file."""
        model = validated(cls.settings_model, plugin_table(settings, cls.name), f"plugins.{cls.name}", settings)
        return model  # type: ignore[return-value]

    @classmethod
    def from_settings(cls, settings: Any, /, **options: Any) -> Self:
        """An instance configured from the loaded ``settings`` (Dynaconf), with constructor ``options``."""
        return cls(cls.read_settings(settings), **options)

    @classmethod
    def configured(cls, **options: Any) -> PluginRecipe:
        """This class with constructor ``options`` (a clock, an embedder), for ``Kernel.start(extra_plugins=...)``.

        The kernel builds the instance itself, with its own validated settings, and
        hands it out as ``kernel.plugin(name, cls)``: one instance per kernel, as for
        an installed plugin.
        """
        return PluginRecipe(cls, dict(options))


@dataclass(frozen=True, slots=True)
class PluginRecipe:
    """A plugin class and the constructor options the kernel builds it with (see :meth:`Plugin.configured`)."""

    cls: type[Plugin[Any]]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The plugin's name (its settings table's)."""
        return self.cls.name

    def build(self, settings: Any) -> Plugin[Any]:
        """An instance from the loaded ``settings``; ConfigurationError naming the key when the table is bad."""
        return self.cls.from_settings(settings, **self.options)


def is_plugin_class(candidate: object) -> bool:
    """True for a :class:`Plugin` subclass (an entry point may name one, or a module)."""
    return isinstance(candidate, type) and issubclass(candidate, Plugin)


def recipe_of(candidate: object) -> PluginRecipe | None:
    """``candidate`` as a recipe when it is a plugin class or a recipe, else None (an instance or a module)."""
    if isinstance(candidate, PluginRecipe):
        return candidate
    if is_plugin_class(candidate):
        return PluginRecipe(candidate)  # type: ignore[arg-type]
    return None
