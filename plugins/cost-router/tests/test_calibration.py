"""The routing curve: ties, random and oracle baselines, threshold choice; the router file round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intelbot_cost_router.calibration import (
    delivered,
    oracle_strong_share_at_target,
    random_strong_share_at_target,
    strong_share_at_target,
    threshold_for_target,
)
from intelbot_cost_router.features import ContentType, content_type, text_features
from intelbot_cost_router.outcomes import read_outcomes
from intelbot_cost_router.router_file import RouterFileError, load_router, save_router
from intelbot_cost_router.training import estimates_of, train_router, training_data

STRONG = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
WEAK = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0])


def test_a_constant_estimate_is_exactly_as_good_as_random() -> None:
    constant = np.zeros(STRONG.size)
    assert strong_share_at_target(constant, STRONG, WEAK, 0.95) == pytest.approx(
        random_strong_share_at_target(STRONG, WEAK, 0.95)
    )


def test_the_oracle_needs_only_the_prompts_where_strong_is_better() -> None:
    # strong mean 0.9, weak mean 0.7; 0.95 * 0.9 = 0.855 needs 1.55 of the 3 strong-only rows
    assert oracle_strong_share_at_target(STRONG, WEAK, 0.95) == pytest.approx(0.155)
    assert random_strong_share_at_target(STRONG, WEAK, 0.95) == pytest.approx((0.855 - 0.7) / 0.2)


def test_a_perfect_ranking_matches_the_oracle_and_a_reversed_one_is_worse_than_random() -> None:
    gain = STRONG - WEAK
    assert strong_share_at_target(gain, STRONG, WEAK, 0.95) == pytest.approx(
        oracle_strong_share_at_target(STRONG, WEAK, 0.95)
    )
    assert strong_share_at_target(-gain, STRONG, WEAK, 0.95) > random_strong_share_at_target(STRONG, WEAK, 0.95)


def test_the_threshold_takes_whole_groups_and_delivers_what_it_reports() -> None:
    estimates = np.array([0.1, 0.9, 0.1, 0.8, 0.0, 0.1, 0.1, 0.1, 0.8, 0.1])
    chosen = threshold_for_target(estimates, STRONG, WEAK, 0.95)
    assert chosen.threshold == pytest.approx(0.8)
    assert chosen.strong_share == pytest.approx(0.3)
    quality, share = delivered(estimates, STRONG, WEAK, np.full(STRONG.size, chosen.threshold))
    assert (quality, share) == (pytest.approx(chosen.quality), pytest.approx(0.3))
    assert quality >= 0.95 * STRONG.mean()


def test_content_types_and_text_features() -> None:
    assert content_type("```python\nprint(1)\n```") is ContentType.CODE
    assert content_type("If 3 pens cost 12 dollars, how much do 7 pens cost?") is ContentType.MATH
    assert content_type("Write a poem about the sea") is ContentType.CREATIVE
    assert content_type("hello there") is ContentType.CHAT
    assert text_features("Привет, как дела?")[17] > 0.9  # non-Latin share
    assert text_features("x", depth=3)[18] == pytest.approx(np.log1p(3))


def test_router_file_round_trip_and_a_malformed_file(tmp_path: Path, outcome_file: Path) -> None:
    data = training_data(read_outcomes(outcome_file), None)
    router = train_router(data, embedder="", content_targets={"math": 0.99})
    path = tmp_path / "router.json"
    save_router(router, path, trained_on=["x"])
    again = load_router(path)
    assert np.allclose(estimates_of(again, data), estimates_of(router, data))
    assert again.threshold == router.threshold and "math" in again.content_thresholds
    path.write_text('{"format": 1}', encoding="utf-8")
    with pytest.raises(RouterFileError, match=str(path)):
        load_router(path)


def test_the_correct_target_is_p_strong_right_minus_p_weak_right_of_two_logistic_fits() -> None:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    from intelbot_cost_router.estimator import fit_linear

    rng = np.random.default_rng(3)
    text = rng.normal(size=(300, 19))
    strong = (text[:, 0] + 0.5 * rng.normal(size=300) > -0.8).astype(np.float64)
    weak = (text[:, 1] + 0.5 * rng.normal(size=300) > 0.3).astype(np.float64)
    model = fit_linear(text, None, strong, weak, embedder="", c=0.5, target="correct")
    z = (text - text.mean(axis=0)) / text.std(axis=0)
    expected = sum(
        sign * LogisticRegression(C=0.5, max_iter=2000).fit(z, labels.astype(int)).predict_proba(z)[:, 1]
        for sign, labels in ((1.0, strong), (-1.0, weak))
    )
    assert model.target == "correct"
    assert np.allclose(model.estimate_matrix(text), expected, atol=1e-4)


def test_a_correct_target_router_round_trips_and_an_older_file_still_loads(tmp_path: Path, outcome_file: Path) -> None:
    import json

    from intelbot_cost_router.training import Candidate

    data = training_data(read_outcomes(outcome_file), None)
    router = train_router(data, embedder="", candidates=[Candidate("text correct C=0.1", False, None, 0.1, "correct")])
    path = tmp_path / "router.json"
    save_router(router, path, trained_on=["x"])
    again = load_router(path)
    assert again.model.target == "correct" and again.candidate == "text correct C=0.1"
    assert np.allclose(estimates_of(again, data), estimates_of(router, data))
    word_problems = data.weak == 0
    assert estimates_of(again, data)[word_problems].min() > estimates_of(again, data)[~word_problems].max()

    assert json.loads(path.read_text(encoding="utf-8"))["format"] == 2  # a format-1 reader refuses it by number

    older = train_router(data, embedder="", candidates=[Candidate("text C=0.1", False, None, 0.1)])
    save_router(older, path, trained_on=["x"])
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["format"] = 1  # a file written before the target existed
    del payload["model"]["target"]
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert load_router(path).model.target == "benefit"
    assert np.allclose(estimates_of(load_router(path), data), estimates_of(older, data))

    payload["format"] = 2
    payload["model"]["target"] = "regret"
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(RouterFileError, match="unknown model target 'regret'"):
        load_router(path)
    payload["format"] = 3  # from a later version
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(RouterFileError, match=r"format 3, this version reads \(1, 2\)"):
        load_router(path)


def test_a_neighbour_router_averages_the_gain_of_the_k_nearest_and_round_trips(tmp_path: Path) -> None:
    import json

    from intelbot_cost_router.training import Candidate, TrainingData

    rng = np.random.default_rng(5)
    embeddings = rng.normal(size=(40, 8))
    strong = np.ones(40)
    weak = (embeddings[:, 0] < 0).astype(np.float64)  # the weak tier fails on one half of the space
    data = TrainingData(np.zeros((40, 19)), embeddings, strong, weak, ("x",) * 40, (ContentType.CHAT,) * 40)
    router = train_router(data, embedder="test-embedder", candidates=[Candidate("kNN", True, None, 0.0, neighbours=3)])
    query = rng.normal(size=(6, 8))
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = (query / np.linalg.norm(query, axis=1, keepdims=True)) @ unit.T
    expected = [(strong - weak)[np.argsort(-row)[:3]].mean() for row in similarity]
    assert np.allclose(router.model.estimate_matrix(query), expected)
    assert router.model.description == "embedding kNN k=3" and router.model.uses_embedding

    path = tmp_path / "router.json"
    save_router(router, path, trained_on=["x"])
    again = load_router(path)
    assert np.allclose(estimates_of(again, data), estimates_of(router, data), atol=1e-5)
    with pytest.raises(ValueError, match="needs 8-dimensional embeddings"):
        again.model.estimate(np.zeros(19), None)
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["model"]["gains"] = payload["model"]["gains"][:-1]
    path.write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(RouterFileError, match="one gain per neighbour vector"):
        load_router(path)


def test_a_neighbour_routers_single_prompt_estimate_equals_its_matrix_estimate() -> None:
    from intelbot_cost_router.estimator import fit_neighbours

    rng = np.random.default_rng(9)
    model = fit_neighbours(rng.normal(size=(50, 6)), rng.random(50), rng.random(50), embedder="e", k=4)
    queries = rng.normal(size=(5, 6))
    singles = [model.estimate(np.zeros(19), query) for query in queries]
    assert np.allclose(singles, model.estimate_matrix(queries))


def test_a_training_set_above_the_neighbour_cap_never_tries_a_knn_router() -> None:
    """A kNN decision costs a product over every training prompt, so big training sets only get linear routers."""
    from intelbot_cost_router.training import MAX_NEIGHBOUR_ROWS, Candidate, TrainingData

    rows = MAX_NEIGHBOUR_ROWS + 1
    rng = np.random.default_rng(7)
    embeddings = rng.normal(size=(rows, 8))
    strong = np.ones(rows)
    weak = (embeddings[:, 0] < 0).astype(np.float64)
    data = TrainingData(np.zeros((rows, 19)), embeddings, strong, weak, ("x",) * rows, (ContentType.CHAT,) * rows)
    knn = Candidate("kNN", True, None, 0.0, neighbours=3)
    linear = Candidate("text+embedding C=0.01", True, None, 0.01)
    router = train_router(data, embedder="test-embedder", candidates=[knn, linear])
    assert set(router.cv_scores) == {"text+embedding C=0.01"} and not router.model.description.startswith(
        "embedding kNN"
    )
    small = TrainingData(data.text[:40], embeddings[:40], strong[:40], weak[:40], ("x",) * 40, (ContentType.CHAT,) * 40)
    assert "kNN" in train_router(small, embedder="test-embedder", candidates=[knn, linear]).cv_scores
