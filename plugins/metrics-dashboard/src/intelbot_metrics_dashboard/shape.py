"""Stand-in for ``intelbot.plugin`` (the plugin shape of issue 8) until it lands in the kernel.

Same names and contract as the spec: ``PluginSettings`` is a frozen pydantic model that
forbids unknown keys and has ``enabled``; ``Plugin[S]`` keeps ``self.settings`` and builds
itself from Dynaconf settings with :meth:`Plugin.from_settings`. Replaced by the
import from ``intelbot.plugin`` when that exists.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from intelbot.errors import ConfigurationError
from intelbot.settings import origin_of, plugin_table


class PluginSettings(BaseModel):
    """One plugin's settings table; unknown keys are errors; ``enabled`` is the feature flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


SettingsT = TypeVar("SettingsT", bound=PluginSettings)


class Plugin(Generic[SettingsT]):
    """Base of a plugin class: ``name`` is the entry-point and settings-table name."""

    name: ClassVar[str]
    settings_model: ClassVar[type[PluginSettings]]
    intelbot_order: ClassVar[int] = 0

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @classmethod
    def validate_settings(cls, settings: Any) -> PluginSettings:
        """``[default.plugins.<name>]`` validated by ``settings_model``; ConfigurationError names the key and file."""
        try:
            return cls.settings_model.model_validate(plugin_table(settings, cls.name))
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            key = f"plugins.{cls.name}" + (f".{field}" if field else "")
            raise ConfigurationError(str(first["msg"]), key=key, file=origin_of(settings, key)) from None

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Self:
        """An instance built from the validated table of ``settings`` (Dynaconf)."""
        return cls(cls.validate_settings(settings), **kwargs)  # type: ignore[arg-type]
