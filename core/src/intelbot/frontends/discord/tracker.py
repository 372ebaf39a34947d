"""Which commands are running: counted when they start and settle, awaited by shutdown and tests.

A command settles when lightbulb's execution pipeline has finished with it,
successfully or not. A feedback click counts as a command too, from its arrival until
its vote has been announced to the plugins (:mod:`.feedback`). The last few thousand
settled interaction ids are kept so a caller may wait for one that has already settled.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

REMEMBERED_SETTLED = 4096


class CommandTracker:
    """Start/settle bookkeeping of command interactions, by interaction id."""

    def __init__(self) -> None:
        self.started = 0
        self.settled = 0
        self.failed = 0
        self._events: OrderedDict[int, asyncio.Event] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self.started - self.settled

    def _event(self, interaction_id: int) -> asyncio.Event:
        event = self._events.get(interaction_id)
        if event is None:
            event = self._events[interaction_id] = asyncio.Event()
            while len(self._events) > REMEMBERED_SETTLED:
                self._events.popitem(last=False)
        return event

    def start(self, interaction_id: int) -> None:
        self.started += 1
        self._idle.clear()
        self._event(interaction_id)

    def settle(self, interaction_id: int, *, failed: bool) -> None:
        self.settled += 1
        self.failed += int(failed)
        self._event(interaction_id).set()
        if self.in_flight == 0:
            self._idle.set()

    def has_started(self, interaction_id: int) -> bool:
        return interaction_id in self._events

    async def wait_settled(self, interaction_id: int, within: float) -> None:
        """Wait until the command of ``interaction_id`` has settled; TimeoutError after ``within`` seconds."""
        await asyncio.wait_for(self._event(interaction_id).wait(), within)

    async def wait_idle(self, within: float) -> bool:
        """Wait until no command is running; False when ``within`` seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True
