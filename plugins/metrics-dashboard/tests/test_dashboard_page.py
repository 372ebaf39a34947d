"""The dashboard page in headless Chromium: live numbers, nothing fetched off loopback, no console error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp

from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import OpenAIServer

from .browser import Browser
from .conftest import GUILDS, boot, run_workload

ARTEFACTS = Path(os.environ.get("INTELBOT_TEST_ARTEFACTS") or Path(__file__).resolve().parents[3] / "test-artefacts")
PHONE = (390, 1800)
DESKTOP = (1280, 1100)


async def summary_of(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/api/summary") as response:
        return dict(json.loads(await response.text()))


async def test_dashboard_renders_live_figures_from_loopback_only(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel, plugin = await boot(make_kernel, openai_server, refresh_seconds=0.3)
    url = plugin.url
    assert url is not None
    async with Browser(*PHONE) as browser:
        await browser.open(f"{url}/")
        assert await browser.wait_for_text("turns-today", "0") == "0"

        done = await run_workload(kernel, openai_server)
        assert await browser.wait_for_text("turns-today", str(done.answered)) == str(done.answered)
        summary = await summary_of(url)
        cost = summary["cost_usd"]
        cache = summary["cache"]
        assert isinstance(cost, dict) and isinstance(cache, dict)
        assert await browser.wait_for_text("cost-today", f"${cost['today']:.4f}") == f"${done.cost_usd:.4f}"
        expected_rate = f"{done.cached / done.answered * 100:.1f}%"
        assert await browser.wait_for_text("cache-hit-rate", expected_rate) == expected_rate
        assert await browser.text("cache-hits") == str(done.cached)
        assert "openai/primary" in await browser.text("breakers")
        assert "server_error" in await browser.text("errors")
        guilds = await browser.text("guilds")
        assert all(str(guild) in guilds for guild in GUILDS)  # full snowflakes, not rounded to a double
        plugins = await browser.text("plugins")
        assert "semantic_cache loaded" in plugins and "circuit_breaker loaded" in plugins
        bars = await browser.script("return document.querySelectorAll('#chart-hour-turns rect').length")
        assert bars == 60
        assert await browser.script("return window.innerWidth") == PHONE[0]
        page_width = await browser.script("return document.documentElement.scrollWidth")
        assert page_width <= PHONE[0], "the page scrolls sideways at phone width"
        page_text = await browser.script("return document.body.innerText")
        assert "question number" not in page_text and "900000" not in page_text  # no user text, no user ids

        await browser.screenshot(ARTEFACTS / "metrics-dashboard-phone.png")
        requested = await browser.requested_urls()
        console = await browser.console()

    assert requested, "the performance log recorded the page's requests"
    assert [address for address in requested if not address.startswith(f"{url}/") and address != "data:,"] == []
    assert any(address.endswith("/api/summary") for address in requested)
    assert [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")] == []


async def test_dashboard_at_desktop_width(make_kernel: KernelFactory, openai_server: OpenAIServer) -> None:
    kernel, plugin = await boot(make_kernel, openai_server, refresh_seconds=0.3)
    done = await run_workload(kernel, openai_server)
    async with Browser(*DESKTOP) as browser:
        await browser.open(f"{plugin.url}/")
        assert await browser.wait_for_text("turns-today", str(done.answered)) == str(done.answered)
        await browser.screenshot(ARTEFACTS / "metrics-dashboard-desktop.png")
        assert [entry for entry in await browser.console() if entry["level"] == "SEVERE"] == []
