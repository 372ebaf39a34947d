"""Memories recalled in a DM belong to the asking user only (issue 9, item 9)."""

from __future__ import annotations

from intelbot import MemoryHit, MemoryQuery, MemoryRecord, TurnContext, hookimpl
from intelbot.testing.kernels import KernelFactory


class EveryDirectMessage:
    """A memory plugin that returns every DM memory it holds, whoever asks: the kernel must filter."""

    name = "every_dm"

    @hookimpl
    def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit]:
        return [
            MemoryHit(MemoryRecord("alice: my locker code is 4711", guild_id=None, user_id=1), 0.9),
            MemoryHit(MemoryRecord("bob: I like tea", guild_id=None, user_id=2), 0.8),
            MemoryHit(MemoryRecord("operator: staging is down", guild_id=None, user_id=None), 0.7),
        ]

    @hookimpl
    def store(self, record: MemoryRecord, ctx: TurnContext) -> None:
        return None


async def test_recall_in_a_dm_returns_only_the_asking_users_memories(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=[EveryDirectMessage()])
    bob = await kernel.query(MemoryQuery("code", guild_id=None, user_id=2), TurnContext(user_id=2))
    assert [hit.record.text for hit in bob] == ["bob: I like tea"]
    alice = await kernel.query(MemoryQuery("code", guild_id=None, user_id=1), TurnContext(user_id=1))
    assert [hit.record.text for hit in alice] == ["alice: my locker code is 4711"]
    operator = await kernel.query(MemoryQuery("code"), TurnContext(frontend="console"))
    assert [hit.record.text for hit in operator] == ["operator: staging is down"]
