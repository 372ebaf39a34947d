"""The benchmark's protocol and ``intelbot cache calibrate`` on a few hand-written pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from intelbot.embedding import Embedder
from intelbot_semantic_cache.calibration import (
    LabelledPair,
    Lookup,
    QuestionGroups,
    figures,
    pick_threshold,
    read_pairs,
    run_protocol,
    split_pairs,
)
from intelbot_semantic_cache.cli import cache_group
from intelbot_semantic_cache.matching import MatchRule

PAIRS = [
    LabelledPair("How do I learn Python quickly?", "What is the fastest way to learn Python?", True),
    LabelledPair(
        "What are the biggest frustrations with YouTube?", "What are the biggest frustrations with education?", False
    ),
    LabelledPair("How can I lose weight fast?", "What is the quickest way to lose weight?", True),
    LabelledPair("Is it safe to travel to Iceland in winter?", "Is Iceland safe to visit in winter?", True),
    LabelledPair("Why is the sky blue?", "Why is the ocean salty?", False),
    LabelledPair("How do I make my own bread?", "How do I bake bread at home?", True),
]


def test_groups_join_chains_of_duplicates_and_identical_normalized_text() -> None:
    groups = QuestionGroups(
        [
            LabelledPair("A b?", "c d", True),
            LabelledPair("c  d!", "e f", True),  # "c d" normalized: chains to "e f"
            LabelledPair("e f", "g h", False),
        ]
    )
    assert groups.same("a b", "E-F")
    assert not groups.same("a b", "g h")


def test_figures_follow_the_protocol_definitions() -> None:
    pairs = [
        LabelledPair("q one", "q one again", True),  # correct hit on a duplicate
        LabelledPair("q two", "q two other", False),  # false hit: own q1, labelled not duplicate
        LabelledPair("q three", "q three x", True),  # unlabelled hit: another entry
        LabelledPair("q four", "q four y", True),  # miss (score under threshold)
    ]
    lookups = [
        Lookup("q one", "semantic", 0.99, 0.99),
        Lookup("q two", "semantic", 0.98, 0.98),
        Lookup("q four", "semantic", 0.97, 0.97),
        Lookup("q one", "semantic", 0.5, 0.5),
    ]
    result = figures(pairs, lookups, QuestionGroups(pairs), 0.9)
    assert result["hit_rate"] == round(1 / 3, 4)
    assert result["precision"] == 0.5
    assert result["precision_conservative"] == round(1 / 3, 4)
    assert result["false_hit_rate"] == 1.0
    assert result["unlabelled_hit_share"] == round(1 / 3, 4)


def test_pick_threshold_is_the_lowest_with_precision_at_and_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intelbot_semantic_cache.calibration.MIN_SUPPORT", 1)
    pairs = [LabelledPair(f"q{n}", f"p{n}", duplicate) for n, duplicate in enumerate([True, True, False, True, False])]
    scores = [0.99, 0.98, 0.97, 0.96, 0.95]
    lookups = [
        Lookup(f"q{n}" if pair.duplicate else pair.q1, "semantic", score, score)
        for n, (pair, score) in enumerate(zip(pairs, scores, strict=True))
    ]
    groups = QuestionGroups([LabelledPair(pair.q1, pair.q2, pair.duplicate) for pair in pairs])
    # cumulative precision from the top: 1, 1, 2/3, 3/4, 3/5
    assert pick_threshold(pairs, lookups, groups, 1.0) == 0.98
    assert pick_threshold(pairs, lookups, groups, 0.75) == 0.98  # 0.97 dips under 0.75
    assert pick_threshold(pairs, lookups, groups, 0.65) == 0.96
    assert pick_threshold(pairs, lookups, groups, 0.6) == 0.95


async def test_protocol_runs_through_the_real_cache(minilm: Embedder) -> None:
    from intelbot_semantic_cache.calibration import embed_all

    vectors = await embed_all(minilm, PAIRS)
    lookups = await run_protocol(PAIRS, minilm, MatchRule(0.0, None, minilm.name), vectors)
    assert [lookup.kind for lookup in lookups] == ["semantic"] * len(PAIRS)
    for pair, lookup in zip(PAIRS, lookups, strict=True):
        if pair.duplicate:  # each paraphrase finds its own question, with the cosine of the two vectors
            assert lookup.matched == pair.q1
            direct = float(vectors[pair.q1] @ vectors[pair.q2])
            assert lookup.similarity == pytest.approx(direct, abs=1e-5)
    groups = QuestionGroups(PAIRS)
    assert figures(PAIRS, lookups, groups, 0.0)["hit_rate"] == 1.0
    assert figures(PAIRS, lookups, groups, 0.999)["hits"] == 0


def test_read_pairs_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(
        '{"q1": "a", "q2": "b", "duplicate": 1}\n{"q1": "a", "q2": "b", "duplicate": 2}\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"pairs.jsonl:2: duplicate must be 0 or 1"):
        read_pairs(path)


def write_pairs(path: Path, copies: int = 1) -> None:
    lines = []
    for copy in range(copies):
        for pair in PAIRS:
            suffix = f" (variant {copy})" if copy else ""
            lines.append(json.dumps({"q1": pair.q1 + suffix, "q2": pair.q2 + suffix, "duplicate": int(pair.duplicate)}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pairs_in_private_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copies: int = 1) -> Path:
    """The test pairs written to a file, with settings and data directories of the test's own."""
    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_DATA_DIR", str(tmp_path / "data"))
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, copies=copies)
    return pairs


