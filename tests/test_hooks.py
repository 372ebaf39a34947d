"""One test per hook (tests/test_contract_docs.py checks that every hook has one)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click
import pytest

from intelbot import (
    GiveUp,
    IntelbotError,
    LLMRequest,
    LLMResponse,
    MemoryHit,
    MemoryQuery,
    MemoryRecord,
    Retry,
    Source,
    TurnContext,
    Usage,
    hookimpl,
)
from intelbot.catalog import ModelSpec
from intelbot.errors import CallRejected, ErrorCategory, ProviderError
from intelbot.testing.kernels import KernelFactory


class Recorder:
    """A plugin object that records what the kernel passes to it."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        self.calls.append(f"after:{response.source.value}:{response.text}")


class FlakyProvider:
    """A provider that fails with the given categories, then answers."""

    def __init__(self, name: str, failures: list[ErrorCategory]) -> None:
        self.name = name
        self.failures = list(failures)
        self.calls = 0

    async def complete(self, request: LLMRequest, model: ModelSpec, *, timeout: float | None) -> LLMResponse:
        self.calls += 1
        if self.failures:
            category = self.failures.pop(0)
            raise ProviderError(f"scripted {category.value}", category=category, retry_after=0.01)
        return LLMResponse(
            text=f"{self.name} says {request.prompt}", model=model.name, provider=self.name, usage=Usage(10, 20)
        )

    async def aclose(self) -> None:
        return None


def provider_plugin(provider: Any) -> object:
    class Registers:
        name = f"provides-{provider.name}"

        @hookimpl
        def register_providers(self, register: Any, settings: Any) -> None:
            register(provider)

    return Registers()


MODELS = {
    "flaky-a": {"provider": "flaky_a", "input_per_mtok": 1.0, "output_per_mtok": 2.0, "tier": "small"},
    "flaky-b": {"provider": "flaky_b", "input_per_mtok": 3.0, "output_per_mtok": 4.0, "tier": "small"},
}


def catalog(*names: str) -> dict[str, Any]:
    """Settings with only the given test models (every model's provider must be registered)."""
    return {"models": {name: MODELS[name] for name in names}, "llm": {"default_model": names[0]}}


async def test_hook_before_llm_call_response_skips_the_provider_and_after_still_sees_it(
    make_kernel: KernelFactory,
) -> None:
    provider = FlakyProvider("flaky_a", [])
    recorder = Recorder()

    class Answers:
        name = "answers"

        @hookimpl(tryfirst=True)
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse | None:
            if "cached" in request.prompt:
                return LLMResponse(text="from the plugin", model=request.model, provider="none", source=Source.CACHE)
            return None

    kernel = await make_kernel(plugins=[provider_plugin(provider), Answers(), recorder], settings=catalog("flaky-a"))
    hit = await kernel.ask("a cached question", TurnContext())
    assert hit.text == "from the plugin" and hit.served_by == "answers"
    assert provider.calls == 0
    miss = await kernel.ask("a new question", TurnContext())
    assert provider.calls == 1 and miss.text == "flaky_a says a new question"
    assert recorder.calls == ["after:cache:from the plugin", "after:provider:flaky_a says a new question"]


async def test_before_llm_call_may_change_the_request_in_place_or_replace_it(make_kernel: KernelFactory) -> None:
    seen: list[str] = []

    class Router:
        name = "router"

        @hookimpl(trylast=True)
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            seen.append(f"router saw {request.prompt}")
            request.model = "flaky-b"

    class Rewriter:
        name = "rewriter"

        @hookimpl
        async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> LLMRequest:
            return LLMRequest(
                messages=[*request.messages[:-1], type(request.messages[-1])("user", "rewritten")], model=request.model
            )

    kernel = await make_kernel(
        plugins=[
            provider_plugin(FlakyProvider("flaky_a", [])),
            provider_plugin(FlakyProvider("flaky_b", [])),
            Router(),
            Rewriter(),
        ],
        settings=catalog("flaky-a", "flaky-b"),
    )
    response = await kernel.ask("original", TurnContext())
    assert seen == ["router saw rewritten"]  # trylast runs after the unmarked rewriter
    assert response.text == "flaky_b says rewritten"
    assert response.cost_usd == pytest.approx((10 * 3.0 + 20 * 4.0) / 1e6)


