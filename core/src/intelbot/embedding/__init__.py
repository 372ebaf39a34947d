"""Text embeddings for every plugin that needs them (semantic cache, memory).

``embedder_from_settings(settings)`` returns the configured :class:`Embedder`, or
None when none is available. The default is the bundled all-MiniLM-L6-v2 on ONNX
Runtime, loading in the background (:class:`BackgroundEmbedder`; ask
:func:`wait_until_ready` before a latency-sensitive ``embed``). The same model on
sentence-transformers (PyTorch), fastembed and an OpenAI-compatible API are the
other backends.
"""

from intelbot.embedding.background import BackgroundEmbedder, wait_until_ready
from intelbot.embedding.base import Embedder, EmbedderBase, EmbedderUnavailable, Vectors, l2_normalize, quantize_int8
from intelbot.embedding.factory import build_embedder, embedder_from_settings, embedding_config
from intelbot.embedding.prompt import embedding_text, prompt_vector

__all__ = [
    "BackgroundEmbedder",
    "Embedder",
    "EmbedderBase",
    "EmbedderUnavailable",
    "Vectors",
    "build_embedder",
    "embedder_from_settings",
    "embedding_config",
    "embedding_text",
    "l2_normalize",
    "prompt_vector",
    "quantize_int8",
    "wait_until_ready",
]