def test_calibrate_command_prints_one_json_object(
    tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = pairs_in_private_directories(tmp_path, monkeypatch)
    result = CliRunner().invoke(
        cache_group, ["calibrate", str(pairs), "--rule", "cosine", "--holdout", "0", "--threshold", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    for key in (
        "threshold",
        "hit_rate",
        "precision",
        "precision_conservative",
        "false_hit_rate",
        "unlabelled_hit_share",
    ):
        assert key in report
    assert report["threshold"] == 0.0 and report["hit_rate"] == 1.0 and report["in_sample"] is True


def test_calibrate_learned_rule_and_save(tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = pairs_in_private_directories(tmp_path, monkeypatch, copies=4)
    result = CliRunner().invoke(cache_group, ["calibrate", str(pairs), "--target-precision", "0.9", "--save"])
    assert result.exit_code == 0, result.output
    assert "rule learned at threshold" in result.stdout and "held-out rows 12..23" in result.stdout
    saved = json.loads((tmp_path / "data" / "semantic_cache" / "calibration.json").read_text(encoding="utf-8"))
    assert saved["kind"] == "learned" and saved["embedder"] == minilm.name
    assert saved["format"] == 3 and saved["model"]["stage"] == "logistic" and saved["model"]["adapter"] is None
    assert len(saved["model"]["vector_weights"]) == 2 * 384 + 2
    rule = MatchRule.load(
        tmp_path / "data" / "semantic_cache" / "calibration.json", embedder=minilm.name, dimensions=384
    )
    assert rule.threshold == saved["threshold"]


def test_calibrate_with_the_adapter_stage_saves_it_and_picks_its_threshold_out_of_fold(
    tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = pairs_in_private_directories(tmp_path, monkeypatch, copies=4)
    result = CliRunner().invoke(
        cache_group, ["calibrate", str(pairs), "--target-precision", "0.9", "--stage", "adapter", "--save", "--json"]
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "semantic_cache" / "calibration.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["format"] == 3 and saved["model"]["stage"] == "adapter" and saved["model"]["vector_weights"] == []
    assert len(saved["model"]["adapter"]["matrix"]) == 384
    assert saved["notes"]["threshold_picked_on"] == "out-of-fold scores, 5 folds"
    rule = MatchRule.load(path, embedder=minilm.name, dimensions=384)
    assert rule.model is not None and rule.model.stage == "adapter" and rule.threshold == saved["threshold"]


def test_calibrate_reports_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("not json\n", encoding="utf-8")
    result = CliRunner().invoke(cache_group, ["calibrate", str(pairs)])
    assert result.exit_code == 2
    assert "pairs.jsonl:1: not JSON" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("count", [2, 7, 20213])
def test_one_split_no_row_on_both_sides(count: int) -> None:
    pairs = [LabelledPair(f"q{i}", f"r{i}", bool(i % 2)) for i in range(count)]
    fit, report, split = split_pairs(pairs, 0.5)
    assert fit + report == pairs and pairs[split] == report[0]
    assert not {pair.q1 for pair in fit} & {pair.q1 for pair in report}
    assert split_pairs(pairs, 0.0)[1] == pairs  # holdout 0: in-sample, on every row


def test_evaluate_scores_the_saved_rule_on_new_pairs_with_calibrates_keys(
    tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_DATA_DIR", str(tmp_path / "data"))
    fitting, new = tmp_path / "fitting.jsonl", tmp_path / "new.jsonl"
    write_pairs(fitting, copies=4)
    new_rows = [
        {"q1": "How do I bake sourdough bread?", "q2": "What is the way to make sourdough bread?", "duplicate": 1},
        {"q1": "Why do cats purr?", "q2": "Why do dogs bark?", "duplicate": 0},
        {"q1": "How can I learn to swim as an adult?", "q2": "How do adults learn swimming?", "duplicate": 1},
    ]
    new.write_text("".join(json.dumps(row) + "\n" for row in new_rows), encoding="utf-8")
    runner = CliRunner()
    before = runner.invoke(cache_group, ["evaluate", str(new), "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["rule"] == "cosine"  # nothing saved yet: the settings' plain cosine
    calibrated = runner.invoke(
        cache_group, ["calibrate", str(fitting), "--target-precision", "0.9", "--save", "--json"]
    )
    assert calibrated.exit_code == 0, calibrated.output
    evaluated = runner.invoke(cache_group, ["evaluate", str(new), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    calibration, evaluation = json.loads(calibrated.stdout), json.loads(evaluated.stdout)
    assert set(evaluation) == set(calibration) - {"saved_to"}
    saved = json.loads((tmp_path / "data" / "semantic_cache" / "calibration.json").read_text(encoding="utf-8"))
    assert evaluation["rule"] == "learned" and evaluation["threshold"] == saved["threshold"]
    assert evaluation["pairs"] == 3 and evaluation["reported_on_rows"] == [0, 3] and evaluation["fit"] is None
    assert evaluation["baseline_cosine"]["threshold"] == saved["notes"]["baseline_cosine_threshold"]
    assert evaluation["rule_from"].endswith("calibration.json")
    text = runner.invoke(cache_group, ["evaluate", str(new)])
    assert "all 3 pairs" in text.stdout and "plain cosine at threshold" in text.stdout
