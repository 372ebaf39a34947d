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
from intelbot_semantic_cache.adapter import ADAPTER_L2, fit_adapter
from intelbot_semantic_cache.boosted_trees import from_sklearn
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.matching import MatchRule, PairModel, fit_weights, pair_features, tree_rows
from intelbot_semantic_cache.scope import embedding_text, normalize_text
from intelbot_semantic_cache.settings import CacheSettings
from intelbot_semantic_cache.store import CacheStore
from intelbot_semantic_cache.text_features import QuestionText, text_features

PROTOCOL_SCOPE = "calibration"
MIN_SUPPORT = 20  # labelled hits needed before a precision counts when picking a threshold
TRAINING_FLOOR = 0.8  # nearest candidates below this cosine teach the learned rule nothing useful
SCORING_FLOOR = 0.8  # the learned rule scores only candidates at or above this cosine (the borderline band)
TREE_MIN_EXAMPLES = 200  # fewer examples in the band than this: the rule is the logistic stage alone
TUNING_SHARE = 0.3  # of the fitting rows: the learned rule's threshold is picked there, the model fitted on the rest
CROSS_FIT_FOLDS = 5  # the adapter's threshold is picked on scores from models that did not see the pair
STACKING_FOLDS = 5  # stage 2 learns from stage 1's log-odds on rows stage 1 was not fitted on
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