async def test_hook_after_llm_call_sees_usage_cost_and_latency(make_kernel: KernelFactory) -> None:
    recorded: list[LLMResponse] = []

    class Watcher:
        name = "watcher"

        @hookimpl
        async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
            recorded.append(response)

    kernel = await make_kernel(
        plugins=[provider_plugin(FlakyProvider("flaky_a", [])), Watcher()], settings=catalog("flaky-a")
    )
    await kernel.ask("cost me", TurnContext())
    (response,) = recorded
    assert response.usage == Usage(10, 20)
    assert response.cost_usd == pytest.approx((10 * 1.0 + 20 * 2.0) / 1e6)
    assert response.latency_ms > 0 and response.source is Source.PROVIDER


async def test_hook_answer_voted_hears_each_recorded_vote_once_and_a_raising_plugin_is_isolated(
    make_kernel: KernelFactory,
) -> None:
    heard: list[tuple[str, str, int | None]] = []

    class Listener:
        name = "listener"

        @hookimpl
        async def answer_voted(self, vote: Any) -> None:
            heard.append((vote.request_id, vote.vote, vote.guild_id))

    class Raises:
        name = "raises-on-votes"

        @hookimpl
        def answer_voted(self, vote: Any) -> None:
            raise RuntimeError("boom")

    kernel = await make_kernel(plugins=[Raises(), Listener()])
    await kernel.feedback.offer("turn-1", asker_id=7, model="echo", guild_id=3, channel_id=4, at=1.0)

    stranger, nothing = await kernel.vote("turn-1", 8, "down", at=2.0)
    outcome, vote = await kernel.vote("turn-1", 7, "down", at=3.0)
    again, repeated = await kernel.vote("turn-1", 7, "up", at=4.0)
    assert (stranger.value, nothing, again.value, repeated) == ("not_asker", None, "already_voted", None)
    assert outcome.value == "recorded" and vote is not None
    assert heard == []  # recording is not announcing: the front end answers the voter first
    await kernel.announce_vote(vote)

    assert heard == [("turn-1", "down", 3)]
    assert kernel.dispatch.failures[("raises-on-votes", "answer_voted")] == 1


async def test_a_raising_plugin_is_isolated_counted_and_the_turn_goes_on(make_kernel: KernelFactory) -> None:
    class Raises:
        name = "raises"

        @hookimpl
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            raise RuntimeError("boom")

        @hookimpl
        async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
            raise ValueError("async boom")

    kernel = await make_kernel(plugins=[Raises()])
    response = await kernel.ask("keep going", TurnContext())
    assert "keep going" in response.text
    assert kernel.dispatch.failures[("raises", "before_llm_call")] == 1
    assert kernel.dispatch.failures[("raises", "after_llm_call")] == 1
    assert (await kernel.stats())["kernel"]["plugin_failures"] == {"raises": 2}
    sample = kernel.metrics.get_sample_value(
        "intelbot_plugin_failures_total", {"plugin": "raises", "hook": "before_llm_call"}
    )
    assert sample == 1.0


