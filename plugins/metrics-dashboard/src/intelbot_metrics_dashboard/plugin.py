"""The plugin (entry point ``metrics_dashboard``): serves the kernel's figures over HTTP and adds Discord ``/stats``.

- ``startup`` (``tryfirst``): starts the HTTP server on ``host:port``
  (:mod:`intelbot_metrics_dashboard.server`) before the other plugins start, so ``/healthz``
  answers 503 until every ``startup`` hook has returned (``kernel.started``).
  A port already in use (or any other bind failure) is logged as an error naming
  ``plugins.metrics_dashboard.port`` and shown by ``/health``; the bot keeps answering
  without the dashboard.
- ``shutdown`` (``trylast``): the kernel stops running as its ``stop`` begins, so ``/healthz``
  answers 503 while the other plugins shut down; then the server stops.
- ``discord_loaders``: ``/stats`` (:mod:`intelbot_metrics_dashboard.discord_commands`).
- ``health_lines``: where the dashboard listens, or why it does not.

Settings (``[default.plugins.metrics_dashboard]``, :class:`DashboardSettings`) are
validated by the kernel before anything opens: a host other than loopback without a token stops
start-up with a message naming the key.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot_metrics_dashboard.metrics import SpendingMetrics
from intelbot_metrics_dashboard.server import DashboardServer
from intelbot_metrics_dashboard.settings import DashboardSettings

if TYPE_CHECKING:
    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot_metrics_dashboard")


class MetricsDashboardPlugin(Plugin[DashboardSettings]):
    """One HTTP server per kernel, open between ``startup`` and ``shutdown``."""

    name: ClassVar[str] = "metrics_dashboard"
    settings_model: ClassVar[type[PluginSettings]] = DashboardSettings

    def __init__(self, settings: DashboardSettings) -> None:
        super().__init__(settings)
        self.kernel: Kernel | None = None
        self.server: DashboardServer | None = None
        self.problem: str | None = None
        self.spending: SpendingMetrics | None = None
        self._stopping = False

    @property
    def url(self) -> str | None:
        """``http://host:port`` while serving, else None."""
        if self.server is None or self.server.port is None:
            return None
        host = self.settings.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server.port}"

    def ready(self) -> bool:
        """What ``/healthz`` reports: every plugin has started and the kernel is not stopping."""
        return self.kernel is not None and self.kernel.started and not self._stopping

    @hookimpl(tryfirst=True)
    async def startup(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self._stopping = False
        self.problem = None
        self.spending = SpendingMetrics(
            kernel.metrics, near_cap_ratio=self.settings.near_cap_ratio, every_seconds=self.settings.spend_check_seconds
        )
        server = DashboardServer(kernel, self.settings, ready=self.ready, spending=self.spending)
        try:
            await server.start()
        except OSError as error:
            where = f"{self.settings.host}:{self.settings.port}"
            if error.errno == errno.EADDRINUSE:
                self.problem = (
                    f"port {self.settings.port} on {self.settings.host} is already in use: change "
                    "plugins.metrics_dashboard.port (INTELBOT_PLUGINS__METRICS_DASHBOARD__PORT)"
                )
            else:
                self.problem = (
                    f"cannot listen on {where} ({error.strerror or type(error).__name__}): check "
                    "plugins.metrics_dashboard.host and plugins.metrics_dashboard.port"
                )
            log.error("metrics dashboard not serving: %s; the bot keeps answering without it", self.problem)
            return
        self.server = server
        log.info(
            "metrics dashboard on %s (token %s)",
            self.url,
            "required" if self.settings.token.get_secret_value() else "not set",
        )

    @hookimpl(trylast=True)
    async def shutdown(self, kernel: Kernel) -> None:
        """Last of the shutdown hooks: ``/healthz`` answers 503 while the other plugins stop."""
        self._stopping = True
        if self.server is not None:
            await self.server.stop()
        self.server = None
        self.kernel = None

    @hookimpl
    def health_lines(self) -> list[str] | None:
        if self.problem is not None:
            return [f"metrics dashboard: NOT SERVING: {self.problem}"]
        if self.url is None:
            return None
        guarded = "token required" if self.settings.token.get_secret_value() else "loopback, no token"
        return [f"metrics dashboard: {self.url} ({guarded})"]

    @hookimpl
    def discord_loaders(self) -> Any:
        from intelbot_metrics_dashboard.discord_commands import loader

        return loader()
