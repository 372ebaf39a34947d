"""A switch made while the refresher reads is never reverted by that read (issue 9, item 15)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from intelbot import LLMRequest, TurnContext, hookimpl
from intelbot.testing.kernels import KernelFactory


class Counts:
    name = "counts"

    @hookimpl
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        return None


class SlowReads:
    """The kernel's session factory, whose reads hold their (already fetched) result until ``release`` is set."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    def begin(self) -> Any:
        return self.sessions.begin()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        outer = self

        async with self.sessions() as session:

            class Held:
                async def execute(self, *args: Any, **kwargs: Any) -> Any:
                    result = await session.execute(*args, **kwargs)
                    outer.read_done.set()
                    await outer.release.wait()
                    return result

            yield Held()


async def test_a_switch_made_during_a_refresh_read_survives_the_refresh(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=[Counts()], settings={"guild_switch_refresh_seconds": 0})
    slow = SlowReads(kernel.database.session)
    kernel.database.session = slow  # type: ignore[assignment]
    refresh = asyncio.create_task(kernel._load_guild_switches())
    await asyncio.wait_for(slow.read_done.wait(), timeout=10)  # the refresher has read: no switch yet
    switch = asyncio.create_task(kernel.set_guild_plugin(7, "counts", False))
    await asyncio.sleep(0.2)
    slow.release.set()
    await asyncio.wait_for(asyncio.gather(refresh, switch), timeout=10)
    assert not kernel.plugin_enabled_for(7, "counts")
