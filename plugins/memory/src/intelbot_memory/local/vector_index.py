"""One scope's vectors in a usearch HNSW graph over int8 vectors (cosine), with the owner of each key.

Each scope (a guild, or one user's direct messages) has its own graph, so a search
never visits another scope's vectors and a small guild gets its full ``k`` however
large the others are. Scopes smaller than ``exact_below`` are searched exactly
(brute force over the same int8 vectors). A search narrowed to one user, some kinds
or unexpired memories asks the graph for more candidates until ``limit`` of them
pass or the whole scope has been looked at, then falls back to an exact scan.

Vectors are quantised with their own scale (largest component -> 127), which the
cosine metric ignores; that keeps far more precision than scaling unit vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from intelbot.embedding import Vectors, l2_normalize
from intelbot.embedding.base import quantize_int8

CONNECTIVITY = 32
EXPANSION_ADD = 64
EXPANSION_SEARCH = 256


@dataclass(frozen=True, slots=True)
class Owner:
    """What a search may filter on without reading the database."""

    user_id: int | None
    kind: str
    expires_at: float | None


Accept = Callable[[Owner], bool]


class ScopeIndex:
    """The HNSW graph of one scope and the owners of its keys (row ids of ``memory_entries``)."""

    def __init__(
        self,
        dimensions: int,
        *,
        expansion_search: int = EXPANSION_SEARCH,
        exact_below: int = 256,
        connectivity: int = CONNECTIVITY,
        expansion_add: int = EXPANSION_ADD,
    ) -> None:
        from usearch.index import Index

        self.dimensions = dimensions
        self.exact_below = exact_below
        self.graph = Index(
            ndim=dimensions,
            metric="cos",
            dtype="i8",
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        self.owners: dict[int, Owner] = {}

    def __len__(self) -> int:
        return len(self.owners)

    def add(self, keys: Iterable[int], vectors: Vectors, owners: Iterable[Owner]) -> None:
        """Add (or replace) ``keys`` with their unit ``vectors``."""
        key_array = np.asarray(list(keys), dtype=np.uint64)
        if len(key_array) == 0:
            return
        self.remove(int(key) for key in key_array if int(key) in self.owners)
        self.graph.add(key_array, quantize_int8(vectors).reshape(len(key_array), self.dimensions), threads=1)
        for key, owner in zip(key_array.tolist(), owners, strict=True):
            self.owners[int(key)] = owner

    def remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            if self.owners.pop(int(key), None) is not None:
                self.graph.remove(int(key))

    def keys(self) -> npt.NDArray[np.int64]:
        """The keys held, sorted."""
        return np.sort(np.fromiter(self.owners, dtype=np.int64, count=len(self.owners)))

    def similarities(self, keys: list[int], vector: Vectors) -> list[float]:
        """Cosine of ``vector`` to each held key's (int8) vector."""
        if not keys:
            return []
        rows = np.vstack([np.asarray(self.graph.get(key, dtype="f32"), dtype=np.float32) for key in keys])
        products = l2_normalize(rows) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        return [float(value) for value in products]

    def search(
        self, vector: Vectors, limit: int, accept: Accept | None = None, *, exact: bool = False
    ) -> list[tuple[int, float]]:
        """Up to ``limit`` (key, cosine) pairs whose owner passes ``accept``, best first."""
        size = len(self.owners)
        if size == 0 or limit <= 0:
            return []
        exact = exact or size < self.exact_below
        query = quantize_int8(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        count = min(size, limit if accept is None else limit * 4)
        while True:
            matches = self.graph.search(query, count, exact=exact)
            found = [
                (int(key), float(1.0 - distance))
                for key, distance in zip(
                    np.asarray(matches.keys).tolist(), np.asarray(matches.distances).tolist(), strict=True
                )
                if int(key) in self.owners and (accept is None or accept(self.owners[int(key)]))
            ]
            if len(found) >= limit:
                return found[:limit]
            if count >= size:
                if exact:
                    return found
                exact = True  # the graph may not reach every node: finish with a scan
                continue
            count = min(size, count * 4)

    def save(self, path: Path) -> None:
        """Write the graph to ``path`` atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        self.graph.save(str(temporary))
        temporary.replace(path)

    def restore(self, path: Path, owners: dict[int, Owner]) -> bool:
        """Load the graph saved at ``path`` if it holds exactly the keys of ``owners``; False (and empty) otherwise."""
        from usearch.index import Index

        try:
            graph = Index.restore(str(path))
        except (OSError, RuntimeError, ValueError):
            return False
        if graph is None or graph.ndim != self.dimensions or len(graph) != len(owners):
            return False
        held = np.sort(np.asarray(graph.keys, dtype=np.int64))
        if not np.array_equal(held, np.sort(np.fromiter(owners, dtype=np.int64, count=len(owners)))):
            return False
        graph.expansion_search = self.graph.expansion_search  # type: ignore[misc]  # usearch has the setter apart
        self.graph = graph
        self.owners = dict(owners)
        return True

    def memory_bytes(self) -> int:
        return int(self.graph.memory_usage)
