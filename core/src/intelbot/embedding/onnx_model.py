"""The bundled all-MiniLM-L6-v2 on ONNX Runtime: the default embedder, no PyTorch at run time.

Texts are tokenized by ``tokenizers`` with the model's own ``tokenizer.json``,
truncated to ``max_seq_length`` (256) and padded to the longest text of the batch,
as sentence-transformers does; the graph (exported by :mod:`.onnx_export`) returns
the attention-masked mean of the token vectors, and :class:`EmbedderBase` scales
each to unit length. The vectors equal the sentence-transformers backend's
(cosine >= 0.9999, shown by the tests), so both share one ``name``: the vector
space, which stored vectors, index files and calibrations are keyed by.

``threads`` sets ONNX Runtime's intra-op threads for this session (default 1, for
the reason given in :mod:`.sentence_transformer`); 0 lets ONNX Runtime choose.

Memory: the weights are memory-mapped from the export (see :mod:`.onnx_files`);
ONNX Runtime's arena is off, so a large batch's buffers go back to the C heap, and
the heap is trimmed after loading and after large batches (glibc keeps freed
memory otherwise), so a long-running bot stays near its idle size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.embedding.base import EmbedderUnavailable, ThreadedEmbedderBase
from intelbot.embedding.bundled import BUNDLED_NAME
from intelbot.embedding.onnx_files import (
    INPUT_NAMES,
    MODEL_FILE,
    OUTPUT_NAME,
    TOKENIZER_FILE,
    ExportManifest,
    find_or_export,
)

TRIM_AFTER_BATCH = 16  # texts; smaller batches allocate too little to be worth returning
RUN_SIZE = 8  # texts per ONNX Runtime call within a batch, grouped by length


def _heap_trimmer() -> Callable[[], None]:
    """``malloc_trim(0)`` where the C library has it (glibc), else a no-op."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None

    def release() -> None:
        if trim is not None:
            trim(0)

    return release


class OnnxEmbedder(ThreadedEmbedderBase):
    """An ONNX Runtime session and a tokenizer over a verified export (see :func:`load_bundled_onnx`)."""

    runtime = "onnxruntime"

    def __init__(
        self,
        directory: Path,
        manifest: ExportManifest,
        *,
        threads: int | None = 1,
        batch_size: int = 64,
        lru_size: int = 1024,
    ) -> None:
        super().__init__(batch_size=batch_size, lru_size=lru_size)
        for package in ("onnxruntime", "tokenizers"):
            if importlib.util.find_spec(package) is None:
                raise EmbedderUnavailable(
                    f"the onnx embedder needs the package {package} (pip install 'intelbot[embeddings]')",
                    key="embedding.backend",
                )
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.enable_cpu_mem_arena = False
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session: Any = onnxruntime.InferenceSession(
                str(directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except Exception as error:  # ONNX Runtime raises its own exception types for unreadable graphs
            raise EmbedderUnavailable(
                f"cannot load the ONNX export in {directory}: {type(error).__name__}: {error}", key="embedding.onnx_dir"
            ) from error
        tokenizer.enable_truncation(max_length=manifest.max_seq_length)
        tokenizer.no_padding()  # padded here, per run of similar lengths
        self._tokenizer = tokenizer
        self._pad_id = manifest.pad_id
        self._trim_heap = _heap_trimmer()
        self._trim_heap()  # loading parsed the graph and built buffers it no longer needs
        self.directory = directory
        self.dimensions = manifest.dimensions
        self.name = BUNDLED_NAME

    def _embed_blocking(self, texts: list[str]) -> npt.ArrayLike:
        """Tokenize, sort by length, run in groups of ``RUN_SIZE`` padded to their longest, restore the order.

        Padding tokens are masked out of the mean, so grouping changes no vector;
        it saves the work of padding a short text to the batch's longest (attention
        grows with the square of the length): about 2.5x on a batch of 64 questions.
        """
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda position: len(encodings[position].ids))
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), RUN_SIZE):
            group = order[start : start + RUN_SIZE]
            width = max(1, max(len(encodings[position].ids) for position in group))
            input_ids = np.full((len(group), width), self._pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(group), width), dtype=np.int64)
            token_type_ids = np.zeros((len(group), width), dtype=np.int64)
            for row, position in enumerate(group):
                item = encodings[position]
                input_ids[row, : len(item.ids)] = item.ids
                attention_mask[row, : len(item.ids)] = item.attention_mask
                token_type_ids[row, : len(item.ids)] = item.type_ids
            feeds = dict(zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids), strict=True))
            (pooled,) = self._session.run([OUTPUT_NAME], feeds)
            vectors[group] = pooled
        if len(texts) >= TRIM_AFTER_BATCH:
            self._trim_heap()
        return vectors


def load_bundled_onnx(
    *,
    onnx_dir: Path | None = None,
    data_dir: Path | None = None,
    export: bool = True,
    threads: int | None = 1,
    batch_size: int = 64,
    lru_size: int = 1024,
) -> OnnxEmbedder:
    """The bundled model on ONNX Runtime from a verified export, exporting one first if needed (see onnx_files)."""
    directory, manifest = find_or_export(onnx_dir, data_dir, export=export)
    return OnnxEmbedder(directory, manifest, threads=threads, batch_size=batch_size, lru_size=lru_size)
