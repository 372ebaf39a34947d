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

Scale: the local backend at each ``--sizes`` entry count (one guild, rows in a fresh SQLite
database on disk, the graph rebuilt from them by ``open``), on clustered vectors (real
question vectors plus small noise). Timed per query, embedding excluded: the graph alone, and
``LocalBackend.search`` as the plugin runs it (graph candidates, one SELECT of their rows with
the float32 vectors, exact rescoring) for each ``--rescore-candidates``, in vector mode and in
hybrid mode for each ``--keyword-budgets`` (the quality part runs hybrid for each too); p50/p99, top-10
overlap with the exact top 10, bytes per entry, and the exact NumPy scan of the same float32
vectors as the baseline measured in the same run. ``--pairs-skip`` takes the base questions
from a later part of the file, to choose settings on other rows than those reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measures import percentile

from intelbot.data.database import Database
from intelbot.embedding import Embedder, embedder_from_settings, l2_normalize
from intelbot.testing.weaviate import LoopbackWeaviate
from intelbot_memory.local.backend import LocalBackend
from intelbot_memory.local.keyword import MATCH_BUDGET
from intelbot_memory.local.tables import MEMORIES
from intelbot_memory.local.vector_index import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, ScopeIndex
from intelbot_memory.records import Memory, MemorySearch, Scope, SearchMode
from intelbot_memory.settings import WeaviateSettings
from intelbot_memory.weaviate_backend.backend import WeaviateBackend

GUILD = Scope(1)


def read_pairs(path: Path, limit: int, skip: int = 0) -> list[tuple[str, str, bool]]:
    """Up to ``limit`` (q1, q2, duplicate) pairs after the first ``skip`` lines."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if number <= skip or not line.strip():
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


async def quality(
    pairs: list[tuple[str, str, bool]], embedder: Embedder, queries_max: int, budgets: list[int]
) -> dict[str, Any]:
    """Recall@1/5/10 and top-10 overlap with exact search; local hybrid once per ``budgets`` value
    (``keyword_match_budget``), labelled with it when there are several."""
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
        for label, mode in (("local exact", "exact"), ("local approximate", "vector")):
            tops[label] = await run_queries(local, queries, query_vectors, mode)
        for budget in budgets:
            local.keyword_match_budget = budget
            label = "local hybrid" if len(budgets) == 1 else f"local hybrid, budget {budget}"
            tops[label] = await run_queries(local, queries, query_vectors, "hybrid")
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


def clustered(base: np.ndarray, size: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``size`` unit vectors: a random base question each (its index is returned too) plus N(0, 0.02) noise."""
    picks = generator.integers(0, len(base), size)
    noise = generator.normal(0, 0.02, (size, base.shape[1])).astype(np.float32)
    return picks, l2_normalize(base[picks] + noise)


async def write_rows(database: Database, texts: list[str], picks: np.ndarray, vectors: np.ndarray, name: str) -> None:
    """The rows of one guild, row id ``i + 1`` for vector ``i``, in bulk (the backend's ``add`` is per memory)."""
    for start in range(0, len(vectors), 10_000):
        rows = [
            {
                "id": number + 1,
                "uid": f"m{number}",
                "scope": GUILD.key,
                "guild_id": GUILD.guild_id,
                "user_id": 1,
                "channel_id": None,
                "kind": "fact",
                "text": texts[int(picks[number])],
                "created_at": 0.0,
                "expires_at": None,
                "vector": vectors[number].tobytes(),
                "embedder": name,
            }
            for number in range(start, min(len(vectors), start + 10_000))
        ]
        async with database.write_lock, database.engine.begin() as connection:
            await connection.execute(insert(MEMORIES), rows)


def graph_keys(index: ScopeIndex, vector: np.ndarray, *, exact: bool = False) -> list[int]:
    """The graph's own top 10 (int8 cosines, no rescoring, no database); ``exact``: usearch's brute force."""
    return [key for key, _ in index.search(vector, 10, exact=exact)]


