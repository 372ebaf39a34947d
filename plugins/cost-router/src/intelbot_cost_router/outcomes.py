"""Outcome files: JSON lines with ``prompt``, ``strong_correct`` and ``weak_correct``.

Each line is one prompt and how well each tier answered it, as numbers on any
scale where higher is better (0/1 for right/wrong, 1-10 for a judge's score).
Optional fields: ``depth`` (earlier turns in the conversation, default 0) and
``benchmark`` (a label kept for reports). Other fields are ignored; blank lines
are skipped. A bad line stops reading with :class:`OutcomeFileError`, which names
the file and the line number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REQUIRED = ("prompt", "strong_correct", "weak_correct")


class OutcomeFileError(ValueError):
    """An outcome file that cannot be used; the message names the file and, when it applies, the line."""


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One prompt with the quality of the strong and the weak tier's answers."""

    prompt: str
    strong: float
    weak: float
    depth: int = 0
    source: str = ""


def _number(value: object, field: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise OutcomeFileError(f"{where}: {field} must be a finite number, got {json.dumps(value)[:40]}")
    return float(value)


def parse_line(line: str, where: str, *, source: str = "") -> OutcomeRow:
    """One outcome row from one JSON line; ``where`` (``file:line``) goes in the error."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise OutcomeFileError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise OutcomeFileError(f"{where}: expected a JSON object, got {type(data).__name__}")
    missing = [field for field in REQUIRED if field not in data]
    if missing:
        raise OutcomeFileError(f"{where}: missing field {', '.join(missing)}")
    prompt = data["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise OutcomeFileError(f"{where}: prompt must be a non-empty string")
    depth = data.get("depth", 0)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise OutcomeFileError(f"{where}: depth must be an integer >= 0, got {json.dumps(depth)[:40]}")
    label = data.get("benchmark", source)
    return OutcomeRow(
        prompt=prompt,
        strong=_number(data["strong_correct"], "strong_correct", where),
        weak=_number(data["weak_correct"], "weak_correct", where),
        depth=depth,
        source=str(label) if label is not None else source,
    )


def read_outcomes(path: Path | str, *, skip_contaminated: bool = False) -> list[OutcomeRow]:
    """Every row of the outcome file at ``path``; OutcomeFileError for a bad line or an empty file.

    ``skip_contaminated`` drops rows whose ``contaminated`` field is true (RouteLLM's
    published figures leave them out).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OutcomeFileError(f"{file}: no such file") from None
    except UnicodeDecodeError as error:
        raise OutcomeFileError(f"{file}: not UTF-8 text (byte {error.start})") from None
    rows: list[OutcomeRow] = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit inside a string
        if not line.strip():
            continue
        where = f"{file}:{number}"
        row = parse_line(line, where, source=file.stem)
        if skip_contaminated and json.loads(line).get("contaminated"):
            continue
        rows.append(row)
    if not rows:
        raise OutcomeFileError(f"{file}: no outcome rows (the file is empty)")
    return rows


def read_many(paths: Iterable[Path | str], *, skip_contaminated: bool = False) -> list[OutcomeRow]:
    """The rows of every file in ``paths``, in order."""
    rows: list[OutcomeRow] = []
    for path in paths:
        rows.extend(read_outcomes(path, skip_contaminated=skip_contaminated))
    return rows


def qualities(rows: Sequence[OutcomeRow]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(strong, weak) quality arrays of ``rows``."""
    strong = np.fromiter((row.strong for row in rows), dtype=np.float64, count=len(rows))
    weak = np.fromiter((row.weak for row in rows), dtype=np.float64, count=len(rows))
    return strong, weak