async def test_hook_on_error_retry_then_fallback_then_success(make_kernel: KernelFactory) -> None:
    primary = FlakyProvider("flaky_a", [ErrorCategory.RATE_LIMITED, ErrorCategory.SERVER_ERROR])
    fallback = FlakyProvider("flaky_b", [])
    seen: list[tuple[str, int]] = []

    class Recovery:
        name = "recovery"

        @hookimpl
        def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> Retry | GiveUp | None:
            seen.append((error.category.value, ctx.attempt))
            if error.category is ErrorCategory.RATE_LIMITED:
                return Retry(delay=error.retry_after or 0)
            return Retry(model="flaky-b")

    kernel = await make_kernel(
        plugins=[provider_plugin(primary), provider_plugin(fallback), Recovery()],
        settings=catalog("flaky-a", "flaky-b"),
    )
    ctx = TurnContext()
    response = await kernel.ask("survive", ctx)
    assert response.text == "flaky_b says survive"
    assert seen == [("rate_limited", 1), ("server_error", 2)]
    assert (primary.calls, fallback.calls, ctx.attempt) == (2, 1, 3)


async def test_on_error_without_a_decision_raises_the_categorised_error(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(
        plugins=[provider_plugin(FlakyProvider("flaky_a", [ErrorCategory.AUTHENTICATION]))], settings=catalog("flaky-a")
    )
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("no key", TurnContext())
    assert caught.value.category is ErrorCategory.AUTHENTICATION
    assert caught.value.provider == "flaky_a" and caught.value.model == "flaky-a"


async def test_give_up_and_attempt_cap_and_deadline_stop_retries(make_kernel: KernelFactory) -> None:
    always = FlakyProvider("flaky_a", [ErrorCategory.SERVER_ERROR] * 10)

    class Stubborn:
        name = "stubborn"

        @hookimpl
        def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> Retry | GiveUp:
            if "give up" in request.prompt:
                return GiveUp(reason="test", message="Sorry, not now.")
            return Retry(delay=0.0 if "cap" in request.prompt else 5.0)

    kernel = await make_kernel(
        plugins=[provider_plugin(always), Stubborn()],
        settings={**catalog("flaky-a"), "llm": {"default_model": "flaky-a", "max_attempts": 3}},
    )
    with pytest.raises(IntelbotError) as caught:
        await kernel.ask("give up", TurnContext())
    assert caught.value.user_message == "Sorry, not now." and always.calls == 1
    with pytest.raises(IntelbotError):
        await kernel.ask("cap", TurnContext())
    assert always.calls == 1 + 3
    ctx = TurnContext(deadline=time.monotonic() + 1.0)
    started = time.monotonic()
    with pytest.raises(IntelbotError):
        await kernel.ask("deadline", ctx)
    assert always.calls == 1 + 3 + 1  # a 5 s retry cannot finish before a 1 s deadline: not started
    assert time.monotonic() - started < 1.0


async def test_call_rejected_in_before_llm_call_reaches_the_caller(make_kernel: KernelFactory) -> None:
    class Refuses:
        name = "refuses"

        @hookimpl
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            raise CallRejected("all circuits open", category=ErrorCategory.OVERLOADED, user_message="Try later.")

    kernel = await make_kernel(plugins=[Refuses()])
    with pytest.raises(CallRejected) as caught:
        await kernel.ask("anything", TurnContext())
    assert caught.value.user_message == "Try later."


class Memory:
    """An in-process memory plugin with scores from word overlap."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[MemoryRecord] = []

    @hookimpl
    def store(self, record: MemoryRecord, ctx: TurnContext) -> str:
        self.records.append(record)
        return f"{self.name}:{record.id}"

    @hookimpl
    async def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit]:
        words = set(query.text.lower().split())
        hits = []
        for record in self.records:
            overlap = len(words & set(record.text.lower().split())) / max(len(words), 1)
            if overlap:
                hits.append(MemoryHit(record, overlap * (0.9 if self.name == "second" else 1.0), self.name))
        return hits

    @hookimpl
    def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> int:
        before = len(self.records)
        self.records = [r for r in self.records if r.guild_id != guild_id]
        return before - len(self.records)


async def test_hook_store_saves_in_every_memory_plugin(make_kernel: KernelFactory) -> None:
    first, second = Memory("first"), Memory("second")
    kernel = await make_kernel(plugins=[first, second])
    assert kernel.has_memory
    record = MemoryRecord("the deploy password rotates on fridays", guild_id=1)
    ids = await kernel.store(record, TurnContext(guild_id=1))
    assert sorted(ids) == [f"first:{record.id}", f"second:{record.id}"]


async def test_hook_query_merges_deduplicates_and_ranks(make_kernel: KernelFactory) -> None:
    first, second = Memory("first"), Memory("second")
    kernel = await make_kernel(plugins=[first, second])
    ctx = TurnContext(guild_id=1)
    shared = MemoryRecord("cats like boxes", guild_id=1)
    await kernel.store(shared, ctx)
    second.records.append(MemoryRecord("cats like naps and boxes", guild_id=1))
    first.records.append(MemoryRecord("cats elsewhere", guild_id=2))
    hits = await kernel.query(MemoryQuery("cats boxes", guild_id=1), ctx)
    assert [hit.record.text for hit in hits] == ["cats like boxes", "cats like naps and boxes"]
    assert hits[0].backend == "first" and hits[0].score == 1.0  # best score kept for the shared record


async def test_hook_forget_sums_deleted_records(make_kernel: KernelFactory) -> None:
    first, second = Memory("first"), Memory("second")
    kernel = await make_kernel(plugins=[first, second])
    await kernel.store(MemoryRecord("a", guild_id=1), TurnContext(guild_id=1))
    await kernel.store(MemoryRecord("b", guild_id=2), TurnContext(guild_id=2))
    assert await kernel.forget(1, None, TurnContext(guild_id=1)) == 2
    assert not kernel.has_memory or len(first.records) == 1


async def test_hook_register_providers_adds_a_provider_named_by_the_catalog(make_kernel: KernelFactory) -> None:
    provider = FlakyProvider("flaky_a", [])
    kernel = await make_kernel(plugins=[provider_plugin(provider)], settings=catalog("flaky-a"))
    assert kernel.providers["flaky_a"] is provider
    assert kernel.default_model == "flaky-a"


def test_hook_register_commands_adds_to_the_cli() -> None:
    from intelbot.dispatch import HookDispatcher
    from intelbot.loading import new_plugin_manager

    class Adds:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command(name="hello-sample")
            def hello() -> None:
                click.echo("hi")

    group = click.Group("test")
    manager = new_plugin_manager()
    manager.register(Adds(), name="adds")
    HookDispatcher(manager).call_all_sync("register_commands", cli=group)
    assert "hello-sample" in group.commands


async def test_hook_discord_loaders_results_are_collected(make_kernel: KernelFactory) -> None:
    marker = object()

    class Loads:
        name = "loads"

        @hookimpl
        def discord_loaders(self) -> object:
            return marker

    kernel = await make_kernel(plugins=[Loads()])
    assert await kernel.dispatch.call_all("discord_loaders") == [("loads", marker)]


async def test_hook_shutdown_runs_once_at_stop(make_kernel: KernelFactory) -> None:
    stopped: list[str] = []

    class Stops:
        name = "stops"

        @hookimpl
        async def shutdown(self, kernel: Any) -> None:
            stopped.append(f"ledger open={not kernel.ledger._closed}")

    kernel = await make_kernel(plugins=[Stops()])
    await kernel.stop()
    await kernel.stop()
    assert stopped == ["ledger open=True"]


async def test_hook_startup_and_shutdown_run_once_and_failing_startup_drops_the_plugin(
    make_kernel: KernelFactory,
) -> None:
    events: list[str] = []

    class Lifecycle:
        name = "lifecycle"

        @hookimpl
        async def startup(self, kernel: Any) -> None:
            events.append(f"startup engine={kernel.database.dialect}")

        @hookimpl
        def shutdown(self, kernel: Any) -> None:
            events.append("shutdown")

    class FailsToStart:
        name = "fails_to_start"

        @hookimpl
        def startup(self, kernel: Any) -> None:
            raise RuntimeError("cannot open resource")

        @hookimpl
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            events.append("must not run")

    kernel = await make_kernel(plugins=[Lifecycle(), FailsToStart()])
    await kernel.ask("hi", TurnContext())
    info = kernel.plugin_info("fails_to_start")
    assert info is not None and not info.loaded and info.error is not None
    await kernel.stop()
    assert events == ["startup engine=sqlite", "shutdown"]


class Reports:
    name = "reports"

    @hookimpl
    def collect_stats(self) -> dict[str, int]:
        return {"entries": 3}

    @hookimpl
    async def health_lines(self) -> list[str]:
        return ["reports: all good"]


async def test_hook_collect_stats(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=[Reports()])
    assert (await kernel.stats())["reports"] == {"entries": 3}


async def test_hook_usage_lines(make_kernel: KernelFactory) -> None:
    seen: list[tuple[int | None, float]] = []

    class Usage:
        @hookimpl
        async def usage_lines(self, guild_id: int | None, since: float) -> list[str]:
            seen.append((guild_id, since))
            return [f"usage of {guild_id}"]

    kernel = await make_kernel(plugins=[Usage()])
    assert await kernel.usage_lines(7, 100.0) == ["usage of 7"]
    assert seen == [(7, 100.0)]


async def test_hook_health_lines(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=[Reports()])
    assert "reports: all good" in await kernel.health()


async def test_per_guild_switch_skips_the_plugin_for_that_guild_only(make_kernel: KernelFactory) -> None:
    seen: list[int | None] = []

    class Counts:
        name = "counts"

        @hookimpl
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            seen.append(ctx.guild_id)

    kernel = await make_kernel(plugins=[Counts()])
    await kernel.set_guild_plugin(1, "counts", False)
    await kernel.ask("q", TurnContext(guild_id=1))
    await kernel.ask("q", TurnContext(guild_id=2))
    assert seen == [2]
    assert not kernel.plugin_enabled_for(1, "counts") and kernel.plugin_enabled_for(2, "counts")
    await kernel.set_guild_plugin(1, "counts", True)
    await kernel.ask("q", TurnContext(guild_id=1))
    assert seen == [2, 1]


async def test_intelbot_order_sorts_within_a_mark(make_kernel: KernelFactory) -> None:
    calls: list[str] = []

    def marked(name: str, order: int | None, **mark: bool) -> object:
        class Plugin:
            @hookimpl(**mark)
            def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
                calls.append(name)

        plugin = Plugin()
        plugin.name = name  # type: ignore[attr-defined]
        if order is not None:
            plugin.intelbot_order = order  # type: ignore[attr-defined]
        return plugin

    kernel = await make_kernel(
        plugins=[
            marked("veto", 100, trylast=True),
            marked("router", None, trylast=True),
            marked("memory", None),
            marked("cache", None, tryfirst=True),
            marked("early_router", -5, trylast=True),
        ]
    )
    await kernel.ask("order", TurnContext())
    assert calls == ["cache", "memory", "early_router", "router", "veto"]


async def test_an_object_given_directly_is_registered_even_when_an_entry_point_of_that_name_is_off(
    sample_plugin: object, make_kernel: KernelFactory
) -> None:
    class Named:
        name = "sample"  # the installed sample plugin's entry-point name, not selected here: blocked

        @hookimpl
        def collect_stats(self) -> dict[str, int]:
            return {"given directly": 1}

    kernel = await make_kernel(plugins=[Named()])
    info = next(info for info in kernel.plugins if info.name == "sample" and info.distribution is None)
    assert info.loaded and info.hooks == ["collect_stats"]
    assert (await kernel.stats())["sample"] == {"given directly": 1}


async def test_objects_given_directly_run_in_the_order_given(make_kernel: KernelFactory) -> None:
    calls: list[str] = []

    def named(name: str) -> object:
        class Plugin:
            @hookimpl
            def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
                calls.append(name)

        plugin = Plugin()
        plugin.name = name  # type: ignore[attr-defined]
        return plugin

    kernel = await make_kernel(plugins=[named("first"), named("second"), named("third")])
    await kernel.ask("order", TurnContext())
    assert calls == ["first", "second", "third"]


async def test_recall_in_direct_messages_never_returns_a_guilds_memories(make_kernel: KernelFactory) -> None:
    class Careless:
        """A memory plugin that ignores the query's scope: the kernel must still filter."""

        name = "careless"

        @hookimpl
        def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit]:
            return [
                MemoryHit(MemoryRecord("guild 1 deploy key", guild_id=1), 0.9),
                MemoryHit(MemoryRecord("my own note", guild_id=None), 0.5),
            ]

        @hookimpl
        def store(self, record: MemoryRecord, ctx: TurnContext) -> None:
            return None

    kernel = await make_kernel(plugins=[Careless()])
    in_dm = await kernel.query(MemoryQuery("key", guild_id=None), TurnContext())
    assert [hit.record.text for hit in in_dm] == ["my own note"]
    in_guild = await kernel.query(MemoryQuery("key", guild_id=1), TurnContext(guild_id=1))
    assert [hit.record.text for hit in in_guild] == ["guild 1 deploy key"]


