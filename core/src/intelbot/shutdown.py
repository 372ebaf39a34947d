"""Stopping ``intelbot run`` on SIGTERM or SIGINT, the same way for both, within a bounded grace period.

Under systemd, Docker or Kubernetes a stop is a SIGTERM; at a terminal it is Ctrl-C
(SIGINT). Either one sets :attr:`StopSignals.requested`: the front end stops taking new
work, lets the turns in flight finish for up to ``shutdown_grace_seconds`` (cancelling
what is left after that), and then the kernel stops as usual: plugins' ``shutdown``
hooks (the cache saves its index) and the ledger's last write. A second signal during
the grace is only logged; the grace is the bound.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import TracebackType
from typing import Any

log = logging.getLogger("intelbot.shutdown")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DEFAULT_GRACE_SECONDS = 10.0


class StopSignals:
    """While entered (``async with StopSignals() as stop:``), SIGTERM and SIGINT set ``stop.requested``.

    The handlers are the event loop's (``loop.add_signal_handler``), so they run in the
    loop between callbacks, never inside a half-done write; the previous handlers are
    put back on exit.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self.requested = asyncio.Event()
        self.received: list[signal.Signals] = []
        self._installed: list[signal.Signals] = []

    def _receive(self, signum: signal.Signals) -> None:
        self.received.append(signum)
        if self.requested.is_set():
            log.warning("%s received again: already stopping", signum.name)
            return
        log.warning("%s received: stopping (turns in flight may finish first)", signum.name)
        self.requested.set()

    async def __aenter__(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for signum in self.signals:
            try:
                loop.add_signal_handler(signum, self._receive, signum)
            except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
                continue
            self._installed.append(signum)
        return self

    async def __aexit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _tb: TracebackType | None
    ) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    async def wait(self) -> None:
        """Return when a stop was requested."""
        await self.requested.wait()


async def finish_within(task: asyncio.Future[Any], grace: float, what: str) -> bool:
    """Wait up to ``grace`` seconds for ``task``; cancel it after that. True when it finished by itself."""
    done, _ = await asyncio.wait([task], timeout=max(0.0, grace))
    if done:
        return True
    log.warning("%s did not finish within the %.1f s grace period: cancelled", what, grace)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False
