"""Booting kernels for tests: a settings directory of their own, chosen plugins, clean stop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from intelbot.kernel import Kernel
from intelbot.settings import load_settings

PluginT = TypeVar("PluginT")


def loaded_plugin(kernel: Kernel, kind: type[PluginT]) -> PluginT:
    """The instance of plugin class ``kind`` loaded in ``kernel`` (AssertionError when it is not loaded)."""
    name = str(getattr(kind, "name", ""))
    found = kernel.plugin(name, kind)
    assert found is not None, f"plugin {name!r} is not loaded in this kernel"
    return found


class KernelFactory:
    """Starts kernels in ``root`` (its own data directory and SQLite file) and stops them all at the end.

    ``plugins`` lists installed plugins to load by entry-point name (others stay
    unloaded, whatever their flags), plus plugin objects to register directly.
    ``settings`` is merged over ``base_settings`` (a settings.toml, such as a project's
    own defaults; none: the built-in defaults). By default the model is ``echo``, so no
    key is needed.
    """

    def __init__(self, root: Path, *, base_settings: Path | None = None) -> None:
        self.root = root
        self.base_settings = base_settings
        self.kernels: list[Kernel] = []

    async def __call__(
        self,
        plugins: Sequence[str | object] = (),
        settings: Mapping[str, Any] | None = None,
        *,
        name: str = "kernel",
        environment: str | None = None,
    ) -> Kernel:
        directory = self.root / f"{name}-{len(self.kernels)}"
        directory.mkdir(parents=True, exist_ok=True)
        if self.base_settings is not None:
            (directory / "settings.toml").write_text(self.base_settings.read_text(encoding="utf-8"), encoding="utf-8")
        overrides: dict[str, Any] = {"data_dir": str(directory / "data"), "llm": {"default_model": "echo"}}
        merged = _merge(overrides, dict(settings or {}))
        loaded = load_settings(directory, environment=environment, overrides=merged)
        names = [plugin for plugin in plugins if isinstance(plugin, str)]
        objects = [plugin for plugin in plugins if not isinstance(plugin, str)]
        kernel = await Kernel.start(loaded, load_plugins=names, extra_plugins=objects)
        self.kernels.append(kernel)
        return kernel

    async def close(self) -> None:
        for kernel in reversed(self.kernels):
            await kernel.stop()
        self.kernels.clear()


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result