def split_pairs(pairs: Sequence[LabelledPair], holdout: float) -> tuple[list[LabelledPair], list[LabelledPair], int]:
    """(fitting rows, reporting rows, split index): the first ``1 - holdout`` fit, the last ``holdout`` report.

    The one split used by ``calibrate`` and the benchmark: row ``split`` is the
    first reporting row, so no row is on both sides. ``holdout`` 0 reports on the
    fitting rows (in-sample, and said so).
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError("holdout must be in [0, 1)")
    split = len(pairs) - round(len(pairs) * holdout)
    fit_pairs = list(pairs[:split])
    report_pairs = list(pairs[split:]) if holdout > 0 else fit_pairs
    if not fit_pairs or not report_pairs:
        raise ValueError("not enough pairs to split; use more pairs or --holdout 0")
    return fit_pairs, report_pairs, split


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
                hit = cache.nearest(PROTOCOL_SCOPE, vectors[embedding_text(pair.q2)], prompt_text=pair.q2)
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


@dataclass(frozen=True)
class TrainingExamples:
    """Labelled (query, candidate) pairs for the learned rule; ``group`` ties the examples of one labelled pair."""

    queries: npt.NDArray[np.float32]
    candidates: npt.NDArray[np.float32]
    query_texts: list[str]
    candidate_texts: list[str]
    labels: npt.NDArray[np.float64]
    group: npt.NDArray[np.int64]

    @property
    def cosines(self) -> npt.NDArray[np.float64]:
        return np.asarray(
            np.einsum("ij,ij->i", self.queries.astype(np.float64), self.candidates.astype(np.float64)),
            dtype=np.float64,
        )


def training_examples(
    pairs: Sequence[LabelledPair], lookups: Sequence[Lookup], groups: QuestionGroups, vectors: dict[str, Vectors]
) -> TrainingExamples:
    """Every labelled pair (q2 against q1), plus every labelled nearest candidate above ``TRAINING_FLOOR``."""
    queries: list[str] = []
    candidates: list[str] = []
    labels: list[float] = []
    group: list[int] = []
    for position, pair in enumerate(pairs):
        queries.append(pair.q2)
        candidates.append(pair.q1)
        labels.append(float(pair.duplicate))
        group.append(position)
    for position, (pair, lookup) in enumerate(zip(pairs, lookups, strict=True)):
        if lookup.matched is None or lookup.kind != "semantic" or lookup.similarity < TRAINING_FLOOR:
            continue
        kind = outcome(pair, lookup, groups)
        if kind == UNLABELLED:
            continue
        queries.append(pair.q2)
        candidates.append(lookup.matched)
        labels.append(1.0 if kind == CORRECT else 0.0)
        group.append(position)
    return TrainingExamples(
        queries=np.stack([vectors[embedding_text(text)] for text in queries]),
        candidates=np.stack([vectors[embedding_text(text)] for text in candidates]),
        query_texts=queries,
        candidate_texts=candidates,
        labels=np.asarray(labels),
        group=np.asarray(group, dtype=np.int64),
    )


def example_text_features(examples: TrainingExamples, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    parsed: dict[str, QuestionText] = {}

    def parse(text: str) -> QuestionText:
        if text not in parsed:
            parsed[text] = QuestionText.parse(text)
        return parsed[text]

    return np.vstack(
        [text_features(parse(examples.query_texts[i]), [parse(examples.candidate_texts[i])]) for i in rows.tolist()]
    )


def fit_stage_one(examples: TrainingExamples, rows: npt.NDArray[np.int64], *, stage: str, l2: float) -> PairModel:
    """Stage 1 alone (``adapter`` or ``logistic``), fitted on ``examples`` at ``rows``, floor 0."""
    if stage == "adapter":
        adapter = fit_adapter(examples.queries[rows], examples.candidates[rows], examples.labels[rows], l2=l2)
        return PairModel(np.zeros(0), None, 0.0, adapter)
    if stage == "logistic":
        features = pair_features(examples.queries[rows], examples.candidates[rows])
        return PairModel(fit_weights(features, examples.labels[rows], l2=l2))
    raise ValueError(f"unknown stage {stage!r}; choose adapter or logistic")


def fold_of_pair(pair_count: int, folds: int) -> npt.NDArray[np.int64]:
    """A fixed random fold (0 .. folds-1) for each of ``pair_count`` labelled pairs (examples follow their pair)."""
    return np.asarray(np.random.default_rng(0).integers(0, folds, pair_count), dtype=np.int64)


def fit_model(
    examples: TrainingExamples,
    *,
    stage: str = "logistic",
    l2: float | None = None,
    trees: bool = True,
    floor: float = SCORING_FLOOR,
) -> tuple[PairModel, dict[str, Any]]:
    """Fit the learned rule's two stages on ``examples``; the notes say what was fitted on how many examples.

    Stage 1 (``logistic`` over the vectors, or the ``adapter``; ``l2`` None means the
    stage's default) is fitted on every example. Stage 2 (trees) is fitted on the
    examples in the band (cosine >= ``floor``), on stage 1's out-of-fold log-odds
    (folds by labelled pair), so it never sees a log-odds stage 1 produced on its
    own training rows.
    """
    l2 = (ADAPTER_L2 if stage == "adapter" else 1.0) if l2 is None else l2
    every = np.arange(len(examples.labels))
    stage_one = fit_stage_one(examples, every, stage=stage, l2=l2)
    notes: dict[str, Any] = {"stage": stage, "l2": l2, "examples": len(examples.labels), "floor": floor}
    band = np.flatnonzero(examples.cosines >= floor)
    labels = examples.labels[band]
    if not trees or len(band) < TREE_MIN_EXAMPLES or len(set(labels.tolist())) < 2:
        notes["trees"] = "not fitted" if trees else "off"
        return PairModel(stage_one.vector_weights, None, floor, stage_one.adapter), notes
    out_of_fold = np.zeros(len(examples.labels))
    fold = fold_of_pair(int(examples.group.max()) + 1, STACKING_FOLDS)[examples.group]
    for held in range(STACKING_FOLDS):
        inside = np.flatnonzero(fold != held)
        outside = np.flatnonzero(fold == held)
        fold_model = fit_stage_one(examples, inside, stage=stage, l2=l2)
        out_of_fold[outside] = fold_model.vector_log_odds(examples.queries[outside], examples.candidates[outside])
    rows = tree_rows(examples.cosines[band], out_of_fold[band], example_text_features(examples, band))
    from sklearn.ensemble import HistGradientBoostingClassifier

    classifier = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=0,
    )
    classifier.fit(rows, labels)
    notes.update({"trees": len(classifier._predictors), "band_examples": len(band)})
    return PairModel(stage_one.vector_weights, from_sklearn(classifier), floor, stage_one.adapter), notes


async def cross_fitted_lookups(
    pairs: Sequence[LabelledPair],
    examples: TrainingExamples,
    embedder: Embedder,
    rule: MatchRule,
    vectors: dict[str, Vectors],
    *,
    stage: str,
    l2: float,
    floor: float,
    index: str = "exact",
) -> list[Lookup]:
    """Each pair's lookup scored by a model fitted without that pair's examples (folds by pair).

    ``examples`` must come from ``pairs`` (``group`` is the pair's position); each
    fold's model is ``stage`` at ``l2`` with ``floor`` and no trees, and scores the whole
    protocol (every q1 stored), of which its own fold's lookups are kept.
    """
    fold = fold_of_pair(len(pairs), CROSS_FIT_FOLDS)
    example_fold = fold[examples.group]
    lookups: list[Lookup] = []
    for held in range(CROSS_FIT_FOLDS):
        rows = np.flatnonzero(example_fold != held)
        stage_one = fit_stage_one(examples, rows, stage=stage, l2=l2)
        fold_model = PairModel(stage_one.vector_weights, None, floor, stage_one.adapter)
        fold_lookups = await run_protocol(
            pairs, embedder, MatchRule(rule.threshold, fold_model, rule.embedder), vectors, index=index
        )
        if not lookups:
            lookups = list(fold_lookups)
        for position in np.flatnonzero(fold == held).tolist():
            lookups[position] = fold_lookups[position]
    return lookups


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
    stage: str = "logistic",
    l2: float | None = None,
    trees: bool = False,
    progress: Callable[[str], None] = lambda _message: None,
) -> Calibration:
    """Fit the rule on the first ``1 - holdout`` of ``pairs``, pick its threshold there, report on the rest.

    ``rule_kind`` is ``learned`` (see :mod:`.matching`; ``stage`` is its first
    stage, ``logistic`` by default or ``adapter``, which did not win on the Quora dev
    file; ``trees`` adds the tree stage over the text features, off by default: it
    lost to the first stage alone; see the README) or ``cosine``. The adapter's threshold is picked on
    out-of-fold scores of the fitting rows (:func:`cross_fitted_lookups`): its scores on its own
    training rows are over-confident. The report always carries the plain-cosine
    baseline on the same rows, with its own threshold picked the same way, for
    comparison; the saved rule remembers that threshold (``notes``) so
    :func:`evaluate` can compare on new pairs too.
    """
    fit_pairs, report_pairs, split = split_pairs(pairs, holdout)
    progress(f"embedding {len(pairs)} pairs with {embedder.name}")
    vectors = await embed_all(embedder, pairs)
    fit_groups, report_groups = QuestionGroups(fit_pairs), QuestionGroups(report_pairs)

    cosine = MatchRule(0.0, None, embedder.name)
    progress("cosine protocol on the fitting rows")
    fit_cosine = await run_protocol(fit_pairs, embedder, cosine, vectors, index=index)
    cosine_threshold = pick_threshold(fit_pairs, fit_cosine, fit_groups, target_precision)
    pick_pairs, pick_groups = fit_pairs, fit_groups
    if rule_kind == "learned":
        train_pairs, train_groups, train_cosine = fit_pairs, fit_groups, fit_cosine
        if trees:
            # the trees' scores on their own training rows are over-confident (a threshold picked there gave
            # precision 0.85 held out), so with trees the threshold is picked on fitting rows they never saw.
            # The logistic stage alone generalises from its own rows (measured) and loses hits when split.
            train_pairs, pick_pairs, _ = split_pairs(fit_pairs, TUNING_SHARE)
            train_groups, pick_groups = QuestionGroups(train_pairs), QuestionGroups(pick_pairs)
            train_cosine = await run_protocol(train_pairs, embedder, cosine, vectors, index=index)
        examples = training_examples(train_pairs, train_cosine, train_groups, vectors)
        progress(f"fitting the learned rule on {len(examples.labels)} examples from {len(train_pairs)} pairs")
        model, notes = fit_model(examples, stage=stage, l2=l2, trees=trees)
        notes.update({"trained_on_pairs": len(train_pairs), "threshold_picked_on_pairs": len(pick_pairs)})
        rule = MatchRule(0.5, model, embedder.name, notes)
        if stage == "adapter" and not trees:
            progress(f"out-of-fold scores of the fitting rows ({CROSS_FIT_FOLDS} more fits)")
            fit_lookups = await cross_fitted_lookups(
                pick_pairs,
                examples,
                embedder,
                rule,
                vectors,
                stage=stage,
                l2=notes["l2"],
                floor=model.floor,
                index=index,
            )
            notes["threshold_picked_on"] = f"out-of-fold scores, {CROSS_FIT_FOLDS} folds"
        else:
            fit_lookups = await run_protocol(pick_pairs, embedder, rule, vectors, index=index)
    elif rule_kind == "cosine":
        rule, fit_lookups = cosine, fit_cosine
    else:
        raise ValueError(f"unknown rule {rule_kind!r}; choose learned or cosine")
    chosen = (
        threshold if threshold is not None else pick_threshold(pick_pairs, fit_lookups, pick_groups, target_precision)
    )
    found = chosen is not None
    if chosen is None:
        chosen = NOTHING_PASSES  # no threshold reaches the target: exact matches only
    baseline_threshold = cosine_threshold if cosine_threshold is not None else NOTHING_PASSES
    rule = rule.with_threshold(chosen)
    rule.notes.update(
        {"target_precision": target_precision, "fitted_rows": split, "baseline_cosine_threshold": baseline_threshold}
    )
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
    result = report(rule, report_pairs, report_lookups, report_groups, report_cosine, baseline_threshold)
    result.update(
        {
            "target_precision": target_precision,
            "fitted_on_rows": [0, split],
            "reported_on_rows": [split, len(pairs)] if holdout > 0 else [0, split],
            "in_sample": holdout == 0,
            "fit": figures(pick_pairs, fit_lookups, pick_groups, chosen),
            "threshold_found": found,
        }
    )
    result["baseline_cosine"]["threshold_found"] = cosine_threshold is not None
    return Calibration(rule, result, report_lookups)


def report(
    rule: MatchRule,
    pairs: Sequence[LabelledPair],
    lookups: Sequence[Lookup],
    groups: QuestionGroups,
    cosine_lookups: Sequence[Lookup],
    cosine_threshold: float,
) -> dict[str, Any]:
    """The figures both commands print: the rule's point, its curve, plain cosine on the same rows."""
    result = figures(pairs, lookups, groups, rule.threshold)
    result["rule"] = rule.kind
    result["curve"] = curve(pairs, lookups, groups, curve_thresholds(lookups))
    result["baseline_cosine"] = figures(pairs, cosine_lookups, groups, cosine_threshold)
    baseline_hits = result["baseline_cosine"]["hit_rate"]
    result["hit_rate_vs_cosine"] = round(result["hit_rate"] / baseline_hits, 4) if baseline_hits else None
    return result


async def evaluate(
    pairs: Sequence[LabelledPair],
    embedder: Embedder,
    rule: MatchRule,
    *,
    cosine_threshold: float,
    index: str = "exact",
    progress: Callable[[str], None] = lambda _message: None,
) -> dict[str, Any]:
    """Score ``rule`` as it is (no fitting, no threshold picking) on every pair; keys as :func:`calibrate`'s report.

    Plain cosine at ``cosine_threshold`` runs on the same rows as the baseline.
    ``fitted_on_rows`` and ``fit`` are None: nothing here was fitted.
    """
    progress(f"embedding {len(pairs)} pairs with {embedder.name}")
    vectors = await embed_all(embedder, pairs)
    groups = QuestionGroups(pairs)
    progress(f"protocol with the {rule.kind} rule at threshold {rule.threshold:.4f}")
    lookups = await run_protocol(pairs, embedder, rule, vectors, index=index)
    cosine = MatchRule(0.0, None, embedder.name)
    cosine_lookups = (
        lookups if rule.kind == "cosine" else await run_protocol(pairs, embedder, cosine, vectors, index=index)
    )
    if rule.kind == "cosine":
        cosine_threshold = rule.threshold
    result = report(rule, pairs, lookups, groups, cosine_lookups, cosine_threshold)
    result.update(
        {
            "target_precision": rule.notes.get("target_precision"),
            "fitted_on_rows": None,
            "reported_on_rows": [0, len(pairs)],
            "in_sample": False,
            "fit": None,
            "threshold_found": rule.threshold < NOTHING_PASSES,
        }
    )
    result["baseline_cosine"]["threshold_found"] = cosine_threshold < NOTHING_PASSES
    return result
