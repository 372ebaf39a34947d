"""The linear adapter stage: its gradient, what it learns, and its place in the rule file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intelbot.errors import ConfigurationError
from intelbot_semantic_cache.adapter import Adapter, adapter_loss_and_gradients, fit_adapter
from intelbot_semantic_cache.matching import RULE_FORMAT, MatchRule, PairModel


def unit_rows(rows: np.ndarray) -> np.ndarray:
    return np.asarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def test_the_gradient_is_the_derivative_of_the_loss() -> None:
    generator = np.random.default_rng(0)
    queries, candidates = unit_rows(generator.standard_normal((30, 5))), unit_rows(generator.standard_normal((30, 5)))
    labels = (generator.random(30) < 0.5).astype(np.float64)
    matrix = np.eye(5) + 0.1 * generator.standard_normal((5, 5))
    scale, bias, l2 = 7.0, -3.0, 0.01
    _, grad_matrix, grad_scale, grad_bias = adapter_loss_and_gradients(
        matrix, scale, bias, queries, candidates, labels, l2
    )
    step = 1e-6

    def loss(m: np.ndarray, s: float, b: float) -> float:
        return adapter_loss_and_gradients(m, s, b, queries, candidates, labels, l2)[0]

    numeric = np.zeros_like(matrix)
    for i in range(5):
        for j in range(5):
            bump = np.zeros_like(matrix)
            bump[i, j] = step
            numeric[i, j] = (loss(matrix + bump, scale, bias) - loss(matrix - bump, scale, bias)) / (2 * step)
    np.testing.assert_allclose(grad_matrix, numeric, rtol=1e-5, atol=1e-8)
    numeric_scale = (loss(matrix, scale + step, bias) - loss(matrix, scale - step, bias)) / (2 * step)
    numeric_bias = (loss(matrix, scale, bias + step) - loss(matrix, scale, bias - step)) / (2 * step)
    assert grad_scale == pytest.approx(numeric_scale) and grad_bias == pytest.approx(numeric_bias)


def pairs_that_differ_along(generator: np.random.Generator, dims: slice, count: int) -> tuple[np.ndarray, np.ndarray]:
    base = unit_rows(generator.standard_normal((count, 12)))
    moved = base.copy()
    moved[:, dims] += 0.35 * generator.standard_normal((count, dims.stop - dims.start))
    return base, unit_rows(moved)


def test_the_adapter_learns_which_directions_of_disagreement_change_the_meaning() -> None:
    """Rephrasings differ along dimensions 0-5, different questions along 6-11, by the same amount:
    their cosines are alike, so plain cosine cannot tell them apart; the fitted adapter can, on new pairs."""
    generator = np.random.default_rng(3)
    same_q, same_c = pairs_that_differ_along(generator, slice(0, 6), 400)
    other_q, other_c = pairs_that_differ_along(generator, slice(6, 12), 400)
    adapter = fit_adapter(
        np.vstack([same_q, other_q]), np.vstack([same_c, other_c]), np.r_[np.ones(400), np.zeros(400)], l2=1e-4
    )
    new_same_q, new_same_c = pairs_that_differ_along(generator, slice(0, 6), 200)
    new_other_q, new_other_c = pairs_that_differ_along(generator, slice(6, 12), 200)
    cosine_same = (new_same_q * new_same_c).sum(axis=1)
    cosine_other = (new_other_q * new_other_c).sum(axis=1)
    assert abs(float(np.median(cosine_same) - np.median(cosine_other))) < 0.02  # cosine alone is no help
    adapted_same = adapter.log_odds(new_same_q, new_same_c)
    adapted_other = adapter.log_odds(new_other_q, new_other_c)
    # nearly every new rephrasing scores above nearly every new different question
    assert np.quantile(adapted_same, 0.1) > np.quantile(adapted_other, 0.9)


def test_fitting_needs_both_kinds_of_example() -> None:
    rows = unit_rows(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(ValueError, match="both matching and non-matching"):
        fit_adapter(rows, rows, np.ones(4))


def adapter_rule() -> MatchRule:
    generator = np.random.default_rng(5)
    adapter = Adapter(np.eye(4) + 0.2 * generator.standard_normal((4, 4)), 9.0, -7.5)
    return MatchRule(0.6, PairModel(np.zeros(0), None, 0.8, adapter), "model-x", {"stage": "adapter"})


def test_a_rule_with_an_adapter_is_saved_as_format_3_and_scores_the_same_after_loading(tmp_path: Path) -> None:
    rule = adapter_rule()
    path = tmp_path / "calibration.json"
    rule.save(path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == RULE_FORMAT == 3 and saved["model"]["stage"] == "adapter"
    loaded = MatchRule.load(path, embedder="model-x", dimensions=4)
    assert loaded.model is not None and loaded.model.stage == "adapter"
    generator = np.random.default_rng(6)
    query = unit_rows(generator.standard_normal((1, 4)))[0]
    candidates = unit_rows(generator.standard_normal((3, 4)))
    cosines = np.asarray([0.9, 0.85, 0.3])  # the last is under the floor
    texts = ["a", "b", "c"]
    before = rule.scores(query, candidates, cosines, query_text="q", candidate_texts=texts)
    after = loaded.scores(query, candidates, cosines, query_text="q", candidate_texts=texts)
    np.testing.assert_allclose(before, after, rtol=1e-12)
    assert before[2] == 0.0 and 0.0 < before[0] < 1.0


def test_a_format_2_rule_without_an_adapter_still_means_what_it_meant(tmp_path: Path) -> None:
    weights = list(np.linspace(-1, 1, 10))
    path = tmp_path / "format2.json"
    data = {
        "format": 2,
        "kind": "learned",
        "threshold": 0.8,
        "embedder": "model-x",
        "model": {"vector_weights": weights, "trees": None, "tree_features": [], "floor": 0.0},
        "notes": {},
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    rule = MatchRule.load(path, embedder="model-x", dimensions=4)
    assert rule.model is not None and rule.model.stage == "logistic"
    query, candidate = np.eye(4)[0], np.eye(4)[1]
    features = np.concatenate([[0.0], query * candidate, np.abs(query - candidate), [1.0]])
    expected = 1 / (1 + np.exp(-features @ np.asarray(weights)))
    score = rule.scores(query, candidate[None, :], np.asarray([0.0]), query_text="a", candidate_texts=["b"])[0]
    assert score == pytest.approx(expected)


def test_an_adapter_for_another_dimension_or_a_broken_matrix_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    adapter_rule().save(path)
    with pytest.raises(ConfigurationError, match="4 dimensions") as refused:
        MatchRule.load(path, embedder="model-x", dimensions=384)
    assert str(path) in str(refused.value)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["adapter"]["matrix"][0] = [1.0, 2.0]  # not square
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot read the calibration") as broken:
        MatchRule.load(path, embedder="model-x", dimensions=4)
    assert str(path) in str(broken.value)
