"""Measuring and tuning the match rule on labelled question pairs, through the real cache.

The protocol (shared by ``intelbot cache calibrate`` and ``benchmarks/semantic_cache.py``):

1. Put every ``q1`` in one cache (one scope), each with its own answer.
2. Look up every ``q2`` with the cache's own exact match and nearest-candidate code.
3. Questions joined by a duplicate label, directly or through a chain of labels or
   identical normalized text (lower case, runs of non-alphanumerics as one space),
   form a group. A hit is *correct* when the returned entry is in ``q2``'s group;
   *false* when it is ``q2``'s own ``q1`` and the pair is labelled not duplicate;
   otherwise *unlabelled*.
4. ``hit_rate`` = correct hits on duplicate pairs / duplicate pairs;
   ``precision`` = correct / (correct + false);
   ``precision_conservative`` = correct / all hits;
   ``false_hit_rate`` = false hits / non-duplicate pairs;
   ``unlabelled_hit_share`` = unlabelled / all hits.

Calibration never reports figures on the rows it was tuned on unless asked to
(``holdout=0``): the first part of the file fits the rule and picks the threshold,
the held-out last part is where the figures come from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from intelbot.contract import Usage
from intelbot.embedding import Embedder, Vectors
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.matching import MatchRule, fit_weights, pair_features
from intelbot_semantic_cache.scope import embedding_text, normalize_text
from intelbot_semantic_cache.settings import CacheSettings
from intelbot_semantic_cache.store import CacheStore

PROTOCOL_SCOPE = "calibration"
MIN_SUPPORT = 20  # labelled hits needed before a precision counts when picking a threshold
TRAINING_FLOOR = 0.8  # nearest candidates below this cosine teach the learned rule nothing useful
NOTHING_PASSES = 1.01  # a threshold above every cosine and probability: only exact matches are served


@dataclass(frozen=True, slots=True)
class LabelledPair:
    q1: str
    q2: str
    duplicate: bool


def read_pairs(path: Path) -> list[LabelledPair]:
    """Read JSON lines with ``q1``, ``q2`` and ``duplicate`` (0 or 1); ValueError names the file and line."""
    pairs: list[LabelledPair] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({type(error).__name__})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        q1, q2, duplicate = row.get("q1"), row.get("q2"), row.get("duplicate")
        if not isinstance(q1, str) or not isinstance(q2, str) or not q1.strip() or not q2.strip():
            raise ValueError(f"{path}:{number}: q1 and q2 must be non-empty strings")
        if duplicate not in (0, 1) or isinstance(duplicate, float):
            raise ValueError(f"{path}:{number}: duplicate must be 0 or 1, got {duplicate!r}")
        pairs.append(LabelledPair(q1, q2, bool(duplicate)))
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


class QuestionGroups:
    """Union-find over normalized question texts, joined by duplicate labels."""

    def __init__(self, pairs: Sequence[LabelledPair]) -> None:
        self._parent: dict[str, str] = {}
        for pair in pairs:
            first, second = self._find(normalize_text(pair.q1)), self._find(normalize_text(pair.q2))
            if pair.duplicate and first != second:
                self._parent[first] = second

    def _find(self, text: str) -> str:
        parent = self._parent.setdefault(text, text)
        while parent != text:
            grandparent = self._parent.setdefault(parent, parent)
            self._parent[text] = grandparent
            text, parent = parent, grandparent
        return text

    def same(self, first: str, second: str) -> bool:
        return self._find(normalize_text(first)) == self._find(normalize_text(second))


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the cache returned for one pair's ``q2``, whatever the threshold (``matched`` None: empty cache)."""

    matched: str | None
    kind: str
    similarity: float
    score: float


CORRECT, FALSE, UNLABELLED = "correct", "false", "unlabelled"


def outcome(pair: LabelledPair, lookup: Lookup, groups: QuestionGroups) -> str:
    assert lookup.matched is not None
    if groups.same(lookup.matched, pair.q2):
        return CORRECT
    if normalize_text(lookup.matched) == normalize_text(pair.q1) and not pair.duplicate:
        return FALSE
    return UNLABELLED


async def embed_all(embedder: Embedder, pairs: Sequence[LabelledPair]) -> dict[str, Vectors]:
    """Each distinct question's vector, keyed by its embedding text."""
    texts = sorted({embedding_text(text) for pair in pairs for text in (pair.q1, pair.q2)})
    vectors = await embedder.embed(texts)
    return dict(zip(texts, vectors, strict=True))


async def protocol_cache(embedder: Embedder, rule: MatchRule, *, index: str = "exact") -> SemanticCache:
    """An empty cache over a private in-memory database, big enough to hold everything, that never expires."""
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    # not validated: a fitted threshold above 1 is legitimate here (no pair passes it)
    settings = CacheSettings.model_construct(
        similarity_threshold=rule.threshold,
        index=index,  # type: ignore[arg-type]  # checked by new_index when the cache opens
        ttl_seconds=1e9,
        max_ttl_seconds=1e9,
        max_entries=10**9,
        max_memory_mb=1e9,
    )
    cache = SemanticCache(settings, CacheStore(engine), embedder, rule=rule)
    await cache.open()
    return cache


