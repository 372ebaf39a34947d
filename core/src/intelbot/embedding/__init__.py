"""Text embeddings for every plugin that needs them (semantic cache, memory).

``embedder_from_settings(settings)`` returns the configured :class:`Embedder`
(sentence-transformers with the bundled all-MiniLM-L6-v2 by default, fastembed,
or an OpenAI-compatible API), or None when none is available.
"""

from intelbot.embedding.base import Embedder, EmbedderBase, EmbedderUnavailable, Vectors, l2_normalize
from intelbot.embedding.factory import build_embedder, embedder_from_settings, embedding_config
from intelbot.embedding.prompt import embedding_text, prompt_vector

__all__ = [
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
]
