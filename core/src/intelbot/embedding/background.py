"""An embedder whose model loads in a background thread, so nothing waits for it unless it must.

:class:`BackgroundEmbedder` knows its ``name`` and ``dimensions`` at once (the
cache opens its index with them) and starts building the real embedder in a
daemon thread when constructed. ``embed`` waits for the load to finish; a caller
on a latency-sensitive path first asks :func:`wait_until_ready`, which waits at
most ``wait_seconds`` and says whether a vector can be had now, so it can go
without (the semantic cache then serves exact matches only for that turn).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Literal

from intelbot.embedding.base import Embedder, EmbedderUnavailable, Vectors

log = logging.getLogger("intelbot.embedding")
LoadState = Literal["loading", "ready", "failed"]


class BackgroundEmbedder:
    """Builds ``build()`` in a background thread; an :class:`Embedder` meanwhile.

    ``name`` and ``dimensions`` must be what the built embedder reports (checked:
    a mismatch fails the load). A load that raises leaves the embedder
    ``failed``: ``wait_ready`` returns False and ``embed`` raises
    EmbedderUnavailable with the reason (logged once at WARNING).
    """

    def __init__(
        self,
        build: Callable[[], Embedder],
        *,
        name: str,
        dimensions: int,
        wait_seconds: float = 2.0,
        description: str = "",
    ) -> None:
        self.name = name
        self.dimensions = dimensions
        self.wait_seconds = wait_seconds
        self.description = description or name
        self.load_seconds: float | None = None
        self._inner: Embedder | None = None
        self._error: EmbedderUnavailable | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._load, args=(build,), name="intelbot-embedder-load", daemon=True)
        self._thread.start()

    def _load(self, build: Callable[[], Embedder]) -> None:
        started = time.perf_counter()
        try:
            inner = build()
            if inner.name != self.name or inner.dimensions != self.dimensions:
                raise EmbedderUnavailable(
                    f"the loaded embedder is {inner.name} ({inner.dimensions} dimensions), "
                    f"expected {self.name} ({self.dimensions})",
                    key="embedding.model",
                )
            self._inner = inner
            self.load_seconds = time.perf_counter() - started
            log.info("embedding: %s ready (loaded in %.2f s, in the background)", self.description, self.load_seconds)
        except EmbedderUnavailable as error:
            self._error = error
            log.warning("embedding: %s failed to load: %s", self.description, error.message)
        except Exception as error:  # noqa: BLE001 - any failure of a third-party loader: the embedder is unusable, say why
            self._error = EmbedderUnavailable(
                f"{self.description} failed to load: {type(error).__name__}: {error}", key="embedding.backend"
            )
            log.warning("embedding: %s", self._error.message)
        finally:
            self._done.set()

    @property
    def state(self) -> LoadState:
        if not self._done.is_set():
            return "loading"
        return "ready" if self._inner is not None else "failed"

    @property
    def error(self) -> EmbedderUnavailable | None:
        """Why the load failed (None while loading or once ready)."""
        return self._error

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True when the model is loaded within ``timeout`` seconds (default ``wait_seconds``; ``math.inf``: until
        the load ends); False when it is still loading then, or failed."""
        if not self._done.is_set():
            limit = self.wait_seconds if timeout is None else timeout
            if limit > 0:
                await asyncio.to_thread(self._done.wait, None if math.isinf(limit) else limit)
        return self._inner is not None

    def wait_ready_blocking(self, timeout: float | None = None) -> bool:
        """:meth:`wait_ready` for synchronous callers (benchmarks, scripts)."""
        self._done.wait(timeout)
        return self._inner is not None

    async def embed(self, texts: list[str]) -> Vectors:
        """Vectors for ``texts``, waiting for the load if it has not finished; EmbedderUnavailable if it failed."""
        if not self._done.is_set():
            await asyncio.to_thread(self._done.wait)
        if self._inner is None:
            assert self._error is not None
            raise self._error
        return await self._inner.embed(texts)

    @property
    def inner(self) -> Embedder | None:
        """The loaded embedder (None until ready)."""
        return self._inner


async def wait_until_ready(embedder: Embedder, timeout: float | None = None) -> bool:
    """Whether ``embedder`` can give a vector now, after waiting at most ``timeout`` for a background load.

    Embedders that load when constructed are always ready. ``timeout`` None means
    the embedder's own ``wait_seconds`` (``embedding.load_wait_seconds``).
    """
    if isinstance(embedder, BackgroundEmbedder):
        return await embedder.wait_ready(timeout)
    return True
