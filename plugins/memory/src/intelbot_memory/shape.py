"""Stand-ins for ``intelbot.plugin`` (issue 8) until it lands on main; replaced by imports after the merge.

:class:`PluginSettings` is a frozen pydantic model that forbids unknown keys and has
``enabled``; :class:`Plugin` keeps its validated settings in ``self.settings``.
:class:`PromptEmbedding` is this turn's prompt embedding, shared by cache, router and memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from intelbot.settings import plugin_table


class PluginSettings(BaseModel):
    """One plugin's settings table: unknown keys are errors, values cannot change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


SettingsT = TypeVar("SettingsT", bound=PluginSettings)


class Plugin(Generic[SettingsT]):
    """A plugin instance bound to its validated settings; ``__init__`` opens nothing."""

    name: ClassVar[str] = ""
    settings_model: ClassVar[type[PluginSettings]] = PluginSettings
    intelbot_order: ClassVar[int] = 0

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Any:
        """Validate ``[default.plugins.<name>]`` of ``settings`` and build an instance."""
        table = {str(key).lower(): value for key, value in plugin_table(settings, cls.name).items()}
        return cls(cls.settings_model.model_validate(table), **kwargs)  # type: ignore[arg-type]


@dataclass(slots=True)
class PromptEmbedding:
    """This turn's prompt embedding: reuse it when ``text`` and ``model`` match, else embed and fill all three."""

    text: str | None = None
    model: str | None = None
    vector: npt.NDArray[np.float32] | None = None
