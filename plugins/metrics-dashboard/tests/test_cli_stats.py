"""``intelbot stats`` prints the object ``/api/summary`` serves: one function builds both."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from intelbot.kernel import Kernel
from intelbot.settings import load_settings
from intelbot.summary import build_summary
from intelbot.testing.llm_servers import OpenAIServer

from .conftest import kernel_settings, run_workload

INTELBOT = str(Path(sys.executable).with_name("intelbot"))


async def test_intelbot_stats_prints_the_dashboards_summary(openai_server: OpenAIServer, tmp_path: Path) -> None:
    overrides = {**kernel_settings(openai_server), "data_dir": str(tmp_path / "data")}
    kernel = await Kernel.start(
        load_settings(tmp_path, overrides=overrides), load_plugins=["semantic_cache", "metrics_dashboard"]
    )
    try:
        done = await run_workload(kernel, openai_server)
        served = await build_summary(kernel)
    finally:
        await kernel.stop()

    env = {key: value for key, value in os.environ.items() if not key.startswith("INTELBOT_")}
    env.update(
        INTELBOT_SETTINGS_DIR=str(tmp_path),
        INTELBOT_DATA_DIR=str(tmp_path / "data"),
        INTELBOT_LLM__DEFAULT_MODEL="echo",
        INTELBOT_LOAD_PLUGINS="",
    )
    result = await asyncio.to_thread(
        subprocess.run, [INTELBOT, "stats"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    printed = json.loads(result.stdout)
    assert printed["turns"]["total"] == done.answered
    for key in ("turns", "calls", "tokens", "cost_usd", "cache", "guilds"):
        assert printed[key] == served[key], key
    assert set(printed) == set(served)
