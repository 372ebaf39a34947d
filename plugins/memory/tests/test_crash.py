"""A /remember acknowledged before a kill -9 is there after restart (the local backend commits before it answers)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from intelbot import MemoryQuery, TurnContext
from intelbot.embedding import Embedder
from intelbot_memory.plugin import MemoryPlugin

REMEMBER_THEN_HANG = """
import asyncio, sys
from pathlib import Path
from intelbot import MemoryRecord, TurnContext
from intelbot.kernel import Kernel
from intelbot.settings import load_settings

async def main(root: str) -> None:
    settings = load_settings(Path(root), overrides={"data_dir": root + "/data", "llm": {"default_model": "echo"}})
    kernel = await Kernel.start(settings, load_plugins=["memory"])
    record = MemoryRecord("The fire exit code is 2468.", guild_id=5, user_id=50)
    ids = await kernel.store(record, TurnContext(guild_id=5, user_id=50))
    print("ACK", ids[0], flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1]))
"""


async def test_an_acknowledged_memory_survives_kill_9(tmp_path: Path, make_kernel: Any, minilm: Embedder) -> None:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "INTELBOT_LOAD_PLUGINS": "memory"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", REMEMBER_THEN_HANG, str(tmp_path), stdout=asyncio.subprocess.PIPE, env=environment
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=180)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    word, memory_id = line.decode().split()
    assert word == "ACK"
    kernel = await make_kernel(
        plugins=[MemoryPlugin.configured(embedder=minilm)], settings={"data_dir": str(tmp_path / "data")}
    )
    hits = await kernel.query(MemoryQuery("what is the fire exit code?", guild_id=5), TurnContext(guild_id=5))
    assert [hit.record.id for hit in hits] == [memory_id]
    assert hits[0].record.text == "The fire exit code is 2468."
