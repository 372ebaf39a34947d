"""A private ``redis-server`` for fault-injection tests: started on a free port, stopped and restarted at will.

Tests that take Redis away mid-run must never stop the Redis other tests share.
:class:`PrivateRedis` runs its own server (no persistence, bound to 127.0.0.1) from the
``redis-server`` binary (Debian package ``redis-server``); :meth:`stop` kills it as a
Redis that went away would (connections refused), :meth:`start` brings it back on the
same port, empty. The test kit's ``private_redis`` fixture yields one and kills it at teardown.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrivateRedis:
    """One ``redis-server`` process of this test; ``url`` stays the same across :meth:`stop` and :meth:`start`."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start the server (empty) and wait until it accepts connections."""
        if self.running:
            return
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if self.process.returncode is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}") from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise RuntimeError(f"redis-server did not listen on port {self.port}")

    async def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to clients), as a Redis that crashed."""
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.kill()
        await process.wait()


def redis_server_binary() -> str | None:
    """The ``redis-server`` binary, or None when it is not installed."""
    import shutil

    return shutil.which("redis-server", path="/usr/local/bin:/usr/bin:/usr/sbin:/bin")
