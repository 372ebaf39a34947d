"""The aiohttp application: ``/metrics``, ``/healthz``, ``/api/summary``, ``/`` and its static files.

With a token, every route needs ``Authorization: Bearer <token>`` (compared in constant
time) and answers 401 otherwise. The page loads nothing from outside the machine: its
script and style are served here, and the Content-Security-Policy header forbids any
other origin.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy.exc import SQLAlchemyError

from intelbot.summary import build_summary
from intelbot_metrics_dashboard.metrics import SpendingMetrics
from intelbot_metrics_dashboard.settings import DashboardSettings

if TYPE_CHECKING:
    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot_metrics_dashboard")

STATIC_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _asset(name: str) -> str:
    return files("intelbot_metrics_dashboard").joinpath("static", name).read_text(encoding="utf-8")


class DashboardServer:
    """One HTTP server bound to one kernel. ``ready()`` decides ``/healthz`` (200 or 503)."""

    def __init__(
        self, kernel: Kernel, settings: DashboardSettings, *, ready: Callable[[], bool], spending: SpendingMetrics
    ) -> None:
        self.kernel = kernel
        self.spending = spending
        self.settings = settings
        self.ready = ready
        self._token = settings.token.get_secret_value().encode("utf-8")
        self._page = _asset("index.html").replace("{{refresh_seconds}}", f"{settings.refresh_seconds:g}")
        self._static = {name: _asset(name) for name in STATIC_FILES}
        self._runner: web.AppRunner | None = None
        self._refresh: asyncio.Task[None] | None = None
        self.port: int | None = None

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/api/summary", self.summary)
        app.router.add_get("/", self.page)
        app.router.add_get("/static/{name}", self.static)
        return app

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one, kept in ``self.port``); OSError when it cannot bind."""
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.settings.host, self.settings.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._refresh is not None:
            await asyncio.gather(self._refresh, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token and not self._authorised(request.headers.get("Authorization", "")):
            return web.json_response(
                {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="intelbot"'}
            )
        response = await handler(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def _authorised(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("utf-8"), self._token)

    async def metrics(self, request: web.Request) -> web.Response:
        """The Prometheus text exposition of ``kernel.metrics``; OpenMetrics when ``Accept`` asks for it."""
        if self.spending.due() and (self._refresh is None or self._refresh.done()):
            # off the scrape's path: this scrape serves the last values, the next one the new
            self._refresh = asyncio.create_task(self._refresh_spending(), name="intelbot-dashboard-spending")
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(self.kernel.metrics))
        response.headers["Content-Type"] = content_type
        return response

    async def _refresh_spending(self) -> None:
        try:
            await self.spending.refresh(self.kernel)
        except (SQLAlchemyError, OSError) as error:  # the other metrics are still worth serving
            log.warning("refreshing the spending gauges failed: %s", type(error).__name__)

    async def healthz(self, _request: web.Request) -> web.Response:
        ok = self.ready()
        return web.json_response({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)

    async def summary(self, _request: web.Request) -> web.Response:
        figures: dict[str, Any] = await build_summary(self.kernel, top_guilds=self.settings.top_guilds)
        return web.Response(text=json.dumps(figures, default=str), content_type="application/json")

    async def page(self, _request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", charset="utf-8")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._static:
            raise web.HTTPNotFound()
        return web.Response(text=self._static[name], content_type=STATIC_FILES[name], charset="utf-8")
