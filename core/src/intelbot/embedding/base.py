"""The embedder interface shared by the semantic cache and long-term memory.

An embedder turns texts into L2-normalized float32 vectors, so a dot product is a
cosine similarity. :class:`EmbedderBase` gives every backend the same behaviour:
duplicate texts in a call are embedded once, texts are sent to the backend in
batches of ``batch_size``, and a small LRU keeps the most recent embeddings so a
text asked for twice (the cache's lookup, then its store) is embedded once.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from intelbot.errors import ConfigurationError

Vectors = npt.NDArray[np.float32]


class EmbedderUnavailable(ConfigurationError):
    """The configured embedder cannot run here (package missing, model not found or not downloadable)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``embed(texts)`` returns an array of shape ``(len(texts), dimensions)``, dtype
    float32, each row of L2 norm 1 (a text that embeds to zero stays zero), in the
    order of ``texts``. ``name`` identifies backend and model (for logs and stats).
    """

    name: str
    dimensions: int

    async def embed(self, texts: list[str]) -> Vectors: ...


def l2_normalize(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length, as float32; zero rows are left at zero."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def quantize_int8(vectors: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """int8 rows with the largest component of each row at +-127 (cosine does not see the per-row scale).

    What the approximate indexes (the cache's, memory's) store: a quarter of float32's bytes.
    """
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows.reshape(1, -1)
    peaks = np.abs(rows).max(axis=1, keepdims=True)
    peaks[peaks == 0] = 1.0
    quantized: npt.NDArray[np.int8] = np.round(rows / peaks * 127.0).astype(np.int8)
    return quantized


class EmbeddingLRU:
    """The ``capacity`` most recently used text -> vector pairs (thread-safe; capacity 0 keeps nothing)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._entries: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> Vectors | None:
        with self._lock:
            vector = self._entries.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._entries.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: Vectors) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._entries[text] = vector
            self._entries.move_to_end(text)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class EmbedderBase(ABC):
    """Batching, de-duplication and the LRU around a backend's ``_embed_batch``.

    Subclasses set ``name`` and ``dimensions`` and implement ``_embed_batch``, which
    receives at most ``batch_size`` distinct texts and returns one row per text
    (normalization is done here).
    """

    name: str = "embedder"
    dimensions: int = 0

    def __init__(self, *, batch_size: int = 64, lru_size: int = 1024) -> None:
        if batch_size <= 0:
            raise ConfigurationError(f"batch_size must be > 0, got {batch_size}", key="embedding.batch_size")
        self.batch_size = batch_size
        self.lru = EmbeddingLRU(lru_size)

    @abstractmethod
    async def _embed_batch(self, texts: list[str]) -> npt.ArrayLike:
        """Vectors for ``texts`` (not necessarily normalized), one row per text."""

    async def embed(self, texts: list[str]) -> Vectors:
        result = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for position, text in enumerate(texts):
            cached = self.lru.get(text)
            if cached is not None:
                result[position] = cached
            else:
                missing.setdefault(text, []).append(position)
        pending = list(missing)
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            vectors = l2_normalize(await self._embed_batch(batch))
            if vectors.shape != (len(batch), self.dimensions):
                raise EmbedderUnavailable(
                    f"embedder {self.name} returned shape {vectors.shape}, expected ({len(batch)}, {self.dimensions})"
                )
            for text, vector in zip(batch, vectors, strict=True):
                self.lru.put(text, vector)
                result[missing[text]] = vector
        return result


class ThreadedEmbedderBase(EmbedderBase):
    """An embedder whose backend is a blocking call: it runs in a worker thread, one batch at a time."""

    def __init__(self, *, batch_size: int = 64, lru_size: int = 1024) -> None:
        super().__init__(batch_size=batch_size, lru_size=lru_size)
        self._serial = threading.Lock()

    @abstractmethod
    def _embed_blocking(self, texts: list[str]) -> npt.ArrayLike:
        """Vectors for ``texts``; called in a worker thread."""

    def _locked_embed(self, texts: list[str]) -> npt.ArrayLike:
        with self._serial:
            return self._embed_blocking(texts)

    async def _embed_batch(self, texts: list[str]) -> npt.ArrayLike:
        return await asyncio.to_thread(self._locked_embed, texts)
