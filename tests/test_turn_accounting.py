"""Every paid call is recorded, and failures are blamed on whoever caused them (issue 9, items 5 and 7)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import select

from intelbot import IntelbotError, LLMRequest, LLMResponse, Retry, TurnContext, hookimpl
from intelbot.catalog import ModelSpec
from intelbot.data.tables import UsageEntry
from intelbot.errors import ErrorCategory
from intelbot.kernel import Kernel
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import Hang, OpenAIServer, Reply, Status


def openai_settings(server: OpenAIServer, **llm: Any) -> dict[str, Any]:
    return {
        "llm": {"default_model": "gpt-4o-mini", **llm},
        "providers": {"openai": server.provider_settings()},
    }


def calls_with_outcome(kernel: Kernel, outcome: str, provider: str = "openai", model: str = "gpt-4o-mini") -> float:
    labels = {"provider": provider, "model": model, "outcome": outcome}
    return kernel.metrics.get_sample_value("intelbot_llm_calls_total", labels) or 0.0


class AlwaysRetry:
    """An ``on_error`` that asks for a retry of anything, as a careless recovery plugin would."""

    name = "always_retry"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[ErrorCategory] = []

    @hookimpl
    def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> Retry:
        self.seen.append(error.category)
        return Retry(delay=self.delay)


# -- item 5: record before the after_llm_call hooks -------------------------------------------------


async def test_a_turn_cancelled_during_after_llm_call_keeps_its_paid_call_in_the_ledger(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    entered = asyncio.Event()

    class SlowAfter:
        """Stands for a plugin whose after_llm_call awaits the network (embedding, database, Redis)."""

        name = "slow_after"

        @hookimpl
        async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
            entered.set()
            await asyncio.Event().wait()  # never returns: the turn is cancelled in here

    kernel = await make_kernel(plugins=[SlowAfter()], settings=openai_settings(openai_server))
    openai_server.script(Reply("Paris.", input_tokens=1000, output_tokens=100))
    turn = asyncio.create_task(kernel.ask("capital of France?", TurnContext(guild_id=5, user_id=6)))
    await asyncio.wait_for(entered.wait(), timeout=10)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    await kernel.ledger.flush()
    async with kernel.database.session() as session:
        rows = (await session.execute(select(UsageEntry))).scalars().all()
    assert [(row.guild_id, row.input_tokens, row.output_tokens) for row in rows] == [(5, 1000, 100)]
    assert rows[0].cost_usd == pytest.approx(1000 * 0.15 / 1e6 + 100 * 0.6 / 1e6)


# -- item 7: local faults and the turn's deadline are not the provider's fault -------------------------


class BuggyAdapter:
    """A provider adapter with a bug: it raises a TypeError instead of calling anything."""

    name = "buggy"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        self.calls += 1
        raise TypeError("create() got an unexpected keyword argument 'max_token'")

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


async def test_an_adapter_bug_is_a_local_fault_never_retried_nor_counted_as_a_server_error(
    make_kernel: KernelFactory,
) -> None:
    adapter = BuggyAdapter()
    recovery = AlwaysRetry()
    kernel = await make_kernel(
        plugins=[registers(adapter), recovery],
        settings={
            "models": {"buggy-model": {"provider": "buggy", "input_per_mtok": 1.0, "output_per_mtok": 1.0}},
            "llm": {"default_model": "buggy-model", "max_attempts": 4},
        },
    )
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("hello", TurnContext())
    assert caught.value.category is ErrorCategory.LOCAL_FAULT
    assert not caught.value.retryable
    assert "TypeError" in caught.value.message
    assert adapter.calls == 1  # on_error asked for a retry; the kernel did not make it
    assert recovery.seen == [ErrorCategory.LOCAL_FAULT]
    assert calls_with_outcome(kernel, "local_fault", "buggy", "buggy-model") == 1
    assert calls_with_outcome(kernel, "server_error", "buggy", "buggy-model") == 0


async def test_a_turn_whose_deadline_passed_makes_no_call_and_blames_no_provider(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    recovery = AlwaysRetry()
    kernel = await make_kernel(plugins=[recovery], settings=openai_settings(openai_server))
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("too late", TurnContext(deadline=time.monotonic() - 0.1))
    assert caught.value.category is ErrorCategory.DEADLINE_EXCEEDED
    assert not caught.value.retryable
    assert openai_server.requests == []
    assert recovery.seen == [ErrorCategory.DEADLINE_EXCEEDED]
    assert calls_with_outcome(kernel, "timeout") == 0


async def test_a_call_cut_short_by_the_turn_deadline_is_the_deadline_not_a_provider_timeout(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    # First attempt: a 500 (the provider's fault). The retry waits 0.75 s of a 1 s turn, so the
    # second attempt has about 0.25 s against a 5 s call timeout; the server never answers it.
    recovery = AlwaysRetry(delay=0.75)
    kernel = await make_kernel(plugins=[recovery], settings=openai_settings(openai_server, timeout_seconds=5.0))
    openai_server.script(Status(500), Hang())
    ctx = TurnContext()
    ctx.deadline = ctx.started_at + 1.0
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("hello", ctx)
    assert recovery.seen == [ErrorCategory.SERVER_ERROR, ErrorCategory.DEADLINE_EXCEEDED]
    assert caught.value.category is ErrorCategory.DEADLINE_EXCEEDED
    assert calls_with_outcome(kernel, "server_error") == 1
    assert calls_with_outcome(kernel, "timeout") == 0
    assert calls_with_outcome(kernel, "deadline_exceeded") == 1


async def test_a_provider_that_had_its_whole_slice_is_still_blamed_for_a_timeout(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel = await make_kernel(settings=openai_settings(openai_server, timeout_seconds=0.5))
    openai_server.script(Hang())
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("hello", TurnContext())
    assert caught.value.category is ErrorCategory.TIMEOUT
    assert calls_with_outcome(kernel, "timeout") == 1
