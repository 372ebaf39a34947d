"""Long-term memory: retrieval quality on labelled question pairs, and the local index at scale.

    nice .venv/bin/python benchmarks/memory.py /work/shared/data/qqp-pairs-dev.jsonl --json

Quality: every distinct ``q1`` of the first ``--pairs`` lines is stored as a memory of one
guild; each ``q2`` of a duplicate pair is a query, and a hit is any stored question of its
duplicate group (duplicate pairs joined transitively, as the cache benchmark groups them).
Recall@1/5/10 for exact search, the approximate local index (HNSW int8 for every scope) and
hybrid (vector + FTS5 keyword), the overlap of the approximate top 10 with the exact top 10,
and the same searches through weaviate-client against the loopback Weaviate. The loopback
searches exactly and in Python: its figures measure the client path and our code, not
Weaviate's own speed or its HNSW.

Scale: the local index alone (one scope, no embedding, no database read) at each ``--sizes``
entry count, on clustered vectors (real question vectors plus small noise): query p50/p99,
top-10 overlap with exact search, bytes per entry, and the exact NumPy scan of the same
vectors as the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measures import percentile

from intelbot.data.database import Database
from intelbot.embedding import Embedder, embedder_from_settings, l2_normalize
from intelbot.testing.weaviate import LoopbackWeaviate
from intelbot_memory.local.backend import LocalBackend
from intelbot_memory.local.vector_index import Owner, ScopeIndex
from intelbot_memory.records import Memory, MemorySearch, Scope
from intelbot_memory.settings import WeaviateSettings
from intelbot_memory.weaviate_backend.backend import WeaviateBackend

GUILD = Scope(1)


def read_pairs(path: Path, limit: int) -> list[tuple[str, str, bool]]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("q1"), str) or not isinstance(row.get("q2"), str):
            raise SystemExit(f"{path}:{number}: q1 and q2 must be strings")
        pairs.append((row["q1"].strip(), row["q2"].strip(), row.get("duplicate") == 1))
        if len(pairs) >= limit:
            break
    return pairs


def duplicate_groups(pairs: list[tuple[str, str, bool]]) -> dict[str, str]:
    """Question -> representative of its duplicate group (union-find over duplicate pairs)."""
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        parent.setdefault(text, text)
        while parent[text] != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for q1, q2, duplicate in pairs:
        root(q1), root(q2)
        if duplicate:
            parent[root(q1)] = root(q2)
    return {text: root(text) for text in parent}


async def quality(pairs: list[tuple[str, str, bool]], embedder: Embedder, queries_max: int) -> dict[str, Any]:
    groups = duplicate_groups(pairs)
    stored_texts = list(dict.fromkeys(q1 for q1, _, _ in pairs))
    queries = list(dict.fromkeys(q2 for q1, q2, duplicate in pairs if duplicate and q2 not in set(stored_texts)))
    queries = queries[:queries_max]
    vectors = await embedder.embed(stored_texts)
    query_vectors = await embedder.embed(queries)
    memories = [Memory(text, GUILD, user_id=1, created_at=0.0) for text in stored_texts]
    group_of_id = {memory.id: groups[memory.text] for memory in memories}
    results: dict[str, Any] = {"memories": len(memories), "queries": len(queries)}
    tops: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        database = Database(f"sqlite+aiosqlite:///{directory}/bench.db")
        local = LocalBackend(database, embedder, Path(directory) / "index", exact_below=0)
        await local.open()
        await local.add(memories, vectors)
        for label, mode in (("local exact", "exact"), ("local approximate", "vector"), ("local hybrid", "hybrid")):
            tops[label] = await run_queries(local, queries, query_vectors, mode)
        await local.close()
        await database.dispose()
    async with LoopbackWeaviate() as server:
        settings = WeaviateSettings(http_port=server.http_port, grpc_port=server.grpc_port, timeout_seconds=60)
        remote = WeaviateBackend(settings, embedder)
        await remote.open()
        for start in range(0, len(memories), 500):
            await remote.add(memories[start : start + 500], vectors[start : start + 500])
        for label, mode in (("weaviate vector", "vector"), ("weaviate hybrid", "hybrid")):
            tops[label] = await run_queries(remote, queries, query_vectors, mode)
        await remote.close()
    rows = {}
    for label, found in tops.items():
        recalls = {}
        for k in (1, 5, 10):
            hits = sum(
                any(group_of_id[memory_id] == groups[query] for memory_id in top[:k])
                for query, top in zip(queries, found, strict=True)
            )
            recalls[f"recall@{k}"] = round(hits / len(queries), 4)
        overlap = np.mean(
            [
                len(set(a[:10]) & set(b[:10])) / max(1, len(b[:10]))
                for a, b in zip(found, tops["local exact"], strict=True)
            ]
        )
        rows[label] = {**recalls, "top10_overlap_with_exact": round(float(overlap), 4)}
    results["rows"] = rows
    return results


async def run_queries(backend: Any, queries: list[str], vectors: np.ndarray, mode: str) -> list[list[str]]:
    found = []
    for text, vector in zip(queries, vectors, strict=True):
        hits = await backend.search(MemorySearch(GUILD, vector, text=text, limit=10, mode=mode, now=1.0))
        found.append([hit.memory.id for hit in hits])
    return found


def scale(
    base: np.ndarray, sizes: list[int], queries: int, expansions: list[int], seed: int = 7
) -> list[dict[str, Any]]:
    """The local index at each size and search expansion, on real vectors plus noise (clusters around each question).

    One graph is built per size; each ``expansions`` entry is measured on it with the same queries.
    """
    generator = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        picks = generator.integers(0, len(base), size)
        vectors = l2_normalize(base[picks] + generator.normal(0, 0.02, (size, base.shape[1])).astype(np.float32))
        index = ScopeIndex(base.shape[1], exact_below=0)
        started = time.perf_counter()
        owner = Owner(1, "fact", None)
        for start in range(0, size, 10_000):
            chunk = range(start, min(size, start + 10_000))
            index.add(list(chunk), vectors[start : start + len(chunk)], [owner] * len(chunk))
        build_seconds = time.perf_counter() - started
        probe = l2_normalize(
            base[generator.integers(0, len(base), queries)]
            + generator.normal(0, 0.02, (queries, base.shape[1])).astype(np.float32)
        )
        exact, exact_tops = [], []
        for vector in probe:
            started = time.perf_counter()
            similarities = vectors @ vector
            top = np.argpartition(-similarities, 10)[:10]
            exact.append(time.perf_counter() - started)
            exact_tops.append(set(top.tolist()))
        quantised = [  # the ceiling int8 vectors allow: usearch's brute force over the same graph's vectors
            len({key for key, _ in index.search(vector, 10, exact=True)} & expected) / 10
            for vector, expected in zip(probe, exact_tops, strict=True)
        ]
        for expansion in expansions:
            index.graph.expansion_search = expansion  # type: ignore[misc]  # usearch has the setter apart
            approximate, overlaps = [], []
            for vector, expected in zip(probe, exact_tops, strict=True):
                started = time.perf_counter()
                found = index.search(vector, 10)
                approximate.append(time.perf_counter() - started)
                overlaps.append(len({key for key, _ in found} & expected) / 10)
            rows.append(
                {
                    "entries": size,
                    "expansion_search": expansion,
                    "build_seconds": round(build_seconds, 2),
                    "hnsw_p50_ms": round(percentile(approximate, 0.5) * 1000, 3),
                    "hnsw_p99_ms": round(percentile(approximate, 0.99) * 1000, 3),
                    "exact_p50_ms": round(percentile(exact, 0.5) * 1000, 3),
                    "exact_p99_ms": round(percentile(exact, 0.99) * 1000, 3),
                    "speedup_p50": round(percentile(exact, 0.5) / percentile(approximate, 0.5), 1),
                    "top10_overlap": round(float(np.mean(overlaps)), 4),
                    "int8_exact_top10_overlap": round(float(np.mean(quantised)), 4),
                    "index_bytes_per_entry": round(index.memory_bytes() / size, 1),
                    "float32_bytes_per_entry": base.shape[1] * 4,
                }
            )
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", type=Path, help="JSON lines with q1, q2, duplicate")
    parser.add_argument("--pairs-limit", type=int, default=4000, help="read this many lines (default 4000)")
    parser.add_argument("--queries", type=int, default=600, help="at most this many queries (default 600)")
    parser.add_argument("--sizes", default="10000,100000", help="entry counts for the scale test")
    parser.add_argument("--scale-queries", type=int, default=300)
    parser.add_argument(
        "--expansion-search", default="128", help="search expansions to measure on each graph (the index uses 128)"
    )
    parser.add_argument(
        "--scale-only", action="store_true", help="skip the quality part (the pairs still give the base vectors)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    embedder = embedder_from_settings(None, {"backend": "sentence-transformers"})
    if embedder is None:
        raise SystemExit("the bundled all-MiniLM-L6-v2 embedder is not available")
    pairs = read_pairs(args.pairs, args.pairs_limit)
    figures: dict[str, Any] = {"file": str(args.pairs), "pairs": len(pairs), "embedder": embedder.name}
    if not args.scale_only:
        figures["quality"] = await quality(pairs, embedder, args.queries)
    base = await embedder.embed(list(dict.fromkeys(q1 for q1, _, _ in pairs)))
    figures["base_questions"] = len(base)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    expansions = [int(value) for value in args.expansion_search.split(",") if value]
    figures["scale"] = scale(base, sizes, args.scale_queries, expansions)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    if "quality" in figures:
        quality_figures = figures["quality"]
        print(f"{figures['pairs']} pairs, {quality_figures['memories']} memories, {quality_figures['queries']} queries")
        for label, row in quality_figures["rows"].items():
            print(f"{label:<20} " + "  ".join(f"{key} {value}" for key, value in row.items()))
    for row in figures["scale"]:
        print("  ".join(f"{key} {value}" for key, value in row.items()))


if __name__ == "__main__":
    asyncio.run(main())
