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
from intelbot.errors import ConfigurationError, ErrorCategory, ProviderError, category_for_status

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(EmbedderBase):
    """Calls ``client.embeddings.create`` once per batch; API failures raise ProviderError with a category."""

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

        self._openai = openai
        self._client: Any = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self.model = model
        self.dimensions = int(resolved)
        self.name = f"openai/{model}"

    async def _embed_batch(self, texts: list[str]) -> npt.ArrayLike:
        openai = self._openai
        try:
            response = await self._client.embeddings.create(model=self.model, input=texts, encoding_format="float")
        except openai.APIStatusError as error:
            raise ProviderError(
                f"embeddings request failed with HTTP {error.status_code}",
                category=category_for_status(error.status_code, str(getattr(error, "body", "") or "")),
                provider="openai-embeddings",
                model=self.model,
                status=error.status_code,
            ) from None
        except openai.APITimeoutError:
            raise ProviderError(
                "embeddings request timed out",
                category=ErrorCategory.TIMEOUT,
                provider="openai-embeddings",
                model=self.model,
            ) from None
        except openai.APIConnectionError:
            raise ProviderError(
                "cannot connect to the embeddings endpoint",
                category=ErrorCategory.CONNECTION,
                provider="openai-embeddings",
                model=self.model,
            ) from None
        rows = sorted(response.data, key=lambda item: item.index)
        return np.asarray([row.embedding for row in rows], dtype=np.float32)

    async def aclose(self) -> None:
        await self._client.close()
