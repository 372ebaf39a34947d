"""Vector indexes, selectable by name: ``exact``, ``approximate`` and ``hybrid``.

All three map an entry id (int64) to a unit vector and answer "the k entries most
similar to this vector" as (ids, cosine similarities), best first.

- ``exact``: float32 vectors in one NumPy matrix; a lookup is one matrix-vector
  product, O(n) — exact, and fast while n is small.
- ``approximate``: an HNSW graph (usearch) over int8-quantized vectors; a lookup
  visits O(log n) nodes. Similarities are those of the int8 vectors. Each vector is
  quantized here with its own scale (largest component -> 127), which the cosine
  metric ignores; that keeps about 10 times more precision than quantizing unit
  vectors directly (mean cosine error about 0.0003 on MiniLM vectors).
- ``hybrid`` (default): exact while the index holds at most ``switch_at`` entries;
  above that it also builds the HNSW graph, asks it for ``oversample`` times
  ``k`` candidates in O(log n), and re-scores those candidates exactly against
  the float32 vectors, so the similarities it returns are exact.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from intelbot.embedding import Vectors, l2_normalize
from intelbot.embedding.base import quantize_int8

IdArray = npt.NDArray[np.int64]
INDEX_KINDS = ("exact", "approximate", "hybrid")
# HNSW defaults, chosen by the scale sweep of benchmarks/semantic_cache.py (see the plugin README)
DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 64


class VectorIndex(Protocol):
    """What the cache needs from an index. Adding an id that is present replaces its vector."""

    kind: str
    dimensions: int

    def add(self, ids: IdArray, vectors: Vectors) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def search(self, vector: Vectors, k: int) -> tuple[IdArray, npt.NDArray[np.float32]]: ...

    def __len__(self) -> int: ...

    def ids(self) -> IdArray: ...

    def vectors_of(self, ids: IdArray) -> Vectors: ...

    def memory_bytes(self) -> int: ...

    def dump(self) -> dict[str, npt.NDArray[np.generic]]: ...


class ExactIndex:
    """Brute force over a float32 matrix that grows by doubling; removal moves the last row into the hole."""

    kind = "exact"

    def __init__(self, dimensions: int, capacity: int = 16) -> None:
        self.dimensions = dimensions
        self._vectors = np.zeros((max(capacity, 1), dimensions), dtype=np.float32)
        self._ids = np.zeros(max(capacity, 1), dtype=np.int64)
        self._rows: dict[int, int] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _grow(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        vectors = np.zeros((capacity, self.dimensions), dtype=np.float32)
        vectors[: self._count] = self._vectors[: self._count]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._count] = self._ids[: self._count]
        self._vectors, self._ids = vectors, ids

    def add(self, ids: IdArray, vectors: Vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimensions)
        self._grow(self._count + len(ids))
        for entry_id, vector in zip(ids.tolist(), vectors, strict=True):
            row = self._rows.get(entry_id)
            if row is None:
                row = self._count
                self._count += 1
                self._rows[entry_id] = row
                self._ids[row] = entry_id
            self._vectors[row] = vector

    def remove(self, ids: Iterable[int]) -> None:
        for entry_id in ids:
            row = self._rows.pop(int(entry_id), None)
            if row is None:
                continue
            last = self._count - 1
            if row != last:
                moved = int(self._ids[last])
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._count = last

    def vectors_of(self, ids: IdArray) -> Vectors:
        """The stored float32 vectors of ``ids`` (all must be present)."""
        rows = [self._rows[int(entry_id)] for entry_id in ids]
        return self._vectors[rows]

    def __contains__(self, entry_id: int) -> bool:
        return int(entry_id) in self._rows

    def search(self, vector: Vectors, k: int) -> tuple[IdArray, npt.NDArray[np.float32]]:
        if self._count == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        similarities = self._vectors[: self._count] @ np.asarray(vector, dtype=np.float32).reshape(-1)
        top = np.argpartition(-similarities, k - 1)[:k] if self._count > k else np.arange(self._count)
        order = top[np.argsort(-similarities[top], kind="stable")]
        return self._ids[order].copy(), similarities[order].astype(np.float32)

    def ids(self) -> IdArray:
        """The ids held, sorted."""
        return np.sort(self._ids[: self._count])

    def memory_bytes(self) -> int:
        return int(self._vectors.nbytes + self._ids.nbytes + sys.getsizeof(self._rows))

    def dump(self) -> dict[str, npt.NDArray[np.generic]]:
        return {"ids": self._ids[: self._count].copy(), "vectors": self._vectors[: self._count].copy()}

    @classmethod
    def load(cls, arrays: dict[str, npt.NDArray[np.generic]], dimensions: int) -> ExactIndex:
        ids = np.asarray(arrays["ids"], dtype=np.int64)
        vectors = np.asarray(arrays["vectors"], dtype=np.float32)
        if vectors.shape != (len(ids), dimensions):
            raise ValueError(f"vectors have shape {vectors.shape}, expected ({len(ids)}, {dimensions})")
        index = cls(dimensions, capacity=max(len(ids), 16))
        index.add(ids, vectors)
        return index


class ApproximateIndex:
    """HNSW graph from usearch over int8 vectors (cosine metric); ``dtype="f32"`` keeps float32 (for comparisons)."""

    kind = "approximate"

    def __init__(
        self,
        dimensions: int,
        *,
        connectivity: int = DEFAULT_CONNECTIVITY,
        expansion_add: int = DEFAULT_EXPANSION_ADD,
        expansion_search: int = 128,
        threads: int = 0,
        dtype: str = "i8",
    ) -> None:
        from usearch.index import Index

        self.dimensions = dimensions
        self.threads = threads
        self.quantized = dtype == "i8"
        self._index = Index(
            ndim=dimensions,
            metric="cos",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )

    def __len__(self) -> int:
        return int(self._index.size)

    @property
    def expansion_search(self) -> int:
        """How many candidates a search keeps in play (HNSW ``ef``): more is slower and finds more."""
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = value  # type: ignore[misc]  # usearch defines the setter apart from the property

    def add(self, ids: IdArray, vectors: Vectors) -> None:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) == 0:
            return
        present = [int(entry_id) for entry_id in ids if self._index.contains(int(entry_id))]
        if present:
            self.remove(present)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dimensions)
        self._index.add(ids.astype(np.uint64), self._encode(vectors), threads=self.threads)

    def _encode(self, vectors: Vectors) -> npt.NDArray[np.generic]:
        return quantize_int8(vectors) if self.quantized else np.asarray(vectors, dtype=np.float32)

    def remove(self, ids: Iterable[int]) -> None:
        for entry_id in ids:
            if self._index.contains(int(entry_id)):
                self._index.remove(int(entry_id))

    def search(self, vector: Vectors, k: int) -> tuple[IdArray, npt.NDArray[np.float32]]:
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        matches = self._index.search(self._encode(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0], k)
        ids = np.asarray(matches.keys, dtype=np.int64)
        similarities = (1.0 - np.asarray(matches.distances, dtype=np.float32)).astype(np.float32)
        return ids, similarities

    def ids(self) -> IdArray:
        return np.sort(np.asarray(self._index.keys, dtype=np.int64))

    def vectors_of(self, ids: IdArray) -> Vectors:
        """The stored vectors of ``ids`` (int8, so approximate), as unit float32 rows."""
        rows: list[Any] = [self._index.get(int(entry_id), dtype="f32") for entry_id in ids]
        return l2_normalize(np.vstack(rows))

    def memory_bytes(self) -> int:
        return int(self._index.memory_usage)

    def dump(self) -> dict[str, npt.NDArray[np.generic]]:
        buffer = self._index.save()
        assert buffer is not None  # save() without a path returns the bytes
        return {"graph": np.frombuffer(bytes(buffer), dtype=np.uint8)}

    @classmethod
    def load(
        cls,
        arrays: dict[str, npt.NDArray[np.generic]],
        dimensions: int,
        *,
        threads: int = 0,
        expansion_search: int = 128,
    ) -> ApproximateIndex:
        from usearch.index import Index

        restored = Index.restore(np.asarray(arrays["graph"], dtype=np.uint8).tobytes())
        if restored is None or restored.ndim != dimensions:
            raise ValueError("the HNSW graph cannot be restored or has other dimensions")
        index = cls(dimensions, threads=threads, dtype=str(restored.dtype).rsplit(".", 1)[-1].lower())
        index._index = restored
        index.expansion_search = expansion_search
        return index


class HybridIndex:
    """Exact up to ``switch_at`` entries; above, HNSW candidates re-scored exactly (see the module docstring)."""

    kind = "hybrid"

    def __init__(
        self,
        dimensions: int,
        *,
        switch_at: int = 20_000,
        oversample: int = 4,
        threads: int = 0,
        expansion_search: int = 128,
    ) -> None:
        self.dimensions = dimensions
        self.switch_at = switch_at
        self.expansion_search = expansion_search
        self.oversample = max(1, oversample)
        self.threads = threads
        self.exact = ExactIndex(dimensions)
        self.graph: ApproximateIndex | None = None

    def __len__(self) -> int:
        return len(self.exact)

    def add(self, ids: IdArray, vectors: Vectors) -> None:
        self.exact.add(ids, vectors)
        if self.graph is not None:
            self.graph.add(ids, vectors)
        elif len(self.exact) > self.switch_at:
            self.graph = self.build_graph()

    def switches_after(self, added: int) -> bool:
        """True when adding ``added`` entries takes this index past ``switch_at``."""
        return len(self.exact) + added > self.switch_at

    def build_graph(self) -> ApproximateIndex:
        """An HNSW graph over a snapshot of the vectors held now (safe to run in a worker thread)."""
        arrays = self.exact.dump()
        graph = ApproximateIndex(self.dimensions, threads=self.threads, expansion_search=self.expansion_search)
        graph.add(np.asarray(arrays["ids"], dtype=np.int64), np.asarray(arrays["vectors"], dtype=np.float32))
        return graph

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        self.exact.remove(ids)
        if self.graph is not None:
            self.graph.remove(ids)

    def search(self, vector: Vectors, k: int) -> tuple[IdArray, npt.NDArray[np.float32]]:
        if self.graph is None:
            return self.exact.search(vector, k)
        candidates, _ = self.graph.search(vector, k * self.oversample)
        if len(candidates) == 0:
            return candidates, np.zeros(0, dtype=np.float32)
        similarities = self.exact.vectors_of(candidates) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        order = np.argsort(-similarities, kind="stable")[:k]
        return candidates[order], similarities[order].astype(np.float32)

    def ids(self) -> IdArray:
        return self.exact.ids()

    def vectors_of(self, ids: IdArray) -> Vectors:
        return self.exact.vectors_of(ids)

    def memory_bytes(self) -> int:
        return self.exact.memory_bytes() + (self.graph.memory_bytes() if self.graph is not None else 0)

    def dump(self) -> dict[str, npt.NDArray[np.generic]]:
        arrays = self.exact.dump()
        if self.graph is not None:
            arrays.update(self.graph.dump())
        return arrays

    @classmethod
    def load(
        cls,
        arrays: dict[str, npt.NDArray[np.generic]],
        dimensions: int,
        *,
        switch_at: int = 20_000,
        threads: int = 0,
        expansion_search: int = 128,
    ) -> HybridIndex:
        index = cls(dimensions, switch_at=switch_at, threads=threads, expansion_search=expansion_search)
        index.exact = ExactIndex.load(arrays, dimensions)
        if "graph" in arrays:
            index.graph = ApproximateIndex.load(arrays, dimensions, threads=threads, expansion_search=expansion_search)
            if len(index.graph) != len(index.exact):
                raise ValueError("the HNSW graph and the vectors hold different counts")
        elif len(index.exact) > switch_at:
            index.graph = index.build_graph()
        return index


def new_index(
    kind: str, dimensions: int, *, switch_at: int = 20_000, threads: int = 0, expansion_search: int = 128
) -> VectorIndex:
    """An empty index of ``kind`` (one of :data:`INDEX_KINDS`)."""
    if kind == "exact":
        return ExactIndex(dimensions)
    if kind == "approximate":
        return ApproximateIndex(dimensions, threads=threads, expansion_search=expansion_search)
    if kind == "hybrid":
        return HybridIndex(dimensions, switch_at=switch_at, threads=threads, expansion_search=expansion_search)
    raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")


def load_index(
    kind: str,
    arrays: dict[str, npt.NDArray[np.generic]],
    dimensions: int,
    *,
    switch_at: int = 20_000,
    threads: int = 0,
    expansion_search: int = 128,
) -> VectorIndex:
    """Rebuild an index of ``kind`` from what its ``dump()`` returned; ValueError when the arrays do not fit."""
    if kind == "exact":
        return ExactIndex.load(arrays, dimensions)
    if kind == "approximate":
        return ApproximateIndex.load(arrays, dimensions, threads=threads, expansion_search=expansion_search)
    if kind == "hybrid":
        return HybridIndex.load(
            arrays, dimensions, switch_at=switch_at, threads=threads, expansion_search=expansion_search
        )
    raise ValueError(f"unknown index kind {kind!r}")
