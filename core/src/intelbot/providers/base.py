"""The provider interface: what the kernel needs from anything that serves a model."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        """Answer ``request`` with ``model`` (its ``api_model`` is the provider's name for it) within ``timeout`` s."""

    async def aclose(self) -> None:
        """Release connections; called once when the kernel stops."""

    def disable_sdk_retries(self) -> None:
        """Make one ``complete`` call one attempt (an SDK's own retries off), so the kernel's
        ``on_error`` loop is the only retry loop. A provider without retries of its own does nothing."""
