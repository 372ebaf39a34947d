"""The provider interface: what the kernel needs from anything that serves a model."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse


@runtime_checkable
class Provider(Protocol):
    """Something that turns an :class:`LLMRequest` into an :class:`LLMResponse`.

    ``complete`` must either return a response with ``usage``, ``stop_reason``,
    ``provider`` and ``model`` filled in, or raise :class:`intelbot.errors.ProviderError`
    with the right category: adapters translate every SDK exception and HTTP status
    through the taxonomy, and never put keys or headers in messages. The kernel
    fills in cost and latency. ``timeout`` is the seconds this attempt may take.
    """

    name: str

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse: ...

    async def aclose(self) -> None: ...


def provider_settings(settings: Any, name: str) -> dict[str, Any]:
    """The ``[default.providers.<name>]`` table as a plain dict with lower-case keys ({} when absent)."""
    providers = settings.get("providers") or {}
    for key, value in providers.items():
        if str(key).lower() == name.lower():
            return {str(item).lower(): setting for item, setting in dict(value).items()}
    return {}
