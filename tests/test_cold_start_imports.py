"""Cold start of a one-shot ``intelbot ask``: what it must not import (each is start-up time it does not need).

Measured by ``benchmarks/footprint.py`` (README, Footprint); these tests keep the gains.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPOSITORY = Path(__file__).parents[1]
QUESTION = "What is the capital of France?"
NOT_ON_THE_ASK_PATH = (
    "torch",  # the ONNX embedder runs without it
    "sentence_transformers",
    "transformers",
    "hikari",  # the Discord front end
    "lightbulb",
    "aiohttp",  # the dashboard's and the loopback servers'
    "sklearn",  # cache calibration only
    "usearch",  # HNSW graphs are built past hnsw_min_entries / hybrid_switch_at
    "openai",  # an SDK is imported only when its provider has a key
    "anthropic",
    "asyncpg",  # PostgreSQL only (db_advisor's analysis, the dialect's driver)
    "sqlalchemy.dialects.postgresql",
    "tomlkit",  # `intelbot plugins enable|disable` only
    "intelbot_semantic_cache.cli",  # plugins' commands: not loaded for a built-in command
    "intelbot_db_advisor.cli",
    "intelbot_memory.cli",
)


def _environment(home: Path) -> dict[str, str]:
    return {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(home), "INTELBOT_SETTINGS_DIR": str(home)}


def test_intelbot_ask_with_the_cache_on_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    """The console script on the repository's settings (semantic cache and memory on) answers, then exits
    having imported none of :data:`NOT_ON_THE_ASK_PATH`."""
    shutil.copyfile(REPOSITORY / "settings.toml", tmp_path / "settings.toml")
    script = textwrap.dedent(
        f"""
        import atexit, json, sys
        watched = {NOT_ON_THE_ASK_PATH!r}
        atexit.register(lambda: print("IMPORTED " + json.dumps(sorted(m for m in watched if m in sys.modules))))
        sys.argv = ["intelbot", "ask", {QUESTION!r}]
        from intelbot.frontends.cli import main
        main()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=_environment(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == f"Echo: {QUESTION}"
    assert json.loads(lines[-1].removeprefix("IMPORTED ")) == []


def test_sqlglot_waits_for_the_first_fingerprint(tmp_path: Path) -> None:
    """db_advisor captures the turn's statements but imports sqlglot only when it folds them (at its flush):
    not during start-up or the turn; the figures are still written when the kernel stops."""
    shutil.copyfile(REPOSITORY / "settings.toml", tmp_path / "settings.toml")
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from pathlib import Path
        from intelbot import Kernel, TurnContext
        from intelbot.settings import load_settings

        async def main():
            kernel = await Kernel.start(load_settings(Path(sys.argv[1])))
            try:
                answer = await kernel.ask("What is the capital of France?", TurnContext(guild_id=1))
                during = "sqlglot" in sys.modules
                advisor = kernel.plugin("db_advisor")
                captured = len(advisor.capture.raw)
            finally:
                await kernel.stop()
            written = len(await advisor.store.figures())
            await kernel.database.dispose()
            print(json.dumps({"provider": answer.provider, "sqlglot_during_the_turn": during,
                              "captured": captured > 0, "written": written > 0}))

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_environment(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"provider": "echo", "sqlglot_during_the_turn": False, "captured": True, "written": True}


def test_the_full_command_line_still_lists_the_plugins_commands(tmp_path: Path) -> None:
    """Only built-in leaf commands skip the plugins' commands: ``intelbot --help`` still shows them."""
    shutil.copyfile(REPOSITORY / "settings.toml", tmp_path / "settings.toml")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "intelbot"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_environment(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert {"ask", "run", "cache", "db", "memory"} <= listed
