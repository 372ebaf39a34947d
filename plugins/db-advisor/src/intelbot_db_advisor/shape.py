"""Stand-in for ``intelbot.plugin`` until the plugin shape lands on main (removed at the merge)."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from intelbot.settings import plugin_table


class PluginSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


S = TypeVar("S", bound=PluginSettings)


class Plugin(Generic[S]):
    name: ClassVar[str]
    settings_model: ClassVar[type[PluginSettings]]

    def __init__(self, settings: S) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Any:
        table = dict(plugin_table(settings, cls.name) or {})
        return cls(cls.settings_model(**{k.lower(): v for k, v in table.items()}), **kwargs)  # type: ignore[arg-type]
