"""``intelbot memory stats|forget|reindex`` on a settings directory of its own."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from intelbot import MemoryRecord, TurnContext
from intelbot.embedding import Embedder
from intelbot.frontends.cli import build_cli
from intelbot.kernel import Kernel
from intelbot.settings import load_settings


async def remember(root: Path, texts: list[tuple[str, int | None, int]]) -> None:
    kernel = await Kernel.start(load_settings(root), load_plugins=["memory"])
    try:
        for text, guild_id, user_id in texts:
            await kernel.store(MemoryRecord(text, guild_id=guild_id, user_id=user_id), TurnContext(guild_id=guild_id))
    finally:
        await kernel.stop()


def test_stats_forget_and_reindex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm: Embedder) -> None:
    (tmp_path / "settings.toml").write_text(f'[default]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_LOAD_PLUGINS", "memory")
    asyncio.run(
        remember(
            tmp_path,
            [("Guild one fact.", 1, 10), ("Another guild one fact.", 1, 11), ("A DM fact.", None, 10)],
        )
    )
    runner = CliRunner()
    stats = runner.invoke(build_cli(), ["memory", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    figures = json.loads(stats.stdout.strip().splitlines()[-1])
    assert figures["entries"] == 3 and figures["scopes"] == 2
    forgot = runner.invoke(build_cli(), ["memory", "forget", "--guild", "1", "--user", "10"])
    assert forgot.exit_code == 0 and "forgot 1 memory (guild 1, user 10)" in forgot.stdout
    dms = runner.invoke(build_cli(), ["memory", "forget", "--user", "10"])
    assert "forgot 1 memory (direct messages, user 10)" in dms.stdout
    reindexed = runner.invoke(build_cli(), ["memory", "reindex"])
    assert reindexed.exit_code == 0 and "indexed 1 memories" in reindexed.stdout
    refused = runner.invoke(build_cli(), ["memory", "forget"])
    assert refused.exit_code == 2
