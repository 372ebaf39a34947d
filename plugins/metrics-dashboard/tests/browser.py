"""Headless Debian Chromium driven by Selenium through the system chromedriver (nothing is downloaded).

Every WebDriver call is blocking, so :class:`Browser` runs them in a thread: the event
loop of the test keeps serving the dashboard meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any, Self

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def system_binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"none of {names} found: install the Debian packages chromium and chromium-driver (.ci/run does)")


class Browser:
    """``async with Browser(width, height) as browser``: a Chromium window logging its console and network events."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.driver: Any = None

    async def __aenter__(self) -> Self:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for a driver online
        options = webdriver.ChromeOptions()
        options.binary_location = system_binary("chromium", "chromium-browser")
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        # a viewport of exactly width x height CSS pixels (a window cannot be narrower than 500 px)
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": self.width, "height": self.height, "pixelRatio": 1}}
        )
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        service = Service(executable_path=system_binary("chromedriver"))
        self.driver = await asyncio.to_thread(webdriver.Chrome, service=service, options=options)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.driver is not None:
            await asyncio.to_thread(self.driver.quit)

    async def open(self, url: str) -> None:
        await asyncio.to_thread(self.driver.get, url)

    async def text(self, element_id: str) -> str:
        from selenium.webdriver.common.by import By

        element = await asyncio.to_thread(self.driver.find_element, By.ID, element_id)
        return str(await asyncio.to_thread(lambda: element.text))

    async def script(self, source: str) -> Any:
        return await asyncio.to_thread(self.driver.execute_script, source)

    async def wait_for_text(self, element_id: str, expected: str, *, seconds: float = 15.0) -> str:
        """Poll the element until its text is ``expected``; return the last text seen."""
        seen = ""
        for _ in range(int(seconds / 0.1)):
            seen = await self.text(element_id)
            if seen == expected:
                break
            await asyncio.sleep(0.1)
        return seen

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.driver.save_screenshot, str(path))

    async def console(self) -> list[dict[str, Any]]:
        return list(await asyncio.to_thread(self.driver.get_log, "browser"))

    async def requested_urls(self) -> list[str]:
        """Every URL the page asked for (the DevTools ``Network.requestWillBeSent`` events)."""
        urls: list[str] = []
        for entry in await asyncio.to_thread(self.driver.get_log, "performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls
