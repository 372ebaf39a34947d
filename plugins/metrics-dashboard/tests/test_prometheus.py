"""The deploy files against a real Prometheus scraping the bot, and promtool on the exposition and the rules."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import aiohttp

from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import OpenAIServer

from .conftest import boot, run_workload
from .prometheus_server import ALERT_RULES, ALERT_TESTS, GRAFANA_DASHBOARD, PROMETHEUS_CONFIG, PrometheusServer, binary

GRAFANA_VARIABLES = {"$__rate_interval": "1m"}
METRIC_NAME = re.compile(r"\bintelbot_[a-z0-9_]+")


def grafana_expressions() -> list[str]:
    dashboard = json.loads(GRAFANA_DASHBOARD.read_text(encoding="utf-8"))
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 15
    return expressions


def rule_expressions() -> str:
    return ALERT_RULES.read_text(encoding="utf-8")


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        return await response.text()


def exported_names(exposition: str) -> set[str]:
    """Every sample name the exposition can carry (from ``# TYPE`` lines: counters _total, histograms _bucket...)."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
            names.add(name)
            names.update(name.removesuffix("_total") + suffix for suffix in suffixes.get(kind, ()))
    return names


async def test_prometheus_scrapes_the_bot_while_turns_run(
    make_kernel: KernelFactory, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    kernel, plugin = await boot(make_kernel, openai_server)
    assert plugin.url is not None
    target = plugin.url.removeprefix("http://")
    async with PrometheusServer(tmp_path, target) as prometheus:
        first = await run_workload(kernel, openai_server, distinct=6, failures=1)
        await asyncio.sleep(1.5)  # at least one scrape between the two halves
        second = await run_workload(kernel, openai_server, distinct=6, failures=1)
        answered = first.answered + second.answered
        cached = first.cached + second.cached
        seen = None
        for _ in range(100):
            seen = await prometheus.scalar('sum(intelbot_turns_total{job="intelbot"})')
            if seen == answered:
                break
            await asyncio.sleep(0.2)
        assert seen == answered, f"Prometheus saw {seen} turns, the workload made {answered}"
        assert await prometheus.scalar('up{job="intelbot"}') == 1.0
        assert await prometheus.scalar('sum(intelbot_turns_total{source="cache"})') == cached > 0
        assert await prometheus.scalar("sum(intelbot_cache_hits_total)") == cached
        breakers = await prometheus.query("intelbot_breaker_state")
        assert {row["metric"]["breaker"] for row in breakers} >= {"openai/primary"}
        assert (await prometheus.scalar('sum(intelbot_llm_errors_total{category="server_error"})') or 0) >= 2

        for expression in grafana_expressions():
            for variable, value in GRAFANA_VARIABLES.items():
                expression = expression.replace(variable, value)
            await prometheus.query(expression)  # raises with Prometheus' error when it does not evaluate
        for _ in range(50):  # the rules are evaluated every second; each must have run without error
            groups = (await prometheus.api("rules"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules):
                break
            await asyncio.sleep(0.2)
        assert len(rules) == 9
        assert [
            (rule["name"], rule["health"], rule.get("lastError", "")) for rule in rules if rule["health"] != "ok"
        ] == []

        exposition = await scrape(plugin.url)
    names = exported_names(exposition)
    used = set(METRIC_NAME.findall(" ".join(grafana_expressions()))) | set(METRIC_NAME.findall(rule_expressions()))
    assert used - names == set(), "queries over metrics the bot does not export"


async def test_promtool_checks_the_exposition(make_kernel: KernelFactory, openai_server: OpenAIServer) -> None:
    kernel, plugin = await boot(make_kernel, openai_server)
    await run_workload(kernel, openai_server)
    assert plugin.url is not None
    exposition = await scrape(plugin.url)
    checked = await asyncio.to_thread(
        subprocess.run,
        [binary("promtool"), "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", "promtool found lint problems"


def test_promtool_checks_and_unit_tests_the_alert_rules() -> None:
    promtool = binary("promtool")
    rules = subprocess.run([promtool, "check", "rules", str(ALERT_RULES)], capture_output=True, text=True, timeout=60)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 9 rules found" in rules.stdout
    config = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert config.returncode == 0, config.stdout + config.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", str(ALERT_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ALERT_TESTS.parent,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", ALERT_RULES.read_text(encoding="utf-8"), re.MULTILINE))
    tested = set(re.findall(r"alertname: (\w+)", ALERT_TESTS.read_text(encoding="utf-8")))
    assert len(alerts) == 6 and alerts == tested