async def run_protocol(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    rule: MatchRule,
    vectors: dict[str, Vectors],
    *,
    index: str = "exact",
) -> list[Lookup]:
    """Steps 1 and 2 of the protocol: store every q1, look up every q2 (no threshold applied here)."""
    cache = await protocol_cache(embedder, rule, index=index)
    try:
        stored: dict[str, int] = {}
        for position, pair in enumerate(pairs):
            stored.setdefault(pair.q1, position)
        questions = list(stored)
        items = [
            (PROTOCOL_SCOPE, None, q, f"answer {stored[q]}", "calibration", "calibration", Usage(), 0.0)
            for q in questions
        ]
        matrix = np.stack([vectors[embedding_text(q)] for q in questions]) if questions else None
        await cache.put_many(items, matrix)
        lookups: list[Lookup] = []
        for pair in pairs:
            hit = cache.exact_match(pair.q2, PROTOCOL_SCOPE)
            if hit is None:
                hit = cache.nearest(PROTOCOL_SCOPE, vectors[embedding_text(pair.q2)])
            if hit is None:
                lookups.append(Lookup(None, "none", 0.0, -math.inf))
            else:
                lookups.append(Lookup(hit.entry.prompt, hit.kind, hit.similarity, hit.score))
        return lookups
    finally:
        await cache.store.engine.dispose()


def figures(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], groups: QuestionGroups, threshold: float
) -> dict[str, Any]:
    """Step 4 of the protocol at ``threshold``."""
    counts = {CORRECT: 0, FALSE: 0, UNLABELLED: 0}
    correct_on_duplicates = 0
    for pair, lookup in zip(pairs, lookups, strict=True):
        if lookup.matched is None or lookup.score < threshold:
            continue
        kind = outcome(pair, lookup, groups)
        counts[kind] += 1
        if kind == CORRECT and pair.duplicate:
            correct_on_duplicates += 1
    duplicates = sum(pair.duplicate for pair in pairs)
    non_duplicates = len(pairs) - duplicates
    hits = sum(counts.values())
    labelled = counts[CORRECT] + counts[FALSE]
    return {
        "threshold": threshold,
        "hit_rate": _ratio(correct_on_duplicates, duplicates),
        "precision": _ratio(counts[CORRECT], labelled),
        "precision_conservative": _ratio(counts[CORRECT], hits),
        "false_hit_rate": _ratio(counts[FALSE], non_duplicates),
        "unlabelled_hit_share": _ratio(counts[UNLABELLED], hits),
        "hits": hits,
        "correct": counts[CORRECT],
        "false": counts[FALSE],
        "unlabelled": counts[UNLABELLED],
        "pairs": len(pairs),
        "duplicate_pairs": duplicates,
    }


def _ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def pick_threshold(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], groups: QuestionGroups, target: float
) -> float | None:
    """The lowest threshold whose precision, and that of every higher threshold, reaches ``target``.

    Thresholds are the scores seen; precisions over fewer than ``MIN_SUPPORT``
    labelled hits are too noisy to count either way. None when no threshold qualifies.
    """
    scored = sorted(
        (
            (lookup.score, outcome(pair, lookup, groups))
            for pair, lookup in zip(pairs, lookups, strict=True)
            if lookup.matched is not None and math.isfinite(lookup.score)
        ),
        key=lambda item: -item[0],
    )
    always = [
        outcome(pair, lookup, groups)
        for pair, lookup in zip(pairs, lookups, strict=True)
        if lookup.matched is not None and math.isinf(lookup.score) and lookup.score > 0
    ]
    correct, false = always.count(CORRECT), always.count(FALSE)
    best: float | None = None
    position = 0
    while position < len(scored):
        score = scored[position][0]
        while position < len(scored) and scored[position][0] == score:
            kind = scored[position][1]
            correct += kind == CORRECT
            false += kind == FALSE
            position += 1
        if correct + false < MIN_SUPPORT:
            continue
        if correct / (correct + false) < target:
            break
        best = score
    return best


def curve(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], groups: QuestionGroups, thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    return [figures(pairs, lookups, groups, threshold) for threshold in thresholds]


def curve_thresholds(lookups: Sequence[Lookup], count: int = 12) -> list[float]:
    """``count`` thresholds spread over the upper scores seen (quantiles of the finite scores)."""
    finite = np.asarray([lookup.score for lookup in lookups if math.isfinite(lookup.score)])
    if len(finite) == 0:
        return []
    quantiles = np.quantile(finite, np.linspace(0.5, 0.995, count))
    return sorted({round(float(value), 4) for value in quantiles})


def training_examples(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], groups: QuestionGroups, vectors: dict[str, Vectors]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Features and labels for the learned rule: every labelled pair, plus every labelled nearest candidate."""
    rows: list[npt.NDArray[np.float64]] = []
    labels: list[float] = []
    q1 = np.stack([vectors[embedding_text(pair.q1)] for pair in pairs])
    q2 = np.stack([vectors[embedding_text(pair.q2)] for pair in pairs])
    rows.append(pair_features(q2, q1))
    labels.extend(float(pair.duplicate) for pair in pairs)
    for pair, lookup in zip(pairs, lookups, strict=True):
        if lookup.matched is None or lookup.kind != "semantic" or lookup.similarity < TRAINING_FLOOR:
            continue
        kind = outcome(pair, lookup, groups)
        if kind == UNLABELLED:
            continue
        candidate = vectors[embedding_text(lookup.matched)]
        rows.append(pair_features(vectors[embedding_text(pair.q2)], candidate.reshape(1, -1)))
        labels.append(1.0 if kind == CORRECT else 0.0)
    return np.vstack(rows), np.asarray(labels)


@dataclass
class Calibration:
    """What ``calibrate`` found: the rule (with its threshold) and the figures behind it."""

    rule: MatchRule
    report: dict[str, Any]
    lookups: list[Lookup]


async def calibrate(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    *,
    rule_kind: str = "learned",
    target_precision: float = 0.95,
    threshold: float | None = None,
    holdout: float = 0.5,
    index: str = "exact",
    l2: float = 1.0,
    progress: Callable[[str], None] = lambda _message: None,
) -> Calibration:
    """Fit the rule on the first ``1 - holdout`` of ``pairs``, pick its threshold there, report on the rest.

    ``rule_kind`` is ``learned`` (logistic model over the pair's vectors) or
    ``cosine``. The report always carries the plain-cosine baseline on the same
    rows, with its own threshold picked the same way, for comparison.
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError("holdout must be in [0, 1)")
    split = len(pairs) - round(len(pairs) * holdout)
    fit_pairs = list(pairs[:split])
    report_pairs = list(pairs[split:]) if holdout > 0 else fit_pairs
    if not fit_pairs or not report_pairs:
        raise ValueError("not enough pairs to split; use more pairs or --holdout 0")
    progress(f"embedding {len(pairs)} pairs with {embedder.name}")
    vectors = await embed_all(embedder, pairs)
    fit_groups, report_groups = QuestionGroups(fit_pairs), QuestionGroups(report_pairs)

    cosine = MatchRule(0.0, None, embedder.name)
    progress("cosine protocol on the fitting rows")
    fit_cosine = await run_protocol(fit_pairs, embedder, cosine, vectors, index=index)
    cosine_threshold = pick_threshold(fit_pairs, fit_cosine, fit_groups, target_precision)
    if rule_kind == "learned":
        features, labels = training_examples(fit_pairs, fit_cosine, fit_groups, vectors)
        progress(f"fitting the learned rule on {len(labels)} examples")
        rule = MatchRule(0.5, fit_weights(features, labels, l2=l2), embedder.name, {"l2": l2, "examples": len(labels)})
        fit_lookups = await run_protocol(fit_pairs, embedder, rule, vectors, index=index)
    elif rule_kind == "cosine":
        rule, fit_lookups = cosine, fit_cosine
    else:
        raise ValueError(f"unknown rule {rule_kind!r}; choose learned or cosine")
    chosen = (
        threshold if threshold is not None else pick_threshold(fit_pairs, fit_lookups, fit_groups, target_precision)
    )
    found = chosen is not None
    if chosen is None:
        chosen = NOTHING_PASSES  # no threshold reaches the target: exact matches only
    rule = rule.with_threshold(chosen)
    if holdout > 0:
        progress("protocol on the held-out rows")
        report_lookups = await run_protocol(report_pairs, embedder, rule, vectors, index=index)
        report_cosine = (
            await run_protocol(report_pairs, embedder, cosine, vectors, index=index)
            if rule.kind != "cosine"
            else report_lookups
        )
    else:
        report_lookups, report_cosine = fit_lookups, fit_cosine
    result = figures(report_pairs, report_lookups, report_groups, chosen)
    result.update(
        {
            "rule": rule.kind,
            "target_precision": target_precision,
            "fitted_on_rows": [0, split],
            "reported_on_rows": [split, len(pairs)] if holdout > 0 else [0, split],
            "in_sample": holdout == 0,
            "fit": figures(fit_pairs, fit_lookups, fit_groups, chosen),
            "curve": curve(report_pairs, report_lookups, report_groups, curve_thresholds(report_lookups)),
        }
    )
    result["threshold_found"] = found
    baseline_threshold = cosine_threshold if cosine_threshold is not None else NOTHING_PASSES
    result["baseline_cosine"] = figures(report_pairs, report_cosine, report_groups, baseline_threshold)
    result["baseline_cosine"]["threshold_found"] = cosine_threshold is not None
    return Calibration(rule, result, report_lookups)
