"""Exact rescoring of the int8 graph's candidates with the float32 vectors of their database rows.

The graph ranks by the cosine of int8 vectors, which can swap close neighbours (and, at a
million entries, lose some). A search therefore asks the graph for more candidates than it
returns (:func:`candidate_count`), reads those candidates' rows (their float32 vectors
included, in the same SELECT that fetches the results) and ranks them by the exact cosine
(:func:`exact_cosines`). The vectors are read from the rows rather than kept in RAM: no
extra memory per entry, at the price of reading ``candidate_count`` rows instead of
``limit`` (measured in benchmarks/memory.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

PER_RESULT = 4  # with a large limit, still this many candidates per result


def candidate_count(limit: int, rescore_candidates: int) -> int:
    """How many graph candidates to rescore for ``limit`` results: ``max(rescore_candidates, 4 * limit)``; 0 = none."""
    if rescore_candidates <= 0:
        return 0
    return max(rescore_candidates, PER_RESULT * limit)


def exact_cosines(vectors: Mapping[int, bytes | memoryview], query: npt.ArrayLike) -> dict[int, float]:
    """The cosine of ``query`` to each float32 vector (raw bytes of a row's ``vector`` column), by key."""
    if not vectors:
        return {}
    keys = list(vectors)
    rows = np.vstack([np.frombuffer(vectors[key], dtype=np.float32) for key in keys]).astype(np.float64)
    unit = np.asarray(query, dtype=np.float64).reshape(-1)
    unit = unit / max(float(np.linalg.norm(unit)), 1e-12)
    norms = np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
    products = (rows @ unit) / norms
    return {key: float(value) for key, value in zip(keys, products.tolist(), strict=True)}
