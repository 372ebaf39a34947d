"""The learned match rule: text features, the tree ensemble, the rule file (round trip, migration, refusal)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intelbot.embedding import Embedder
from intelbot.errors import ConfigurationError
from intelbot_semantic_cache.boosted_trees import BoostedTrees, from_sklearn
from intelbot_semantic_cache.calibration import TrainingExamples, fit_model
from intelbot_semantic_cache.matching import RULE_FORMAT, MatchRule, PairModel
from intelbot_semantic_cache.text_features import TEXT_FEATURES, QuestionText, pair_text_features


def feature(query: str, candidate: str, name: str) -> float:
    return pair_text_features(QuestionText.parse(query), QuestionText.parse(candidate))[TEXT_FEATURES.index(name)]


@pytest.mark.parametrize(
    ("query", "candidate", "name"),
    [
        ("What was the population of Paris in 2016?", "What was the population of Paris in 2017?", "numbers_differ"),
        ("Is coffee good for your health?", "Is coffee not good for your health?", "negation_differs"),
        ("Why can't I sleep at night?", "Why can I sleep at night?", "negation_differs"),
        ("How do airplanes fly?", "Why do airplanes fly?", "question_word_differs"),
        ("What is the capital of Peru?", "What is the capital of Chile?", "names_only_one_side"),
    ],
)
def test_each_feature_flags_the_one_change_and_not_a_rephrasing(query: str, candidate: str, name: str) -> None:
    assert feature(query, candidate, name) > 0
    assert feature(query, "  " + query.replace("?", " ?"), name) == 0  # same words, other spacing


def test_overlap_features_are_one_for_the_same_words_and_lower_for_other_words() -> None:
    same = "How do I learn Python quickly?"
    for name in ("token_jaccard", "token_containment", "char3_jaccard", "length_ratio"):
        assert feature(same, same, name) == 1.0
        assert (
            feature(same, "What are the best books about the medieval history of the kingdoms of Europe?", name) < 0.5
        )


def test_trees_evaluate_exactly_as_scikit_learn_and_survive_json() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    generator = np.random.default_rng(3)
    rows = generator.standard_normal((2000, 5))
    labels = (rows[:, 0] + 0.5 * rows[:, 1] * rows[:, 2] > 0).astype(int)
    rows[generator.random(rows.shape) < 0.05] = np.nan  # missing values take the learned side
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(rows, labels)
    trees = from_sklearn(model)
    probe = generator.standard_normal((500, 5))
    probe[generator.random(probe.shape) < 0.05] = np.nan
    np.testing.assert_allclose(trees.decision(probe), model.decision_function(probe), rtol=1e-9, atol=1e-9)
    again = BoostedTrees.from_json(json.loads(json.dumps(trees.to_json())))
    np.testing.assert_array_equal(again.decision(probe), trees.decision(probe))


def test_tree_arrays_pointing_outside_are_refused() -> None:
    data = {
        "baseline": 0.0,
        "roots": [0],
        "feature": [0, 0, 0],
        "threshold": [0.0, 0.0, 0.0],
        "missing_left": [1, 0, 0],
        "left": [1, 0, 0],
        "right": [7, 0, 0],
        "leaf": [0, 1, 1],
        "value": [0.0, 1.0, -1.0],
        "depth": 1,
    }
    with pytest.raises(ValueError, match="outside"):
        BoostedTrees.from_json(data)


# -- a rule fitted on generated pairs: the features decide where the cosine cannot --------------------------

TOPICS = [
    ("learn to play the guitar", "become good at playing guitar"),
    ("lose weight without dieting", "shed pounds without going on a diet"),
    ("start a small business", "open my own small company"),
    ("improve my English writing", "get better at writing in English"),
    ("prepare for a job interview", "get ready for an interview for a job"),
    ("save money on groceries", "spend less money on food shopping"),
    ("fall asleep faster at night", "get to sleep more quickly at night"),
    ("become a data scientist", "get a job as a data scientist"),
    ("stop procrastinating at work", "quit putting things off at my job"),
    ("grow tomatoes on a balcony", "cultivate tomatoes on my balcony"),
    ("make friends in a new city", "meet new people after moving to a city"),
    ("invest in the stock market", "put my money into stocks"),
]


def generated_pairs(topics: list[tuple[str, str]], years: tuple[int, int]) -> list[tuple[str, str, bool]]:
    """Rephrasings (duplicates), and the same words with one number, negation or question word changed (not)."""
    first, second = years
    pairs: list[tuple[str, str, bool]] = []
    for plain, rephrased in topics:
        pairs += [
            (f"How can I {plain}?", f"What is the best way to {rephrased}?", True),
            (f"How can I {plain} in {first}?", f"How do I {rephrased} in {first}?", True),
            (f"Why is it hard to {plain}?", f"Why is it so difficult to {rephrased}?", True),
            (f"How can I {plain} in {first}?", f"How can I {plain} in {second}?", False),
            (f"How can I {plain} in {first + 5} weeks?", f"How can I {plain} in {first + 50} weeks?", False),
            (f"Is it hard to {plain}?", f"Is it not hard to {plain}?", False),
            (f"Why should I {plain}?", f"Why shouldn't I {plain}?", False),
            (f"How can I {plain}?", f"Why can I {plain}?", False),
            (f"Why is it hard to {plain}?", f"When is it hard to {plain}?", False),
        ]
    return pairs


async def fitted_rule(minilm: Embedder) -> PairModel:
    pairs = generated_pairs(TOPICS, (2015, 2019)) * 3  # enough examples in the band for the trees
    queries = await minilm.embed([q2 for _, q2, _ in pairs])
    candidates = await minilm.embed([q1 for q1, _, _ in pairs])
    examples = TrainingExamples(
        queries=np.asarray(queries),
        candidates=np.asarray(candidates),
        query_texts=[q2 for _, q2, _ in pairs],
        candidate_texts=[q1 for q1, _, _ in pairs],
        labels=np.asarray([float(duplicate) for _, _, duplicate in pairs]),
        group=np.arange(len(pairs), dtype=np.int64) % (len(pairs) // 3),
    )
    model, notes = fit_model(examples, floor=0.0)
    assert notes["trees"] not in ("off", "not fitted")
    return model


COSINE_WOULD_PASS = 0.93  # each changed pair below has at least this cosine: plain cosine at 0.93 serves all of them
CHANGED = {  # not in the fitted pairs: other topics, other numbers, longer questions
    "number": [
        (
            "How can I write a good cover letter for a software engineering job application in 2021?",
            "How can I write a good cover letter for a software engineering job application in 2023?",
        ),
        (
            "Can I run a marathon in under 4 hours after training for six months?",
            "Can I run a marathon in under 3 hours after training for six months?",
        ),
    ],
    "negation": [
        (
            "Is it hard to train for a marathon when you work full time and have two kids?",
            "Is it not hard to train for a marathon when you work full time and have two kids?",
        ),
        (
            "Should I mention my salary in a cover letter for a software engineering job application?",
            "Should I not mention my salary in a cover letter for a software engineering job application?",
        ),
    ],
    "question word": [
        (
            "Why is it hard to write a good cover letter for a software engineering job?",
            "When is it hard to write a good cover letter for a software engineering job?",
        ),
    ],
}
REPHRASED = [
    (
        "How can I write a good cover letter for a software engineering job?",
        "What is the best way to write a strong cover letter for a software engineering job?",
    ),
    (
        "How do I train for a marathon when I work full time?",
        "What is the best way to prepare for a marathon while working full time?",
    ),
]


async def scored(rule: MatchRule, minilm: Embedder, q1: str, q2: str) -> tuple[float, float]:
    """(cosine, learned score) of stored ``q1`` against query ``q2``."""
    query, candidate = await minilm.embed([q2, q1])
    cosine = float(np.dot(query, candidate))
    score = rule.scores(query, candidate[None, :], np.asarray([cosine]), query_text=q2, candidate_texts=[q1])
    return cosine, float(score[0])


@pytest.fixture(scope="module")
def generated_rule(minilm: Embedder) -> MatchRule:
    import asyncio

    return MatchRule(0.5, asyncio.run(fitted_rule(minilm)), minilm.name)


@pytest.mark.model
@pytest.mark.parametrize("change", sorted(CHANGED))
async def test_the_learned_rule_refuses_a_changed_pair_its_cosine_would_pass(
    minilm: Embedder, generated_rule: MatchRule, change: str
) -> None:
    for q1, q2 in CHANGED[change]:
        cosine, score = await scored(generated_rule, minilm, q1, q2)
        assert cosine >= COSINE_WOULD_PASS, (q1, q2, cosine)
        assert score < generated_rule.threshold, (q1, q2, cosine, score)


@pytest.mark.model
async def test_the_learned_rule_still_serves_rephrasings(minilm: Embedder, generated_rule: MatchRule) -> None:
    for q1, q2 in REPHRASED:
        _, score = await scored(generated_rule, minilm, q1, q2)
        assert score >= generated_rule.threshold, (q1, q2, score)


# -- the rule file -------------------------------------------------------------------------------------------


def small_model(dimensions: int = 4) -> PairModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    generator = np.random.default_rng(1)
    rows = generator.standard_normal((400, 2 + len(TEXT_FEATURES)))
    trees = from_sklearn(HistGradientBoostingClassifier(max_iter=10).fit(rows, rows[:, 0] > 0))
    return PairModel(generator.standard_normal(2 * dimensions + 2), trees, 0.8)


def test_a_saved_rule_loads_back_and_scores_the_same(tmp_path: Path) -> None:
    rule = MatchRule(0.71, small_model(), "model-x", {"examples": 400})
    path = tmp_path / "calibration.json"
    rule.save(path)
    loaded = MatchRule.load(path, embedder="model-x", dimensions=4)
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == RULE_FORMAT
    assert loaded.threshold == 0.71 and loaded.kind == "learned" and loaded.notes == {"examples": 400}
    generator = np.random.default_rng(2)
    query = generator.standard_normal(4)
    query /= np.linalg.norm(query)
    candidates = generator.standard_normal((3, 4))
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    cosines = np.asarray([0.95, 0.85, 0.5])  # the last is below the floor: scored 0 without the model
    texts = ["How old is the moon?", "How old is the sun?", "Why?"]
    before = rule.scores(query, candidates, cosines, query_text="How old is the moon?", candidate_texts=texts)
    after = loaded.scores(query, candidates, cosines, query_text="How old is the moon?", candidate_texts=texts)
    np.testing.assert_array_equal(before, after)
    assert before[2] == 0.0 and before[0] > 0.0


def test_a_format_1_rule_is_migrated_and_means_what_it_meant(tmp_path: Path) -> None:
    weights = list(np.linspace(-1, 1, 10))
    path = tmp_path / "old.json"
    old = {"kind": "learned", "threshold": 0.8, "embedder": "model-x", "weights": weights, "notes": {"l2": 1.0}}
    path.write_text(json.dumps(old), encoding="utf-8")
    rule = MatchRule.load(path, embedder="model-x", dimensions=4)
    assert rule.kind == "learned" and rule.threshold == 0.8 and rule.notes["migrated_from_format"] == 1
    query, candidate = np.eye(4)[0], np.eye(4)[1]
    features = np.concatenate([[0.0], query * candidate, np.abs(query - candidate), [1.0]])
    expected = 1 / (1 + np.exp(-features @ np.asarray(weights)))  # the format-1 formula
    score = rule.scores(query, candidate[None, :], np.asarray([0.0]), query_text="a", candidate_texts=["b"])[0]
    assert score == pytest.approx(expected)
    cosine_path = tmp_path / "old-cosine.json"
    cosine_path.write_text(json.dumps({"kind": "cosine", "threshold": 0.97, "weights": None}), encoding="utf-8")
    assert MatchRule.load(cosine_path, embedder="model-x", dimensions=4).threshold == 0.97


def test_a_rule_from_a_newer_version_or_other_features_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    MatchRule(0.7, small_model(), "model-x").save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(data | {"format": RULE_FORMAT + 1}), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=f"format {RULE_FORMAT + 1}") as refused:
        MatchRule.load(path, embedder="model-x", dimensions=4)
    assert str(path) in str(refused.value) and "calibrate" in str(refused.value)
    data["model"]["tree_features"] = ["cosine", "something_else"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="other pair features"):
        MatchRule.load(path, embedder="model-x", dimensions=4)
    MatchRule(0.7, small_model(), "model-x").save(path)
    with pytest.raises(ConfigurationError, match="fitted for embedder 'model-x'"):
        MatchRule.load(path, embedder="model-y", dimensions=4)
