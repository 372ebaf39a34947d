"""The one plugin shape: a class per plugin, one instance per kernel, reached through the kernel."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from intelbot import TurnContext
from intelbot.dispatch import HookDispatcher
from intelbot.errors import ConfigurationError
from intelbot.loading import new_plugin_manager
from intelbot.testing.distributions import install_into
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_semantic_cache.plugin import SemanticCachePlugin

ROOT = Path(__file__).parents[1]
PLUGIN_SOURCES = sorted((ROOT / "plugins").glob("*/src/*/*.py"))


@pytest.mark.model
async def test_two_kernels_in_one_process_never_share_plugin_state(make_kernel: KernelFactory) -> None:
    settings = {"plugins": {"semantic_cache": {"index": "exact"}}}
    first = await make_kernel(plugins=["semantic_cache", "circuit_breaker"], settings=settings)
    second = await make_kernel(plugins=["semantic_cache", "circuit_breaker"], settings=settings)
    caches = [loaded_plugin(kernel, SemanticCachePlugin) for kernel in (first, second)]
    breakers = [loaded_plugin(kernel, CircuitBreakerPlugin) for kernel in (first, second)]
    assert caches[0] is not caches[1] and breakers[0] is not breakers[1]
    assert [plugin.kernel for plugin in breakers] == [first, second]

    await first.ask("What is the capital of France?", TurnContext(guild_id=1))
    assert caches[0].cache is not None and caches[1].cache is not None
    assert len(caches[0].cache.entries) == 1
    assert len(caches[1].cache.entries) == 0  # the other kernel's cache saw nothing
    assert (await second.ask("What is the capital of France?", TurnContext(guild_id=1))).source.value == "provider"
    assert breakers[0].breakers is not breakers[1].breakers

    await first.stop()
    assert caches[0].cache is None and breakers[0].kernel is None
    assert caches[1].cache is not None and breakers[1].kernel is second  # stopping one leaves the other running


@pytest.mark.model
async def test_a_plugin_is_reached_through_its_kernel_typed(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=["semantic_cache"])
    assert isinstance(kernel.plugin("semantic_cache", SemanticCachePlugin), SemanticCachePlugin)
    assert kernel.plugin("circuit_breaker", CircuitBreakerPlugin) is None  # not loaded here
    with pytest.raises(TypeError):
        kernel.plugin("semantic_cache", CircuitBreakerPlugin)


async def test_a_bad_value_in_a_plugin_table_names_the_key_at_start(make_kernel: KernelFactory) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await make_kernel(plugins=["semantic_cache"], settings={"plugins": {"semantic_cache": {"candidates": "8"}}})
    assert caught.value.key == "plugins.semantic_cache.candidates"


async def test_a_misspelled_hook_name_at_a_call_site_raises() -> None:
    dispatch = HookDispatcher(new_plugin_manager())
    with pytest.raises(ValueError, match="befor_llm_call"):
        await dispatch.call_all("befor_llm_call")
    with pytest.raises(ValueError, match="register_provider"):
        dispatch.call_all_sync("register_provider")


def test_no_module_level_plugin_instance_or_hook_function_in_plugins() -> None:
    offenders = []
    for path in PLUGIN_SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if line.startswith("@hookimpl"):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: module-level hook function")
            if line.startswith(("default = ", "_default = ", "_active")):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: module-level plugin state")
    assert PLUGIN_SOURCES and offenders == []


def copy_distribution(name: str, target: Path, copied: set[str] | None = None) -> None:
    """Copy the installed distribution ``name`` and what it requires into ``target``, as pip would lay them out."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    copied = set() if copied is None else copied
    if canonicalize_name(name) in copied:
        return
    copied.add(canonicalize_name(name))
    dist = importlib.metadata.distribution(name)
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            copy_distribution(requirement.name, target, copied)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if source.is_file() and "__pycache__" not in file.parts:
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def test_pytest_starts_where_the_kernel_is_installed_without_pytest_asyncio(tmp_path: Path) -> None:
    """A fresh venv with only ``intelbot`` (pip, no deps) and pytest: ``pytest --version`` works."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    site = tmp_path / "site"
    install_into(ROOT / "core", site)  # the kernel distribution: no pytest11 entry point, no test-kit fixtures
    copy_distribution("pytest", site)
    assert not (site / "pytest_asyncio").exists()
    python = environment / "bin" / "python"
    result = subprocess.run(
        [str(python), "-m", "pytest", "--version", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": os.environ.get("PATH", "")},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pytest" in result.stdout + result.stderr
    groups = {entry.group for entry in importlib.metadata.distribution("intelbot").entry_points}
    assert "pytest11" not in groups  # the fixtures are intelbot-testing's
    assert "pytest11" in {entry.group for entry in importlib.metadata.distribution("intelbot-testing").entry_points}


def test_a_guard_runs_before_a_cache_whatever_the_registration_order() -> None:
    from intelbot.hookspecs import GUARD_ORDER, hookimpl

    class Cache:
        @hookimpl(tryfirst=True)
        def before_llm_call(self, request: object, ctx: object) -> None:
            return None

    class Guard:
        intelbot_order = GUARD_ORDER

        @hookimpl(tryfirst=True)
        def before_llm_call(self, request: object, ctx: object) -> None:
            return None

    manager = new_plugin_manager()
    manager.register(Guard(), name="zz_guard")  # registered first, so pluggy alone would call it last
    manager.register(Cache(), name="aa_cache")
    order = [impl.plugin for impl in HookDispatcher(manager).implementations("before_llm_call")]
    assert order == ["zz_guard", "aa_cache"]
