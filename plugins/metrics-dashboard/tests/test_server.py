"""The endpoints over real HTTP: /metrics (text, OpenMetrics), /api/summary, /healthz, token, bad hosts, busy port."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from intelbot.contract import TurnContext
from intelbot.errors import ConfigurationError
from intelbot.hookspecs import hookimpl
from intelbot.kernel import Kernel
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import OpenAIServer
from intelbot_metrics_dashboard.plugin import MetricsDashboardPlugin
from intelbot_metrics_dashboard.settings import DashboardSettings

from .conftest import GUILDS, boot, kernel_settings, run_workload

TOKEN = "dashboard-test-token-3f9a"
FORBIDDEN_LABELS = {"user", "user_id", "channel", "channel_id", "guild", "guild_id", "prompt", "question", "text"}


async def fetch(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as response:
        return response.status, dict(response.headers), await response.text()


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def test_metrics_exposes_every_metric_in_text_and_openmetrics(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel, plugin = await boot(make_kernel, openai_server)
    done = await run_workload(kernel, openai_server)
    status, headers, body = await fetch(f"{plugin.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(body)
    assert found[("intelbot_turns_total", (("source", "provider"),))] == done.answered - done.cached
    assert found[("intelbot_turns_total", (("source", "cache"),))] == done.cached > 0
    assert found[("intelbot_cache_hits_total", (("kind", "exact"),))] == done.cached
    assert any(name == "intelbot_breaker_state" for name, _ in found)
    assert found[("intelbot_llm_errors_total", (("category", "server_error"),))] >= done.failed > 0

    status, headers, open_body = await fetch(
        f"{plugin.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert open_body.rstrip().endswith("# EOF")
    assert 'intelbot_turns_total{source="cache"}' in open_body


async def test_label_values_stay_bounded_after_a_varied_workload(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel, plugin = await boot(make_kernel, openai_server)
    await run_workload(kernel, openai_server, distinct=30)  # 60 users, 60 channels, 30 questions
    _, _, body = await fetch(f"{plugin.url}/metrics")
    values: dict[tuple[str, str], set[str]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label in ("le", "quantile"):
                    continue
                assert label not in FORBIDDEN_LABELS, (family.name, label)
                values.setdefault((family.name, label), set()).add(value)
    assert values, "the exposition has labelled metrics"
    for (family, label), seen in values.items():
        assert len(seen) <= 10, f"{family}{{{label}}} has {len(seen)} values: {sorted(seen)[:5]}..."
        for value in seen:
            assert "question" not in value and not value.isdigit(), (family, label, value)


async def test_summary_is_the_one_built_for_stats(make_kernel: KernelFactory, openai_server: OpenAIServer) -> None:
    from intelbot.summary import build_summary

    kernel, plugin = await boot(make_kernel, openai_server)
    done = await run_workload(kernel, openai_server)
    status, headers, body = await fetch(f"{plugin.url}/api/summary")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    summary = json.loads(body)
    assert summary["turns"]["total"] == summary["turns"]["today"] == done.answered
    assert summary["turns"]["by_source"] == {"cache": done.cached, "provider": done.answered - done.cached}
    assert summary["cache"]["hit_rate"] == round(done.cached / done.answered, 4)
    assert summary["cost_usd"]["today"] == pytest.approx(done.cost_usd, rel=1e-6) and done.cost_usd > 0
    assert summary["errors"]["by_category"]["server_error"] >= done.failed
    breaker_figures = summary["plugin_figures"]["circuit_breaker"]
    assert summary["breakers"]["openai/primary"] == breaker_figures["openai/primary.state"]
    assert {row["guild_id"] for row in summary["guilds"]} == {str(guild) for guild in GUILDS}
    spends = [row["cost_usd_today"] for row in summary["guilds"]]
    assert spends == sorted(spends, reverse=True)
    assert sum(point["turns"] for point in summary["series"]["hour"]) == done.answered
    assert sum(point["turns"] for point in summary["series"]["day"]) == done.answered
    assert len(summary["series"]["hour"]) == 60 and len(summary["series"]["day"]) == 24
    assert {"name": "semantic_cache", "status": "loaded"} in summary["plugins"]
    assert summary["database"]["ok"] is True
    assert "900000" not in body and "question number" not in body  # no user ids, no user text

    direct = await build_summary(kernel)
    for key in ("turns", "calls", "tokens", "cost_usd", "cache", "guilds", "errors", "breakers"):
        assert direct[key] == summary[key], key


class SlowShutdown:
    """A plugin whose shutdown waits for ``release``, so the test can look at /healthz while the kernel stops."""

    name = "slow_shutdown"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started_stopping = asyncio.Event()

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        self.started_stopping.set()
        await self.release.wait()


async def test_healthz_is_200_while_running_and_503_while_stopping(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    slow = SlowShutdown()
    kernel = await make_kernel(plugins=["metrics_dashboard", slow], settings=kernel_settings(openai_server))
    plugin = loaded_plugin(kernel, MetricsDashboardPlugin)
    url = plugin.url
    assert (await fetch(f"{url}/healthz"))[0] == 200
    stopping = asyncio.create_task(kernel.stop())
    await asyncio.wait_for(slow.started_stopping.wait(), 5)
    status, _, body = await fetch(f"{url}/healthz")
    assert (status, json.loads(body)) == (503, {"status": "unavailable"})
    slow.release.set()
    await stopping
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(f"{url}/healthz")


class SlowStartup:
    """A plugin whose startup waits for ``release``, so the test can look at /healthz while the kernel starts."""

    name = "slow_startup"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.starting = asyncio.Event()
        self.kernel: Kernel | None = None

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.starting.set()
        await self.release.wait()


async def test_healthz_is_503_while_the_other_plugins_start(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    slow = SlowStartup()
    starting = asyncio.create_task(
        make_kernel(plugins=["metrics_dashboard", slow], settings=kernel_settings(openai_server))
    )
    await asyncio.wait_for(slow.starting.wait(), 10)
    assert slow.kernel is not None
    url = loaded_plugin(slow.kernel, MetricsDashboardPlugin).url
    assert url is not None  # the dashboard listens before the slow plugin has started
    status, _, body = await fetch(f"{url}/healthz")
    assert (status, json.loads(body)) == (503, {"status": "unavailable"})
    slow.release.set()
    kernel = await asyncio.wait_for(starting, 10)
    assert kernel.started
    assert (await fetch(f"{url}/healthz"))[0] == 200


@pytest.mark.parametrize("path", ["/metrics", "/api/summary", "/", "/healthz", "/static/dashboard.js"])
async def test_with_a_token_every_endpoint_needs_the_bearer_header(
    make_kernel: KernelFactory, openai_server: OpenAIServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kernel, plugin = await boot(make_kernel, openai_server, token=TOKEN)
    await kernel.ask("hello", TurnContext(guild_id=GUILDS[0]))
    url = f"{plugin.url}{path}"
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        status, response_headers, body = await fetch(url, headers=headers)
        assert status == 401, headers
        assert response_headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in body
    status, _, body = await fetch(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert TOKEN not in body
    assert TOKEN not in caplog.text
    assert all(TOKEN not in line for line in await kernel.health())
    assert TOKEN not in repr(plugin.settings)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "bot.example.org"])
def test_a_host_off_loopback_without_a_token_is_refused(host: str, tmp_path: Any) -> None:
    from intelbot.settings import load_settings

    settings = load_settings(tmp_path, overrides={"plugins": {"metrics_dashboard": {"host": host}}})
    with pytest.raises(ConfigurationError) as refused:
        MetricsDashboardPlugin.from_settings(settings)
    assert refused.value.key == "plugins.metrics_dashboard"
    assert f"host {host!r} is not a loopback address" in str(refused.value)
    assert "plugins.metrics_dashboard.token" in str(refused.value)
    allowed = MetricsDashboardPlugin.from_settings(
        load_settings(tmp_path, overrides={"plugins": {"metrics_dashboard": {"host": host, "token": TOKEN}}})
    )
    assert allowed.settings.host == host
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert DashboardSettings(host=loopback).host == loopback


def test_bad_settings_name_the_key(tmp_path: Any) -> None:
    from intelbot.settings import load_settings

    for table, key in (({"port": 70000}, "port"), ({"prot": 1}, "prot"), ({"refresh_seconds": 0}, "refresh_seconds")):
        settings = load_settings(tmp_path, overrides={"plugins": {"metrics_dashboard": table}})
        with pytest.raises(ConfigurationError) as refused:
            MetricsDashboardPlugin.from_settings(settings)
        assert refused.value.key == f"plugins.metrics_dashboard.{key}"


async def test_a_port_in_use_is_reported_and_the_bot_keeps_answering(
    make_kernel: KernelFactory, openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        kernel = await make_kernel(plugins=["metrics_dashboard"], settings=kernel_settings(openai_server, port=port))
        plugin = loaded_plugin(kernel, MetricsDashboardPlugin)
        assert plugin.url is None
        assert plugin.problem is not None and f"port {port} on 127.0.0.1 is already in use" in plugin.problem
        assert "plugins.metrics_dashboard.port" in caplog.text
        assert any("metrics dashboard: NOT SERVING" in line for line in await kernel.health())
        response = await kernel.ask("still answering?", TurnContext(guild_id=GUILDS[0]))
        assert response.text


async def test_the_kernel_refuses_to_start_a_dashboard_off_loopback_without_a_token(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        await make_kernel(plugins=["metrics_dashboard"], settings=kernel_settings(openai_server, host="0.0.0.0"))
    assert refused.value.key == "plugins.metrics_dashboard"
    assert "host '0.0.0.0' is not a loopback address" in str(refused.value)


async def test_spending_gauges_count_guilds_near_the_cap(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    settings = kernel_settings(openai_server, spend_check_seconds=0.0)
    settings["discord"] = {"daily_guild_cap_usd": 0.01}
    kernel = await make_kernel(plugins=["metrics_dashboard"], settings=settings)
    plugin = loaded_plugin(kernel, MetricsDashboardPlugin)
    for index in range(4):  # one guild spends, another barely
        await kernel.ask(f"a long enough question number {index} to cost something", TurnContext(guild_id=GUILDS[0]))
    await kernel.ask("hi", TurnContext(guild_id=GUILDS[1]))
    spent = (await kernel.ledger.summary(guild_id=GUILDS[0])).cost_usd
    other = (await kernel.ledger.summary(guild_id=GUILDS[1])).cost_usd
    assert spent >= 0.008 > other, (spent, other)  # the first at 80% of the cap or more, the second not
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for _ in range(50):  # the first scrape starts the refresh in the background; a later one shows it
        found = samples((await fetch(f"{plugin.url}/metrics"))[2])
        if found[("intelbot_dashboard_guilds_near_cap", ())] == 1:
            break
        await asyncio.sleep(0.05)
    assert found[("intelbot_dashboard_guilds_near_cap", ())] == 1
    assert found[("intelbot_dashboard_guild_cap_usd", ())] == 0.01
    assert found[("intelbot_dashboard_guild_spend_max_usd", ())] == pytest.approx(spent)
