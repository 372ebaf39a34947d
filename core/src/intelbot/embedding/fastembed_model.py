"""Local ONNX embeddings with fastembed (optional: ``pip install fastembed``).

fastembed downloads its model from the Hugging Face hub on first use and keeps
it in ``cache_dir``; with no network and no cached copy it cannot run, and this
embedder says so with :class:`EmbedderUnavailable` instead of a library traceback.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.embedding.base import EmbedderUnavailable, ThreadedEmbedderBase

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class FastEmbedEmbedder(ThreadedEmbedderBase):
    """fastembed ``TextEmbedding``; the model is fetched (or found in ``cache_dir``) when constructed."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, cache_dir: str | None = None, batch_size: int = 64, lru_size: int = 1024
    ) -> None:
        super().__init__(batch_size=batch_size, lru_size=lru_size)
        if importlib.util.find_spec("fastembed") is None:
            raise EmbedderUnavailable(
                "the fastembed embedder needs the optional package fastembed (pip install fastembed)",
                key="embedding.backend",
            )
        from fastembed import TextEmbedding

        try:
            self._model: Any = TextEmbedding(model_name=model, cache_dir=cache_dir)
        except Exception as error:  # fastembed raises ValueError, OSError or hub errors when it cannot fetch
            raise EmbedderUnavailable(
                f"fastembed cannot load model {model!r} (it downloads the model on first use; no network or cached "
                f"copy in cache_dir={cache_dir!r}?): {type(error).__name__}: {error}",
                key="embedding.model",
            ) from error
        probe = np.asarray(list(self._model.embed(["dimension probe"])), dtype=np.float32)
        self.dimensions = int(probe.shape[1])
        self.name = f"fastembed/{model}"

    def _embed_blocking(self, texts: list[str]) -> npt.ArrayLike:
        return np.asarray(list(self._model.embed(texts, batch_size=self.batch_size)), dtype=np.float32)
