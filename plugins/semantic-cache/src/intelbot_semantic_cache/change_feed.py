"""Following the change feed: one background task per cache that applies other replicas' changes.

Every ``change_poll_seconds`` the task calls :meth:`SemanticCache.apply_changes`, so
an entry stored, cleared or expired on one replica is seen by the others on the same
database within about one interval plus the time of one poll. A failing poll (the
database unreachable) is logged once per outage and retried at the next interval;
lookups go on meanwhile with what memory holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from intelbot_semantic_cache.cache import SemanticCache

log = logging.getLogger("intelbot_semantic_cache")


class ChangeFollower:
    """Polls the change feed of ``cache`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(self, cache: SemanticCache, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the change feed's poll interval must be positive")
        self.cache = cache
        self.interval = interval
        self.polls = 0
        self.failing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="semantic-cache-change-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.cache.apply_changes()
            except (SQLAlchemyError, OSError) as error:  # the database may be down: keep serving, retry
                if not self.failing:
                    log.warning("semantic cache: cannot read the change feed (%s); retrying", type(error).__name__)
                self.failing = True
            else:
                if self.failing:
                    log.info("semantic cache: reading the change feed again")
                self.failing = False
            self.polls += 1
