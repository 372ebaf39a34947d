"""How hybrid search combines vector and keyword scores (both backends' rankings use this definition).

``fuse``: ``alpha * cosine + (1 - alpha) * keyword / best keyword``, the cosine clipped to
[0, 1] and the keyword score scaled so the best keyword match of the search counts 1.
A memory found by one side only gets 0 from the other.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)


def fuse(similarity: Mapping[Key, float], keyword: Mapping[Key, float], alpha: float) -> dict[Key, float]:
    """Hybrid scores in [0, 1] of every key in either mapping."""
    best = max(keyword.values(), default=0.0)
    scores: dict[Key, float] = {}
    for key in set(similarity) | set(keyword):
        vector_part = min(1.0, max(0.0, similarity.get(key, 0.0)))
        keyword_part = keyword.get(key, 0.0) / best if best > 0 else 0.0
        scores[key] = alpha * vector_part + (1.0 - alpha) * keyword_part
    return scores
