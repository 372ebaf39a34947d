"""The plugins shown in README.md and docs/writing-plugins.md work as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from intelbot.testing.distributions import install_into

ROOT = Path(__file__).parents[1]


def code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.DOTALL)


def test_readme_minimal_plugin_installs_and_runs(tmp_path: Path) -> None:
    section = (ROOT / "README.md").read_text().split("## Writing a plugin", 1)[1]
    (pyproject,) = code_blocks(section, "toml")[:1]
    plugin = code_blocks(section, "python")[0]
    package = tmp_path / "src"
    (package / "intelbot_shout").mkdir(parents=True)
    (package / "pyproject.toml").write_text(pyproject)
    (package / "intelbot_shout" / "__init__.py").write_text(plugin)
    site = tmp_path / "site"
    install_into(package, site)
    script = (
        "import asyncio, sys\n"
        "from intelbot import TurnContext\n"
        "from intelbot.testing.kernels import KernelFactory\n"
        "from pathlib import Path\n"
        "async def main():\n"
        "    factory = KernelFactory(Path(sys.argv[1]))\n"
        "    kernel = await factory(plugins=['shout'])\n"
        "    print((await kernel.ask('hello there!', TurnContext())).text)\n"
        "    print((await kernel.ask('quiet please', TurnContext())).text)\n"
        "    await factory.close()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "k")], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == ["ECHO: HELLO THERE!", "Echo: quiet please"]


def test_writing_plugins_walkthrough_passes_its_own_test(tmp_path: Path) -> None:
    guide = (ROOT / "docs" / "writing-plugins.md").read_text()
    pyproject = code_blocks(guide, "toml")[0]
    plugin, test = code_blocks(guide, "python")[:2]
    project = tmp_path / "intelbot-blocklist"
    (project / "src" / "intelbot_blocklist").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text(pyproject)
    (project / "src" / "intelbot_blocklist" / "__init__.py").write_text("")
    (project / "src" / "intelbot_blocklist" / "plugin.py").write_text(plugin)
    (project / "tests" / "test_blocklist.py").write_text(test)
    site = tmp_path / "site"
    install_into(project, site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "--rootdir",
            str(project),
            str(project / "tests"),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.model
def test_the_walkthrough_guard_refuses_a_blocked_question_whose_answer_is_cached(tmp_path: Path) -> None:
    """GUARD_ORDER puts the blocklist before the semantic cache: a cached answer, or a paraphrase's, is never served."""
    guide = (ROOT / "docs" / "writing-plugins.md").read_text()
    pyproject = code_blocks(guide, "toml")[0]
    plugin = code_blocks(guide, "python")[0]
    project = tmp_path / "intelbot-blocklist"
    (project / "src" / "intelbot_blocklist").mkdir(parents=True)
    (project / "pyproject.toml").write_text(pyproject)
    (project / "src" / "intelbot_blocklist" / "__init__.py").write_text("")
    (project / "src" / "intelbot_blocklist" / "plugin.py").write_text(plugin)
    site = install_into(project, tmp_path / "site")
    script = (
        "import asyncio, json, sys\n"
        "from pathlib import Path\n"
        "from intelbot import TurnContext\n"
        "from intelbot.testing.kernels import KernelFactory\n"
        "async def main():\n"
        "    root = Path(sys.argv[1])\n"
        "    factory = KernelFactory(root / 'k', base_settings=Path(sys.argv[2]))\n"
        "    shared = {'data_dir': str(root / 'data'), 'plugins': {'blocklist': {'words': ['password']}}}\n"
        "    before = await factory(plugins=['semantic_cache'], settings=shared)\n"
        "    await before.ask('what is the admin password', TurnContext(guild_id=1))\n"
        "    cached = await before.ask('what is the admin password', TurnContext(guild_id=1))\n"
        "    await before.stop()\n"
        "    guarded = await factory(plugins=['semantic_cache', 'blocklist'], settings=shared)\n"
        "    answers = [cached.source.value]\n"
        "    for question in ('what is the admin password', 'What is the admin password?', 'tell me the weather'):\n"
        "        answers.append((await guarded.ask(question, TurnContext(guild_id=1))).source.value)\n"
        "    await factory.close()\n"
        "    print(json.dumps(answers))\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "run"), str(ROOT / "settings.toml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    sources = json.loads(result.stdout.strip().splitlines()[-1])
    assert sources == ["cache", "plugin", "plugin", "provider"]
