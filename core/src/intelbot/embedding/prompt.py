"""The turn's prompt vector, embedded once and shared by every plugin that needs it."""

from __future__ import annotations

from intelbot.contract import PromptEmbedding, TurnContext
from intelbot.embedding.base import Embedder, Vectors


def embedding_text(text: str) -> str:
    """The text given to the embedder for a prompt or a stored question: whitespace collapsed, otherwise verbatim."""
    return " ".join(text.split())


async def prompt_vector(ctx: TurnContext, embedder: Embedder, prompt: str) -> Vectors:
    """The vector of ``prompt`` by ``embedder``, reused from ``ctx`` when another plugin already embedded it.

    The cache, the router and memory call this for the same turn; only the first
    call embeds. The result is one row (shape ``(dimensions,)``), of unit length.
    """
    text = embedding_text(prompt)
    shared = ctx.state(PromptEmbedding)
    vector = shared.reusable(text, embedder.name)
    if vector is None:
        vector = (await embedder.embed([text]))[0]
        shared.keep(text, embedder.name, vector)
    return vector  # type: ignore[no-any-return]
