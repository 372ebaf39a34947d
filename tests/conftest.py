"""Kernel test fixtures. The test kit's own fixtures (make_kernel, loopback servers) come from intelbot.testing."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from intelbot.testing.distributions import install_into

SAMPLE_PLUGIN = Path(__file__).parent / "sample-plugin"


@pytest.fixture(scope="session")
def sample_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plugin distribution, installed with pip into a directory of its own."""
    return install_into(SAMPLE_PLUGIN, tmp_path_factory.mktemp("site"))


@pytest.fixture
def sample_plugin(sample_plugin_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Make the installed sample plugin visible to entry-point discovery for one test."""
    import importlib

    monkeypatch.syspath_prepend(str(sample_plugin_path))
    importlib.invalidate_caches()
    yield sample_plugin_path
    for name in [module for module in sys.modules if module.startswith("intelbot_sample")]:
        del sys.modules[name]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the ``intelbot`` command in a settings directory of its own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTELBOT_")}
    env["INTELBOT_SETTINGS_DIR"] = str(tmp_path)
    return env
