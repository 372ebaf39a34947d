"""The router file: a trained model and its calibrated thresholds, as JSON (numbers only, no pickle).

``intelbot router train --save`` writes it (``<data_dir>/cost_router/router.json`` unless
``router_file`` names another path); the plugin reads it at start-up and
``intelbot router evaluate`` scores it. Writing goes through a temporary file and a
rename, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from intelbot_cost_router.estimator import model_from_dict
from intelbot_cost_router.training import TrainedRouter

FORMAT = 2
"""Written by this version. 2 added the ``correct`` target and the ``neighbours`` kind, which a
format-1 reader would misread (a ``correct`` model is still kind ``linear``), so those readers
refuse a format-2 file by its number. Files of format 1 (``benefit`` models) still load."""
READABLE_FORMATS = (1, 2)


class RouterFileError(ValueError):
    """A router file that cannot be used; the message names the file."""


def save_router(router: TrainedRouter, path: Path, *, trained_on: list[str]) -> None:
    """Write ``router`` to ``path`` atomically (parent folders are created)."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "created_at": time.time(),
        "trained_on": trained_on,
        "rows": router.rows,
        "candidate": router.candidate,
        "cv_scores": dict(router.cv_scores),
        "quality_target": router.quality_target,
        "threshold": router.threshold,
        "content_thresholds": {kind: list(value) for kind, value in router.content_thresholds.items()},
        "calibration": {"strong_share": router.calibration_share, "quality": router.calibration_quality},
        "target_thresholds": [  # null: no prompt goes to the strong tier at that target
            [target, value if math.isfinite(value) else None]
            for target, value in sorted(router.target_thresholds.items())
        ],
        "model": router.model.to_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".router-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(payload, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_router(path: Path) -> TrainedRouter:
    """The router saved at ``path``; RouterFileError naming the file when it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RouterFileError(f"{path}: no router file (run `intelbot router train OUTCOMES.jsonl --save`)") from None
    except (OSError, ValueError) as error:
        raise RouterFileError(f"{path}: not a readable router file ({type(error).__name__})") from None
    try:
        if data.get("format") not in READABLE_FORMATS:
            raise ValueError(f"format {data.get('format')!r}, this version reads {READABLE_FORMATS}")
        if data.get("format") == 1 and dict(data["model"]).get("target", "benefit") != "benefit":
            raise ValueError("a format-1 file holds benefit models only")
        content = {
            str(kind): (float(value[0]), float(value[1])) for kind, value in dict(data["content_thresholds"]).items()
        }
        return TrainedRouter(
            model=model_from_dict(data["model"]),
            quality_target=float(data["quality_target"]),
            threshold=float(data["threshold"]),
            content_thresholds=content,
            candidate=str(data["candidate"]),
            cv_scores={str(key): float(value) for key, value in dict(data["cv_scores"]).items()},
            rows=int(data["rows"]),
            calibration_share=float(data["calibration"]["strong_share"]),
            calibration_quality=float(data["calibration"]["quality"]),
            sources=tuple(str(item) for item in data.get("trained_on", [])),
            target_thresholds={
                float(pair[0]): math.inf if pair[1] is None else float(pair[1])
                for pair in data.get("target_thresholds", [])
            },
        )
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise RouterFileError(f"{path}: malformed router file ({error})") from None
