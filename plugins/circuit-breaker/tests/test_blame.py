"""Local faults and the turn's own deadline never open a provider's breaker (issue 9, item 7)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from intelbot import IntelbotError, LLMRequest, LLMResponse, TurnContext, hookimpl
from intelbot.catalog import ModelSpec
from intelbot.errors import ErrorCategory
from intelbot.testing.clock import ManualClock
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import AnthropicServer, OpenAIServer, Reply
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_circuit_breaker.state_machine import BreakerState


class BuggyAdapter:
    """A provider adapter with a bug on some prompts: a TypeError instead of a call."""

    name = "buggy"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        self.calls += 1
        if "bug" in request.prompt:
            raise TypeError("create() got an unexpected keyword argument 'max_token'")
        return LLMResponse(text="fine", model=model.name, provider=self.name)

    def disable_sdk_retries(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def registers(provider: Any) -> object:
    class Registers:
        name = f"provides-{provider.name}"

        @hookimpl
        def register_providers(self, register: Any, settings: Any) -> None:
            register(provider)

    return Registers()


def settings_for(primary_provider: str, anthropic_server: AnthropicServer, **providers: Any) -> dict[str, Any]:
    return {
        "llm": {"default_model": "primary", "max_attempts": 4, "timeout_seconds": 5.0, "turn_timeout_seconds": 20.0},
        "providers": {"anthropic": anthropic_server.provider_settings(), **providers},
        "models": {
            "primary": {"provider": primary_provider, "api_model": "gpt-4o-mini", "tier": "small"},
            "backup": {"provider": "anthropic", "api_model": "claude-haiku-4-5", "tier": "small"},
        },
        "plugins": {
            "circuit_breaker": {
                "breaker": {"window_size": 4, "minimum_calls": 2, "wait_in_open_seconds": 30.0},
                "retry": {"base_delay_seconds": 0.01, "max_delay_seconds": 0.05, "retries_per_model": 1},
                "fallbacks": {"primary": ["backup"]},
            }
        },
    }


async def breaker_state(plugin: CircuitBreakerPlugin, name: str) -> BreakerState:
    assert plugin.breakers is not None
    return (await plugin.breakers.view(name)).state


async def test_adapter_bugs_are_not_retried_and_do_not_open_the_breaker(
    make_kernel: KernelFactory, anthropic_server: AnthropicServer
) -> None:
    adapter = BuggyAdapter()
    breaker = CircuitBreakerPlugin.configured(clock=ManualClock(start=1_000_000.0))
    kernel = await make_kernel(plugins=[registers(adapter), breaker], settings=settings_for("buggy", anthropic_server))
    plugin = loaded_plugin(kernel, CircuitBreakerPlugin)
    for _ in range(6):
        with pytest.raises(IntelbotError) as caught:
            await kernel.ask("trigger the bug", TurnContext())
        assert caught.value.category is ErrorCategory.LOCAL_FAULT
    assert adapter.calls == 6  # one attempt per turn: no retry, no fallback
    assert anthropic_server.requests == []
    assert await breaker_state(plugin, "buggy/primary") is BreakerState.CLOSED
    assert (await kernel.ask("a normal question", TurnContext())).text == "fine"


async def test_turns_out_of_time_do_not_open_the_providers_breaker(
    make_kernel: KernelFactory, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    kernel = await make_kernel(
        plugins=[CircuitBreakerPlugin.configured(clock=ManualClock(start=1_000_000.0))],
        settings=settings_for("openai", anthropic_server, openai=openai_server.provider_settings()),
    )
    plugin = loaded_plugin(kernel, CircuitBreakerPlugin)
    for _ in range(4):
        with pytest.raises(IntelbotError) as caught:
            await kernel.ask("too late", TurnContext(deadline=time.monotonic() - 0.1))
        assert caught.value.category is ErrorCategory.DEADLINE_EXCEEDED
    assert await breaker_state(plugin, "openai/primary") is BreakerState.CLOSED
    openai_server.script(Reply("on time"))
    assert (await kernel.ask("in time", TurnContext())).text == "on time"
    assert anthropic_server.requests == []
