"""Start-up cost of the provider plugins: an SDK is imported only when its provider is configured."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_start_without_keys_imports_neither_provider_sdk(tmp_path: Path) -> None:
    """With no key, no SDK provider is registered, so neither ``openai`` nor ``anthropic`` is imported."""
    shutil.copyfile(Path(__file__).parents[1] / "settings.toml", tmp_path / "settings.toml")
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
            finally:
                await kernel.stop()
            loaded = sorted(m for m in ("openai", "anthropic") if m in sys.modules)
            print(json.dumps({"provider": answer.provider, "loaded": loaded}))

        asyncio.run(main())
        """
    )
    environment = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"provider": "echo", "loaded": []}