def timed(run: Callable[[np.ndarray], list[int]], probe: np.ndarray, expected: list[set[int]]) -> dict[str, float]:
    """p50/p99 (ms) of ``run`` over the probe vectors and the mean top-10 overlap of its answers with ``expected``."""
    seconds, overlaps = [], []
    for vector, exact_top in zip(probe, expected, strict=True):
        started = time.perf_counter()
        found = run(vector)
        seconds.append(time.perf_counter() - started)
        overlaps.append(len(set(found[:10]) & exact_top) / 10)
    return {
        "p50_ms": round(percentile(seconds, 0.5) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
        "top10_overlap": round(float(np.mean(overlaps)), 4),
    }


def local_backend(database: Database, embedder: Embedder, index_dir: Path, graph: tuple[int, int]) -> LocalBackend:
    """The backend as the plugin makes it, every scope in a graph of ``graph`` = (connectivity, expansion_add)."""
    return LocalBackend(database, embedder, index_dir, exact_below=0, connectivity=graph[0], expansion_add=graph[1])


async def timed_backend(
    backend: LocalBackend, mode: SearchMode, probe: np.ndarray, probe_texts: list[str], expected: list[set[int]]
) -> dict[str, Any]:
    """p50/p99 (ms) of ``LocalBackend.search`` (limit 10) over the probes; ``hybrid`` also matches the probe's text.

    The top-10 overlap with the exact vector top 10 is reported for ``vector`` only (hybrid
    ranks by another score on purpose).
    """
    await backend.search(MemorySearch(GUILD, probe[0], text=probe_texts[0], limit=10, mode=mode, now=1.0))  # warm-up
    seconds, overlaps = [], []
    for vector, text, exact_top in zip(probe, probe_texts, expected, strict=True):
        started = time.perf_counter()
        hits = await backend.search(MemorySearch(GUILD, vector, text=text, limit=10, mode=mode, now=1.0))
        seconds.append(time.perf_counter() - started)
        overlaps.append(len({int(hit.memory.id[1:]) + 1 for hit in hits} & exact_top) / 10)
    return {
        "p50_ms": round(percentile(seconds, 0.5) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
        "top10_overlap": round(float(np.mean(overlaps)), 4) if mode == "vector" else None,
    }


async def scale(
    base: np.ndarray,
    texts: list[str],
    embedder: Embedder,
    sizes: list[int],
    queries: int,
    expansions: list[int],
    rescores: list[int],
    budgets: list[int],
    graph: tuple[int, int] = (CONNECTIVITY, EXPANSION_ADD),
    seed: int = 7,
) -> list[dict[str, Any]]:
    """The local backend at each size on clustered vectors (real questions plus noise), one guild holding them all.

    Per size: the rows are written to a fresh SQLite database and the backend opens it,
    rebuilding the HNSW graph (connectivity, expansion_add = ``graph``) from the rows as it
    does after a crash. Then, on the same queries: the exact NumPy scan of the float32
    vectors (the baseline and the reference top 10), usearch's brute force over the int8
    vectors (the ceiling of the graph without rescoring), the graph alone (``ScopeIndex.search``,
    no database), and ``LocalBackend.search`` (vector mode, limit 10, and hybrid mode once per
    ``budgets`` value, the query's text as keywords) for each ``rescores`` value: graph
    candidates, one SELECT of their rows (float32 vectors included) from the database on disk,
    exact rescoring, results. Embedding is not timed (the queries are vectors).
    """
    generator = np.random.default_rng(seed)
    results = []
    for size in sizes:
        picks, vectors = clustered(base, size, generator)
        probe_picks, probe = clustered(base, queries, generator)
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{directory}/scale.db"
            database = Database(url)
            backend = local_backend(database, embedder, Path(directory) / "index", graph)
            await backend.open()
            started = time.perf_counter()
            await write_rows(database, texts, picks, vectors, embedder.name)
            write_seconds = time.perf_counter() - started
            await backend.close()
            await database.dispose()
            database = Database(url)
            backend = local_backend(database, embedder, Path(directory) / "index", graph)
            started = time.perf_counter()
            await backend.open()  # the index files do not hold these rows: the graph is rebuilt from them
            open_seconds = time.perf_counter() - started
            index = backend.indexes[GUILD.key]
            database_bytes = os.path.getsize(f"{directory}/scale.db")  # noqa: ASYNC240 - once, untimed
            exact_seconds, expected = [], []
            for vector in probe:
                started = time.perf_counter()
                similarities = vectors @ vector
                top = np.argpartition(-similarities, 10)[:10]
                exact_seconds.append(time.perf_counter() - started)
                expected.append({int(position) + 1 for position in top})
            int8_brute_force = timed(partial(graph_keys, index, exact=True), probe, expected)
            common = {
                "entries": size,
                "connectivity": graph[0],
                "expansion_add": graph[1],
                "rows_write_s": round(write_seconds, 2),
                "open_rebuild_s": round(open_seconds, 2),
                "exact_p50_ms": round(percentile(exact_seconds, 0.5) * 1000, 3),
                "exact_p99_ms": round(percentile(exact_seconds, 0.99) * 1000, 3),
                "int8_brute_force_top10_overlap": int8_brute_force["top10_overlap"],
                "index_bytes_per_entry": round(index.memory_bytes() / size, 1),
                "database_bytes_per_entry": round(database_bytes / size, 1),
            }
            for expansion in expansions:
                index.graph.expansion_search = expansion  # type: ignore[misc]  # usearch has the setter apart
                graph_only = timed(partial(graph_keys, index), probe, expected)
                results.append({**common, "search": "graph only", "expansion_search": expansion, **graph_only})
                for rescore in rescores:
                    backend.rescore_candidates = rescore
                    runs: list[tuple[SearchMode, int | None]] = [("vector", None)]
                    runs += [("hybrid", budget) for budget in budgets]
                    for mode, budget in runs:
                        if budget is not None:
                            backend.keyword_match_budget = budget
                        label = f"backend {mode}, rescore {rescore}" + (f", budget {budget}" if budget else "")
                        results.append(
                            {
                                **common,
                                "search": label,
                                "expansion_search": expansion,
                                **await timed_backend(
                                    backend, mode, probe, [texts[int(pick)] for pick in probe_picks], expected
                                ),
                            }
                        )
            await backend.close()
            await database.dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", type=Path, help="JSON lines with q1, q2, duplicate")
    parser.add_argument("--pairs-limit", type=int, default=4000, help="read this many lines (default 4000)")
    parser.add_argument("--pairs-skip", type=int, default=0, help="skip this many lines first (a tuning split)")
    parser.add_argument("--queries", type=int, default=600, help="at most this many queries (default 600)")
    parser.add_argument("--sizes", default="10000,100000", help="entry counts for the scale test")
    parser.add_argument("--scale-queries", type=int, default=300)
    parser.add_argument(
        "--expansion-search",
        default=str(EXPANSION_SEARCH),
        help=f"search expansions to measure on each graph (the index uses {EXPANSION_SEARCH})",
    )
    parser.add_argument(
        "--rescore-candidates", default="0,40", help="backend rescore_candidates values to measure (0 = no rescoring)"
    )
    parser.add_argument(
        "--keyword-budgets", default=str(MATCH_BUDGET), help="local hybrid keyword_match_budget values to measure"
    )
    parser.add_argument("--connectivity", type=int, default=CONNECTIVITY, help="HNSW connectivity of the scale graphs")
    parser.add_argument(
        "--expansion-add", type=int, default=EXPANSION_ADD, help="HNSW expansion_add of the scale graphs"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the scale vectors and queries")
    parser.add_argument(
        "--scale-only", action="store_true", help="skip the quality part (the pairs still give the base vectors)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    embedder = embedder_from_settings(None, {"backend": "sentence-transformers"})
    if embedder is None:
        raise SystemExit("the bundled all-MiniLM-L6-v2 embedder is not available")
    pairs = read_pairs(args.pairs, args.pairs_limit, args.pairs_skip)
    figures: dict[str, Any] = {
        "file": str(args.pairs),
        "lines": [args.pairs_skip + 1, args.pairs_skip + len(pairs)],
        "pairs": len(pairs),
        "embedder": embedder.name,
    }
    budgets = [int(value) for value in args.keyword_budgets.split(",") if value]
    if not args.scale_only:
        figures["quality"] = await quality(pairs, embedder, args.queries, budgets)
    texts = list(dict.fromkeys(q1 for q1, _, _ in pairs))
    base = await embedder.embed(texts)
    figures["base_questions"] = len(base)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    expansions = [int(value) for value in args.expansion_search.split(",") if value]
    rescores = [int(value) for value in args.rescore_candidates.split(",") if value]
    graph = (args.connectivity, args.expansion_add)
    figures["scale"] = await scale(
        base, texts, embedder, sizes, args.scale_queries, expansions, rescores, budgets, graph, seed=args.seed
    )
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
