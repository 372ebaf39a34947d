"""Real kernel turns through the real OpenAI and Anthropic SDKs against the loopback servers.

The primary model is served by the OpenAI server, its fallback by the Anthropic server.
Breaker time runs on a manual clock; only the kernel's retry sleeps are real (short).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import pytest

from intelbot import hookimpl
from intelbot.contract import LLMRequest, TurnContext
from intelbot.errors import CallRejected, ErrorCategory, ProviderError
from intelbot.health import shown, shown_lines
from intelbot.kernel import Kernel
from intelbot.testing.clock import ManualClock
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import AnthropicServer, Hang, OpenAIServer, Reply, Status
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_circuit_breaker.state_machine import BreakerState, Outcome, Permit

PRIMARY = "openai/primary"
BACKUP = "anthropic/backup"


class RedisRelay:
    """A TCP relay on 127.0.0.1 in front of the test Redis; :meth:`cut` takes Redis away mid-run.

    ``url`` is the test Redis URL with the relay's address in it (same credentials and db).
    """

    def __init__(self, redis_url: str) -> None:
        self.target = urlsplit(redis_url)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        credentials = self.target.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
        self.url = urlunsplit(self.target._replace(netloc=netloc))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.cut()

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a Redis that went away."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        redis_reader, redis_writer = await asyncio.open_connection(
            self.target.hostname or "127.0.0.1", self.target.port or 6379
        )
        self.writers.extend([client_writer, redis_writer])

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, redis_writer), pipe(redis_reader, client_writer))


def turn_settings(openai_server: OpenAIServer, anthropic_server: AnthropicServer, **plugin: Any) -> dict[str, Any]:
    breaker = {"window_size": 4, "minimum_calls": 2, "wait_in_open_seconds": 30.0, "half_open_probes": 1}
    retry = {"base_delay_seconds": 0.01, "max_delay_seconds": 0.05, "retries_per_model": 1}
    return {
        "llm": {"default_model": "primary", "max_attempts": 4, "timeout_seconds": 5.0, "turn_timeout_seconds": 20.0},
        "providers": {
            "openai": openai_server.provider_settings(),
            "anthropic": anthropic_server.provider_settings(),
        },
        "models": {
            "primary": {"provider": "openai", "api_model": "gpt-4o-mini", "tier": "small", "context_window": 1000},
            "backup": {
                "provider": "anthropic",
                "api_model": "claude-haiku-4-5",
                "tier": "small",
                "context_window": 2000,
            },
        },
        "plugins": {
            "circuit_breaker": {
                "breaker": breaker,
                "retry": retry,
                "fallbacks": {"primary": ["backup"]},
                **plugin,
            }
        },
    }


async def boot(
    make_kernel: KernelFactory, clock: ManualClock, settings: dict[str, Any]
) -> tuple[Kernel, CircuitBreakerPlugin]:
    kernel = await make_kernel(plugins=[CircuitBreakerPlugin.configured(clock=clock)], settings=settings)
    plugin = loaded_plugin(kernel, CircuitBreakerPlugin)
    return kernel, plugin


async def state_of(plugin: CircuitBreakerPlugin, name: str) -> BreakerState:
    assert plugin.breakers is not None
    return (await plugin.breakers.view(name)).state


def metric(kernel: Kernel, name: str, labels: dict[str, str]) -> float:
    return kernel.metrics.get_sample_value(name, labels) or 0.0


async def test_429_with_retry_after_is_retried_after_that_delay(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    kernel, _plugin = await boot(make_kernel, clock, turn_settings(openai_server, anthropic_server))
    openai_server.script(Status(429, retry_after=1), Reply("after the wait"))
    response = await kernel.ask("hello", TurnContext())
    assert response.text == "after the wait"
    assert response.model == "primary"
    first, second = openai_server.requests
    assert 1.0 <= second.received_at - first.received_at < 2.0
    assert anthropic_server.requests == []
    assert metric(kernel, "intelbot_breaker_retries_total", {"category": "rate_limited"}) == 1


async def test_other_turns_go_to_the_fallback_while_a_retry_after_lasts(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server)
    settings["plugins"]["circuit_breaker"]["breaker"]["minimum_calls"] = 5  # one 429 must not open the breaker
    kernel, plugin = await boot(make_kernel, clock, settings)
    assert plugin.breakers is not None
    seen_429 = asyncio.Event()

    async def on_alert(message: str, channel_id: int | None) -> None:
        seen_429.set()  # alerts come after the hold is set

    kernel.alert_senders.append(on_alert)
    openai_server.script(Status(429, retry_after=1), Reply("after the wait"))
    waiting = asyncio.create_task(kernel.ask("first", TurnContext()))
    await asyncio.wait_for(seen_429.wait(), 5)
    assert (await plugin.breakers.view(PRIMARY)).hold_until > 0
    meanwhile = await kernel.ask("second", TurnContext())
    assert meanwhile.model == "backup"
    assert len(openai_server.requests) == 1  # the second turn did not collect the same 429
    assert (await waiting).text == "after the wait"
    assert len(openai_server.requests) == 2
    clock.advance(1.0)
    assert (await kernel.ask("third", TurnContext())).model == "primary"  # the hold is over


async def test_401_is_never_retried_on_its_provider_but_the_healthy_fallback_answers(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server)
    settings["providers"]["openai"] = openai_server.provider_settings(api_key="sk-wrong-key")
    kernel, plugin = await boot(make_kernel, clock, settings)
    answered = await kernel.ask("hello", TurnContext())
    assert answered.model == "backup"  # a revoked key on one provider is not an outage
    assert len(openai_server.requests) == 1  # never retried there
    assert len(anthropic_server.requests) == 1
    assert (await kernel.ask("again", TurnContext())).model == "backup"
    assert len(openai_server.requests) == 1  # held: later turns skip the provider with the bad key
    clock.advance(301)  # provider_hold_seconds later the next turn probes it again
    assert (await kernel.ask("probe", TurnContext())).model == "backup"
    assert len(openai_server.requests) == 2 and len(anthropic_server.requests) == 3
    assert plugin.breakers is not None


async def test_401_without_a_fallback_is_the_users_error_and_never_retried(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server)
    settings["providers"]["openai"] = openai_server.provider_settings(api_key="sk-wrong-key")
    settings["plugins"]["circuit_breaker"]["fallbacks"] = {"primary": []}  # its own chain: nothing after it
    kernel, plugin = await boot(make_kernel, clock, settings)
    with pytest.raises(ProviderError) as caught:
        await kernel.ask("hello", TurnContext())
    assert caught.value.category is ErrorCategory.AUTHENTICATION
    assert len(openai_server.requests) == 1
    assert anthropic_server.requests == []
    assert plugin.breakers is not None
    assert (await plugin.breakers.view(PRIMARY)).totals.calls == 0  # not the provider's health: not counted
    assert "sk-wrong-key" not in str(caught.value)


async def test_outage_opens_the_breaker_moves_to_the_fallback_and_one_probe_closes_it(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    kernel, plugin = await boot(make_kernel, clock, turn_settings(openai_server, anthropic_server))
    openai_server.fail_all(Status(500))

    first = await kernel.ask("during the outage", TurnContext())
    assert (first.model, first.provider) == ("backup", "anthropic")
    assert len(openai_server.requests) == 2  # one retry on the same model, then the breaker opened
    assert await state_of(plugin, PRIMARY) is BreakerState.OPEN

    for _ in range(3):
        later = await kernel.ask("still down", TurnContext())
        assert later.model == "backup"
    assert len(openai_server.requests) == 2  # nothing more wasted on the open breaker
    assert len(anthropic_server.requests) == 4
    assert metric(kernel, "intelbot_breaker_rejected_calls_total", {"breaker": PRIMARY}) == 3
    assert metric(kernel, "intelbot_breaker_fallbacks_total", {"from_model": "primary", "to_model": "backup"}) == 3
    assert metric(kernel, "intelbot_breaker_state", {"breaker": PRIMARY}) == 1
    health = "\n".join(await kernel.health())
    assert "breaker openai/primary: OPEN, probe in 30s" in health

    openai_server.recover()
    clock.advance(29.9)
    assert (await kernel.ask("not yet", TurnContext())).model == "backup"
    assert len(openai_server.requests) == 2
    clock.advance(0.1)
    probe = await kernel.ask("after the wait", TurnContext())
    assert (probe.model, probe.provider) == ("primary", "openai")
    assert len(openai_server.requests) == 3  # exactly one probe
    assert await state_of(plugin, PRIMARY) is BreakerState.CLOSED
    assert (
        metric(
            kernel,
            "intelbot_breaker_transitions_total",
            {"breaker": PRIMARY, "from_state": "half_open", "to_state": "closed"},
        )
        == 1
    )
    assert (await kernel.ask("back to normal", TurnContext())).model == "primary"


async def test_every_candidate_open_fails_fast_with_a_clear_message(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    kernel, plugin = await boot(make_kernel, clock, turn_settings(openai_server, anthropic_server))
    openai_server.fail_all(Status(500))
    anthropic_server.fail_all(Status(529))
    with pytest.raises(ProviderError):
        await kernel.ask("both down", TurnContext())
    assert await state_of(plugin, PRIMARY) is BreakerState.OPEN
    assert await state_of(plugin, BACKUP) is BreakerState.OPEN
    sent = len(openai_server.requests) + len(anthropic_server.requests)

    with pytest.raises(CallRejected) as caught:
        await kernel.ask("anyone?", TurnContext())
    assert len(openai_server.requests) + len(anthropic_server.requests) == sent  # no call was made
    assert caught.value.category is ErrorCategory.CIRCUIT_OPEN
    message = caught.value.user_message or ""
    assert message.startswith("The AI models are unavailable right now (circuit open for: primary, backup).")
    assert "try again in about 30 s" in message


async def test_context_length_exceeded_moves_to_a_larger_window(
    make_kernel: KernelFactory, clock: ManualClock, anthropic_server: AnthropicServer
) -> None:
    async with OpenAIServer(api_key=anthropic_server.api_key, context_window=3) as small_server:
        settings = turn_settings(small_server, anthropic_server)
        kernel, plugin = await boot(make_kernel, clock, settings)
        response = await kernel.ask("a question far longer than three words", TurnContext())
    assert response.model == "backup"
    assert len(small_server.requests) == 1
    assert plugin.breakers is not None
    assert (await plugin.breakers.view(PRIMARY)).totals.calls == 0  # the caller's problem, not the provider's


async def test_two_kernels_sharing_redis_agree_on_an_open_breaker(
    make_kernel: KernelFactory,
    clock: ManualClock,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    shared = {"redis_url": redis_url, "redis_prefix": redis_prefix}
    settings = turn_settings(openai_server, anthropic_server, **shared)
    kernel_a, plugin_a = await boot(make_kernel, clock, settings)
    kernel_b, plugin_b = await boot(make_kernel, clock, settings)
    assert plugin_a is not plugin_b

    openai_server.fail_all(Status(503))
    assert (await kernel_a.ask("outage seen by A", TurnContext())).model == "backup"
    assert await state_of(plugin_b, PRIMARY) is BreakerState.OPEN
    sent = len(openai_server.requests)

    answered_by_b = await kernel_b.ask("B never saw an error", TurnContext())
    assert answered_by_b.model == "backup"
    assert len(openai_server.requests) == sent  # B did not try the provider A found down
    assert metric(kernel_b, "intelbot_breaker_rejected_calls_total", {"breaker": PRIMARY}) == 1

    openai_server.recover()
    clock.advance(30)
    assert (await kernel_b.ask("B probes", TurnContext())).model == "primary"
    assert await state_of(plugin_a, PRIMARY) is BreakerState.CLOSED


async def test_entry_point_plugin_loads_and_reports(
    make_kernel: KernelFactory, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server)
    settings["plugins"]["circuit_breaker"]["breaker"]["minimum_calls"] = 5
    kernel = await make_kernel(plugins=["circuit_breaker"], settings=settings)
    info = next(item for item in kernel.plugins if item.name == "circuit_breaker")
    assert info.loaded
    assert info.distribution == "intelbot-circuit-breaker"
    assert {"before_llm_call", "after_llm_call", "on_error", "collect_stats", "health_lines"} <= set(info.hooks)
    openai_server.script(Status(500), Reply("second time lucky"))
    assert (await kernel.ask("hi", TurnContext())).text == "second time lucky"
    assert metric(kernel, "intelbot_breaker_state", {"breaker": PRIMARY}) == 0  # reported before any transition
    stats = (await kernel.stats())["circuit_breaker"]
    assert stats["openai/primary.state"] == "closed"
    assert stats["openai/primary.calls"] == 2
    assert stats["openai/primary.failure_rate"] == 0.5
    health = await kernel.health()
    assert any(line.startswith("breaker openai/primary: CLOSED") for line in health)
    assert any("openai: 2 calls, errors 50% (server_error 50%)" in line for line in health)


class RouteEverythingToBackup:
    """A stand-in router that runs after the breaker (trylast, order 200 > the breaker's 100) and changes the model."""

    name = "zz_router"
    intelbot_order = 200

    @hookimpl(trylast=True)
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        request.model = "backup"


async def test_a_later_plugin_changing_the_model_releases_the_permit_and_records_on_the_model_called(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    assert RouteEverythingToBackup.intelbot_order > CircuitBreakerPlugin.intelbot_order
    settings = turn_settings(openai_server, anthropic_server)
    kernel = await make_kernel(
        plugins=[CircuitBreakerPlugin.configured(clock=clock), RouteEverythingToBackup()], settings=settings
    )
    plugin = loaded_plugin(kernel, CircuitBreakerPlugin)
    assert plugin.breakers is not None
    for _ in range(2):  # open the primary's breaker, then let its wait pass: the next call is its one probe
        await plugin.breakers.record(PRIMARY, Permit(granted=True), Outcome.FAILURE)
    assert await state_of(plugin, PRIMARY) is BreakerState.OPEN
    clock.advance(30)

    assert (await kernel.ask("routed", TurnContext())).model == "backup"
    assert len(openai_server.requests) == 0
    assert len(anthropic_server.requests) == 1
    primary = await plugin.breakers.store.read(PRIMARY)
    assert primary is not None
    assert primary.state is BreakerState.HALF_OPEN  # the breaker ran first and took the primary's probe...
    assert primary.probes_issued == 0  # ...which was released when the router moved the call
    assert (await plugin.breakers.view(BACKUP)).totals.calls == 1  # the outcome went to the model called
    assert (await plugin.breakers.acquire(PRIMARY)).probe  # the probe is free for the next turn


async def test_alerts_are_delivered_through_kernel_alert_and_a_failing_sender_is_harmless(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server, trends={"alert_channel_id": 4242})
    kernel, plugin = await boot(make_kernel, clock, settings)
    received: list[tuple[str, int | None]] = []

    async def broken(message: str, channel_id: int | None) -> None:
        raise RuntimeError("discord is down")

    async def front_end(message: str, channel_id: int | None) -> None:  # as the Discord front end does
        received.append((message, channel_id))

    kernel.alert_senders.extend([broken, front_end])
    openai_server.script(Status(500), Reply("recovered"))
    assert (await kernel.ask("hi", TurnContext())).text == "recovered"
    await plugin.drain()  # alerts are delivered in the background, never in the turn's way
    assert received == [("openai: new error category server_error (not seen recently)", 4242)]
    assert [(alert.kind, alert.provider, alert.category.value) for alert in plugin.alerts] == [
        ("new_category", "openai", "server_error")
    ]
    assert not hasattr(plugin, "add_alert_sender")
    assert (
        metric(
            kernel,
            "intelbot_breaker_alerts_total",
            {"provider": "openai", "category": "server_error", "kind": "new_category"},
        )
        == 1
    )


async def test_each_kernel_gets_its_own_entry_point_instance_and_a_stopped_kernel_is_dropped(
    make_kernel: KernelFactory, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server)
    kernels = []
    plugins = []
    for _ in range(2):  # the entry point names the class: each kernel makes its own instance
        kernel = await make_kernel(plugins=["circuit_breaker"], settings=settings)
        plugin = loaded_plugin(kernel, CircuitBreakerPlugin)
        assert plugin.kernel is kernel
        assert kernel.alert_senders == []  # the plugin adds nothing to the kernel's senders
        kernels.append(kernel)
        plugins.append(plugin)
        await kernel.stop()
        assert plugin.kernel is None
    assert kernels[0] is not kernels[1]
    assert plugins[0] is not plugins[1]


async def test_a_cancelled_probe_releases_its_permit_instead_of_reopening(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    kernel, plugin = await boot(make_kernel, clock, turn_settings(openai_server, anthropic_server))
    assert plugin.breakers is not None
    for _ in range(2):
        await plugin.breakers.record(PRIMARY, Permit(granted=True), Outcome.FAILURE)
    clock.advance(30)
    openai_server.fail_all(Hang())
    probing = asyncio.create_task(kernel.ask("the probe", TurnContext()))
    await openai_server.wait_for_requests(1)
    probing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probing
    await asyncio.sleep(0)
    await plugin.drain()

    record = await plugin.breakers.store.read(PRIMARY)
    assert record is not None
    assert (record.state, record.probes_issued, record.trips) == (BreakerState.HALF_OPEN, 0, 1)
    openai_server.recover()
    clock.advance(1)
    probe = await kernel.ask("the next probe", TurnContext())
    assert probe.model == "primary"  # the probe slot was free: not held until the half-open timeout
    assert await state_of(plugin, PRIMARY) is BreakerState.CLOSED
    assert anthropic_server.requests == []


async def test_retries_the_kernel_refuses_at_max_attempts_are_not_counted(
    make_kernel: KernelFactory, clock: ManualClock, openai_server: OpenAIServer, anthropic_server: AnthropicServer
) -> None:
    settings = turn_settings(openai_server, anthropic_server, fallbacks={})
    settings["llm"]["max_attempts"] = 2
    settings["plugins"]["circuit_breaker"]["breaker"]["minimum_calls"] = 5
    settings["plugins"]["circuit_breaker"]["retry"]["retries_per_model"] = 5
    kernel, _plugin = await boot(make_kernel, clock, settings)
    openai_server.fail_all(Status(500))
    with pytest.raises(ProviderError):
        await kernel.ask("always failing", TurnContext())
    assert len(openai_server.requests) == 2  # the first attempt and one retry: llm.max_attempts = 2
    assert metric(kernel, "intelbot_breaker_retries_total", {"category": "server_error"}) == 1
    assert metric(kernel, "intelbot_breaker_errors_total", {"provider": "openai", "category": "server_error"}) == 2


async def test_unreachable_redis_at_startup_falls_back_to_the_in_process_store(
    make_kernel: KernelFactory,
    clock: ManualClock,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:s3cret-password@127.0.0.1:{closed_port}/0"
    settings = turn_settings(openai_server, anthropic_server, redis_url=url)
    with caplog.at_level(logging.ERROR, logger="intelbot"):
        kernel, plugin = await boot(make_kernel, clock, settings)
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("intelbot")]
    failover_lines = [line for line in logged if "unreachable" in line]
    assert len(failover_lines) == 1  # one line, from the failover
    assert f"Redis at 127.0.0.1:{closed_port}/0 unreachable (ConnectionError)" in failover_lines[0]
    assert not any("s3cret" in line for line in logged)
    assert metric(kernel, "intelbot_breaker_store_degraded", {}) == 1

    openai_server.fail_all(Status(500))  # the breaker still works, in this process
    assert (await kernel.ask("outage", TurnContext())).model == "backup"
    assert await state_of(plugin, PRIMARY) is BreakerState.OPEN
    health = await kernel.health()
    assert any(line.startswith("breaker openai/primary: OPEN") for line in health)
    store_line = next(line for line in health if line.startswith("breaker store:"))
    assert shown(store_line, to_managers=True) == (
        f"breaker store: IN-PROCESS, Redis at 127.0.0.1:{closed_port}/0 unreachable (ConnectionError); "
        "not shared with replicas until Redis answers"
    )
    assert shown(store_line, to_managers=False) == (
        "breaker store: IN-PROCESS, Redis unreachable (ConnectionError); not shared with replicas until Redis answers"
    )
    assert (await kernel.stats())["circuit_breaker"]["store"] == "memory (redis unreachable)"
    assert all(count == 0 for count in (await kernel.stats())["kernel"]["plugin_failures"].values())


async def test_redis_failing_at_run_time_moves_the_breakers_into_the_process(
    make_kernel: KernelFactory,
    clock: ManualClock,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    redis_url: str,
    redis_prefix: str,
) -> None:
    async with RedisRelay(redis_url) as relay:
        settings = turn_settings(openai_server, anthropic_server, redis_url=relay.url, redis_prefix=redis_prefix)
        kernel, plugin = await boot(make_kernel, clock, settings)
        assert (await kernel.stats())["circuit_breaker"]["store"] == "redis"
        assert (await kernel.ask("while Redis answers", TurnContext())).model == "primary"
        assert metric(kernel, "intelbot_breaker_store_degraded", {}) == 0
        await relay.cut()

        openai_server.fail_all(Status(500))
        assert (await kernel.ask("Redis is gone", TurnContext())).model == "backup"
        assert await state_of(plugin, PRIMARY) is BreakerState.OPEN  # in process now
        assert metric(kernel, "intelbot_breaker_store_degraded", {}) == 1
        health = shown_lines(await kernel.health(), to_managers=True)
        assert any(line.startswith("breaker store: IN-PROCESS, Redis at") for line in health)
        assert (await kernel.stats())["circuit_breaker"]["store"] == "memory (redis unreachable)"
        assert all(count == 0 for count in (await kernel.stats())["kernel"]["plugin_failures"].values())
