"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint, through ``openai.AsyncOpenAI``.

``base_url`` points it at any compatible server (OpenAI, Ollama, vLLM, the test
kit's loopback server). ``dimensions`` must be known before the first call: it
is looked up for OpenAI's own models and must be set for any other model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from intelbot.embedding.base import EmbedderBase, EmbedderUnavailable
from intelbot.errors import ConfigurationError

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(EmbedderBase):
    """Calls ``client.embeddings.create`` once per batch; failures raise ProviderError with a category.

    Errors are translated exactly as the chat providers' are (``providers.sdk_errors.call_sdk``):
    Retry-After, error codes and key redaction included.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        batch_size: int = 256,
        lru_size: int = 1024,
    ) -> None:
        super().__init__(batch_size=batch_size, lru_size=lru_size)
        resolved = dimensions or KNOWN_DIMENSIONS.get(model)
        if not resolved or resolved <= 0:
            raise ConfigurationError(
                f"the dimensions of embedding model {model!r} are unknown; set them", key="embedding.dimensions"
            )
        if not api_key:
            raise EmbedderUnavailable("the OpenAI embedder needs an API key", key="embedding.api_key")
        import openai

        self._api_key = api_key
        self._timeout = timeout
        self._client: Any = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.dimensions = int(resolved)
        self.name = f"openai/{model}"

    async def _embed_batch(self, texts: list[str]) -> npt.ArrayLike:
        from intelbot.providers.openai_client import SDK_EXCEPTIONS
        from intelbot.providers.sdk_errors import call_sdk

        response: Any = await call_sdk(
            SDK_EXCEPTIONS,
            lambda: self._client.embeddings.create(model=self.model, input=texts, encoding_format="float"),
            provider="openai-embeddings",
            model=self.model,
            seconds=self._timeout,
            secrets=(self._api_key,),
        )
        rows = sorted(response.data, key=lambda item: item.index)
        return np.asarray([row.embedding for row in rows], dtype=np.float32)

    async def aclose(self) -> None:
        await self._client.close()
