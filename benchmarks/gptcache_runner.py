"""Runs GPTCache on labelled pairs; executed by the GPTCache environment's Python, not the project's.

Called by ``semantic_cache.py quality``; prints one JSON object. GPTCache gets the
same all-MiniLM-L6-v2 vectors as intelbot's cache (computed once by the project's
environment and passed in ``--vectors``), through its ``embedding_func`` hook, and
otherwise runs as ``init_similar_cache`` sets it up: SQLite + FAISS (exact L2),
``SearchDistanceEvaluation`` and the given ``similarity_threshold`` (GPTCache's
default is 0.8). Only its capacity is raised (``max_size``, default 1,000 entries
with LRU eviction) so that it holds every ``q1``, as the protocol requires.

Output: ``{"lookups": [[entry_row or -1, rank], ...], "seconds": ...}`` where
``entry_row`` is the row (in the slice) whose q1 was returned for that row's q2
and ``rank`` GPTCache's own score (0..4, higher is closer).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
from gptcache import Cache, Config
from gptcache.adapter.api import get, init_similar_cache, put
from gptcache.manager import manager_factory


def embedding_text(text: str) -> str:
    return " ".join(text.split())


class PrecomputedEmbedding:
    """GPTCache's embedding interface over vectors computed by the project's embedder."""

    def __init__(self, path: str) -> None:
        with np.load(path, allow_pickle=False) as archive:
            texts = json.loads(bytes(archive["texts"]).decode("utf-8"))
            self.vectors = np.asarray(archive["vectors"], dtype=np.float32)
        self.row = {text: position for position, text in enumerate(texts)}
        self.dimension = int(self.vectors.shape[1])

    def to_embeddings(self, data: str, **_: object) -> np.ndarray:
        return self.vectors[self.row[embedding_text(data)]]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument(
        "--threshold", type=float, default=None, help="GPTCache similarity_threshold (default: its own)"
    )
    arguments = parser.parse_args()

    with open(arguments.pairs, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    rows = rows[arguments.start : arguments.end]
    embedding = PrecomputedEmbedding(arguments.vectors)
    config = Config() if arguments.threshold is None else Config(similarity_threshold=arguments.threshold)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        cache = Cache()
        # GPTCache keeps 1,000 entries by default (LRU) and the protocol needs every q1 in the cache. For
        # "sqlite,faiss" the capacity is read from eviction_params, not from manager_factory's own max_size.
        data_manager = manager_factory(
            "sqlite,faiss",
            data_dir=directory,
            vector_params={"dimension": embedding.dimension},
            eviction_params={"max_size": len(rows) + 1},
        )
        init_similar_cache(cache_obj=cache, embedding=embedding, data_manager=data_manager, config=config)
        first_row: dict[str, int] = {}
        for position, row in enumerate(rows):
            if row["q1"] not in first_row:
                first_row[row["q1"]] = position
                put(row["q1"], str(position), cache_obj=cache)
        lookups = []
        for row in rows:
            seen: list[float] = []
            answer = get(
                row["q2"], cache_obj=cache, hit_callback=lambda found, seen=seen: seen.extend(s for _, s in found)
            )
            if answer is None:
                lookups.append([-1, 0.0])
            else:
                lookups.append([int(answer), max(seen) * 4.0 if seen else 0.0])
    json.dump(
        {"lookups": lookups, "seconds": time.perf_counter() - started, "config_threshold": config.similarity_threshold},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
