"""The ``db_advisor`` plugin: captures statements on the kernel's engine, reports and advises indexes.

- ``startup``: creates its tables, attaches the capture and pool listeners to the kernel's
  engine, registers ``intelbot_db_*`` metrics and writes captured figures every
  ``flush_seconds``.
- ``shutdown``: writes the last figures and detaches.
- ``register_commands``: ``intelbot db report|advise|apply``; ``discord_loaders``: ``/db report``.
Nothing changes the schema except ``intelbot db apply``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot_db_advisor.capture import StatementCapture, StatementFigures
from intelbot_db_advisor.metrics import AdvisorMetrics
from intelbot_db_advisor.pool import PoolWatch
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.store import AdvisorStore

if TYPE_CHECKING:
    import click

    from intelbot.kernel import Kernel
    from intelbot_db_advisor.advisor import Report

log = logging.getLogger("intelbot.db_advisor")


class DbAdvisorPlugin(Plugin[DbAdvisorSettings]):
    """One advisor per kernel. ``capture`` holds figures not yet written; ``store`` the written ones."""

    name: ClassVar[str] = "db_advisor"
    settings_model: ClassVar[type[PluginSettings]] = DbAdvisorSettings

    def __init__(self, settings: DbAdvisorSettings) -> None:
        super().__init__(settings)
        self.kernel: Kernel | None = None
        self.capture: StatementCapture | None = None
        self.pool = PoolWatch()
        self.store: AdvisorStore | None = None
        self.metrics: AdvisorMetrics | None = None
        self.last_report: Report | None = None
        self._flusher: asyncio.Task[None] | None = None

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.store = AdvisorStore(kernel.database)
        await self.store.migrate()
        self.metrics = AdvisorMetrics(kernel.metrics)
        self.metrics.watch_pool(self.pool)
        self.capture = StatementCapture(
            dialect=kernel.database.dialect,
            slow_seconds=self.settings.slow_ms / 1000,
            max_texts=self.settings.max_texts,
            observer=self.metrics.observe,
            slow_observer=self.metrics.observe_slow,
        )
        engine = kernel.database.engine.sync_engine
        self.capture.attach(engine)
        self.pool.attach(engine)
        if self.settings.flush_seconds > 0:
            self._flusher = asyncio.create_task(
                self._flush_every(self.settings.flush_seconds), name="intelbot-db-advisor"
            )

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        try:
            await self.flush()
        finally:
            if self.capture is not None:
                self.capture.detach()
            self.pool.detach()
            self.kernel = None

    async def _flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.flush()
            except Exception as error:  # noqa: BLE001 - keep capturing; the next flush retries
                log.warning("writing captured statement figures failed: %s", type(error).__name__)

    async def flush(self) -> None:
        """Write the figures captured since the last flush to the advisor's table."""
        if self.capture is None or self.store is None:
            return
        figures = self.capture.take()
        if self.metrics is not None:
            self.metrics.fingerprints.set(len(figures))
        try:
            await self.store.add_figures(figures.values())
        except BaseException:
            for item in figures.values():  # keep them for the next flush
                known = self.capture.folded.get(item.fingerprint)
                if known is None:
                    self.capture.folded[item.fingerprint] = item
                else:
                    known.add(item)
            raise

    async def figures(self) -> list[StatementFigures]:
        """Every captured fingerprint: written ones merged with those still in memory."""
        await self.flush()
        return await self.store.figures() if self.store is not None else []

    async def report(self) -> Report:
        """Flush, analyse the heaviest captured statements, store the suggestions, read health and pool."""
        from intelbot_db_advisor.advisor import build_report, target_of  # sqlglot and asyncpg: only a report needs them

        if self.kernel is None or self.store is None:
            raise RuntimeError("the db_advisor plugin is not started")
        engine = self.kernel.database.engine
        report = await build_report(engine, await self.figures(), self.settings, self.pool)
        await self.store.save_suggestions(target_of(engine), report.analysis.suggestions)
        if self.metrics is not None:
            self.metrics.suggestions.set(len(report.analysis.suggestions))
        self.last_report = report
        return report

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        from intelbot_db_advisor.cli import db_group

        cli.add_command(db_group)

    @hookimpl
    def discord_loaders(self) -> Any:
        from intelbot_db_advisor.discord_commands import loader

        return loader()

    @hookimpl
    def collect_stats(self) -> dict[str, Any] | None:
        if self.capture is None:
            return None
        figures = self.capture.fold()
        return {
            "db_advisor_fingerprints_unwritten": len(figures),
            "db_advisor_pool_peak_in_use": self.pool.peak_in_use,
            "db_advisor_suggestions": len(self.last_report.analysis.suggestions) if self.last_report else 0,
        }