async def test_hook_check_settings_errors_stop_start_up_naming_the_key(make_kernel: KernelFactory) -> None:
    from intelbot.errors import ConfigurationError

    class Strict:
        name = "strict"

        @hookimpl
        def check_settings(self, settings: Any) -> None:
            from intelbot.settings import plugin_table

            if not isinstance(plugin_table(settings, "strict").get("level", 1), int):
                raise ConfigurationError("level must be an integer", key="plugins.strict.level")

    assert (await make_kernel(plugins=[Strict()])).plugin_info("strict") is not None
    with pytest.raises(ConfigurationError) as caught:
        await make_kernel(plugins=[Strict()], settings={"plugins": {"strict": {"level": "high"}}})
    assert caught.value.key == "plugins.strict.level"


async def test_a_configuration_error_in_startup_stops_start_up(make_kernel: KernelFactory) -> None:
    from intelbot.errors import ConfigurationError

    class BadAtStart:
        name = "bad_at_start"

        @hookimpl
        def startup(self, kernel: Any) -> None:
            raise ConfigurationError("threshold must be in [0, 1]", key="plugins.bad_at_start.threshold")

    with pytest.raises(ConfigurationError, match="threshold"):
        await make_kernel(plugins=[BadAtStart()])


async def test_replicas_follow_each_others_guild_switches(make_kernel: KernelFactory, tmp_path: Any) -> None:
    seen: list[tuple[str, int | None]] = []

    def counting(replica: str) -> object:
        class Counts:
            name = "counts"

            @hookimpl
            def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
                seen.append((replica, ctx.guild_id))

        return Counts()

    shared = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", "guild_switch_refresh_seconds": 0.05}
    first = await make_kernel(plugins=[counting("a")], settings=shared)
    second = await make_kernel(plugins=[counting("b")], settings=shared)
    await first.set_guild_plugin(7, "counts", False)
    for _ in range(100):  # the second replica re-reads the switches every 0.05 s
        if not second.plugin_enabled_for(7, "counts"):
            break
        await asyncio.sleep(0.05)
    await second.ask("q", TurnContext(guild_id=7))
    await second.ask("q", TurnContext(guild_id=8))
    assert seen == [("b", 8)]


async def test_a_model_named_by_the_caller_is_marked_pinned(make_kernel: KernelFactory) -> None:
    pinned: list[tuple[str, bool]] = []

    class Watcher:
        name = "pin-watcher"

        @hookimpl
        def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
            pinned.append((request.model, request.model_pinned))

    kernel = await make_kernel(plugins=[Watcher()])
    await kernel.ask("named", TurnContext(), model="echo")
    await kernel.ask("not named", TurnContext())
    assert pinned == [("echo", True), ("echo", False)]
