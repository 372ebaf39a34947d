"""A real Prometheus (the Debian package's binary) on a free loopback port, scraping a target every second.

Its configuration is the repository's ``deploy/prometheus/prometheus.yml`` with the target,
the intervals and the rule file's path changed, so the deploy files are what is tested.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Any, Self

import aiohttp
import pytest

REPOSITORY = Path(__file__).resolve().parents[3]
DEPLOY = REPOSITORY / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULES = DEPLOY / "prometheus" / "intelbot-alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "intelbot-alerts.test.yml"
GRAFANA_DASHBOARD = DEPLOY / "grafana" / "intelbot-dashboard.json"
DEPLOYED_TARGET = '"127.0.0.1:9464"'


def binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; fails the test (not skips) when the package is missing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the Debian package prometheus (.ci/run does)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrometheusServer:
    """``async with PrometheusServer(tmp_path, "127.0.0.1:PORT") as prometheus``: started, ready, stopped at exit."""

    def __init__(self, directory: Path, target: str) -> None:
        self.directory = directory
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    def config_text(self) -> str:
        text = PROMETHEUS_CONFIG.read_text(encoding="utf-8")
        assert DEPLOYED_TARGET in text and "scrape_interval: 15s" in text and "- intelbot-alerts.yml" in text
        return (
            text.replace(DEPLOYED_TARGET, f'"{self.target}"')
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
            .replace("- intelbot-alerts.yml", f"- {ALERT_RULES}")
        )

    async def __aenter__(self) -> Self:
        config = self.directory / "prometheus.yml"
        config.write_text(self.config_text(), encoding="utf-8")
        with (self.directory / "prometheus.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        for _ in range(200):
            if self.process.returncode is not None:
                raise RuntimeError(f"prometheus exited: {(self.directory / 'prometheus.log').read_text()[-2000:]}")
            try:
                async with aiohttp.ClientSession() as session, session.get(f"{self.url}/-/ready") as response:
                    if response.status == 200:
                        return self
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("prometheus did not become ready in 20 s")

    async def __aexit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    async def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the response's ``data`` (raises AssertionError with Prometheus' error otherwise)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/api/v1/{path}", params=params) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", (path, params, body.get("error"))
        return body["data"]

    async def query(self, expression: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expression)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]
        return result

    async def scalar(self, expression: str) -> float | None:
        """The value of a one-element vector, or None when the vector is empty."""
        result = await self.query(expression)
        return float(result[0]["value"][1]) if result else None
