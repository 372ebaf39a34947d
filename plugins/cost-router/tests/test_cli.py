"""``intelbot router train`` then ``evaluate`` through the CLI, and bad outcome files named by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from intelbot_cost_router.cli import router_group
from intelbot_cost_router.feedback_outcomes import outcome_of
from intelbot_cost_router.router_file import load_router
from intelbot_cost_router.store import Decision

from .conftest import outcome_rows

EVALUATE_KEYS = {
    "rows",
    "strong_quality",
    "weak_quality",
    "strong_share_at_target",
    "random_strong_share_at_target",
    "oracle_strong_share_at_target",
    "quality_at_threshold",
    "strong_share_at_threshold",
}


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_train_then_evaluate_the_saved_router(settings_dir: Path, outcome_file: Path) -> None:
    runner = CliRunner()
    trained = runner.invoke(router_group, ["train", str(outcome_file), "--text-only", "--save", "--json"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    saved = settings_dir / "data" / "cost_router" / "router.json"
    assert summary["saved_to"] == str(saved) and summary["rows"] == 60
    assert load_router(saved).threshold == summary["threshold"]

    held_out = settings_dir / "held-out.jsonl"
    held_out.write_text("".join(json.dumps(row) + "\n" for row in outcome_rows(40, seed=11)), encoding="utf-8")
    evaluated = runner.invoke(router_group, ["evaluate", str(held_out), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert set(figures) >= EVALUATE_KEYS
    assert figures["rows"] == 40
    assert (figures["strong_quality"], figures["weak_quality"]) == (1.0, 0.5)
    # the router separates the two kinds of prompt: it needs only the word problems, as the oracle does
    assert figures["strong_share_at_target"] == pytest.approx(figures["oracle_strong_share_at_target"])
    assert figures["random_strong_share_at_target"] == pytest.approx(0.9)  # 0.5 + 0.5 s = 0.95
    assert figures["strong_share_at_threshold"] == pytest.approx(0.5)
    assert figures["quality_at_threshold"] == pytest.approx(1.0)

    lowered = runner.invoke(router_group, ["evaluate", str(held_out), "--json", "--quality-target", "0.5"])
    assert json.loads(lowered.stdout.strip().splitlines()[-1])["strong_share_at_target"] == 0.0


def test_train_without_save_writes_nothing(settings_dir: Path, outcome_file: Path) -> None:
    result = CliRunner().invoke(router_group, ["train", str(outcome_file), "--text-only"])
    assert result.exit_code == 0, result.output
    assert "not saved" in result.stdout
    assert not (settings_dir / "data" / "cost_router" / "router.json").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "hi", "weak_correct": 1}', "line 3: missing field strong_correct"),
        (
            '{"prompt": "hi", "strong_correct": "yes", "weak_correct": 1}',
            "line 3: strong_correct must be a finite number",
        ),
        (
            '{"prompt": "hi", "strong_correct": true, "weak_correct": 1}',
            "line 3: strong_correct must be a finite number",
        ),
        ('{"prompt": "", "strong_correct": 1, "weak_correct": 1}', "line 3: prompt must be a non-empty string"),
        ("not json", "line 3: not valid JSON"),
        ("[1, 2]", "line 3: expected a JSON object"),
    ],
)
def test_a_bad_outcome_line_is_named(settings_dir: Path, line: str, message: str) -> None:
    path = settings_dir / "bad.jsonl"
    good = json.dumps({"prompt": "What is 2 + 2?", "strong_correct": 1, "weak_correct": 1})
    path.write_text(f"{good}\n\n{line}\n{good}\n", encoding="utf-8")
    result = CliRunner().invoke(router_group, ["train", str(path), "--text-only"])
    assert result.exit_code == 2
    assert f"error: {path}:{message.split(':', 1)[0].removeprefix('line ')}" in result.stderr
    assert message.split(": ", 1)[1] in result.stderr


def test_an_empty_or_missing_outcome_file_is_an_error(settings_dir: Path) -> None:
    empty = settings_dir / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(router_group, ["train", str(empty), "--text-only"])
    assert result.exit_code == 2 and "no outcome rows (the file is empty)" in result.stderr
    missing = runner.invoke(router_group, ["train", str(settings_dir / "absent.jsonl"), "--text-only"])
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_evaluate_without_a_saved_router_says_how_to_make_one(settings_dir: Path, outcome_file: Path) -> None:
    result = CliRunner().invoke(router_group, ["evaluate", str(outcome_file)])
    assert result.exit_code == 2
    assert "intelbot router train" in result.stderr


def test_train_from_feedback_with_no_votes_is_a_clear_error(settings_dir: Path) -> None:
    result = CliRunner().invoke(router_group, ["train", "--from-feedback", "--text-only"])

    assert result.exit_code == 2
    assert "no outcome rows from feedback (0 votes, 0 not usable)" in result.output


def test_train_needs_an_outcome_file_or_feedback(settings_dir: Path) -> None:
    result = CliRunner().invoke(router_group, ["train", "--text-only"])

    assert result.exit_code == 2
    assert "name at least one OUTCOMES file, or add --from-feedback" in result.output


def decision(tier: str, *, complete: bool = True, rule: str = "learned", prompt: str | None = "q") -> Decision:
    return Decision("r1", None, None, 1, 0.0, tier, "m", rule, "chat", 0.5, 0.5, 0.0, 0.0, 0.0, complete, prompt)


@pytest.mark.parametrize(
    ("tier", "vote", "complete", "labels"),
    [
        ("small", "down", True, (1.0, 0.0)),
        ("small", "up", True, (1.0, 1.0)),
        ("small", None, False, (1.0, 0.0)),
        ("large", "up", True, (1.0, 0.5)),
        ("large", "down", True, (0.0, 0.0)),
        ("small", None, True, None),
        ("large", None, False, None),
    ],
)
def test_the_feedback_rule_as_documented(
    tier: str, vote: str | None, complete: bool, labels: tuple[float, float] | None
) -> None:
    row = outcome_of(decision(tier, complete=complete), vote, strong_tier="large")

    assert (None if row is None else (row.strong, row.weak)) == labels


def test_the_feedback_rule_skips_unrouted_turns_and_missing_prompts() -> None:
    assert outcome_of(decision("small", rule="tier"), "down", strong_tier="large") is None
    assert outcome_of(decision("small", prompt=None), "down", strong_tier="large") is None
