"""What every memory backend must do; each test runs on every backend (the ``harness`` fixture).

Real embeddings (all-MiniLM-L6-v2), a real database, and for Weaviate the real
weaviate-client against the loopback Weaviate of the test kit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from intelbot.embedding import Embedder
from intelbot_memory.records import Memory, MemoryKind, MemorySearch, Scope

NOW = 1_000_000.0
GUILD = Scope(1)
OTHER_GUILD = Scope(2)


async def put(backend: Any, embedder: Embedder, memories: list[Memory]) -> list[Memory]:
    vectors = await embedder.embed([memory.text for memory in memories])
    await backend.add(memories, vectors)
    return memories


async def find(
    backend: Any, embedder: Embedder, scope: Scope, text: str, *, limit: int = 5, mode: str = "vector", **extra: Any
) -> list[Any]:
    vector = (await embedder.embed([text]))[0]
    return list(
        await backend.search(
            MemorySearch(scope, vector, text=text, limit=limit, mode=mode, now=extra.pop("now", NOW), **extra)  # type: ignore[arg-type]
        )
    )


def fact(text: str, scope: Scope = GUILD, user_id: int = 10, **extra: Any) -> Memory:
    return Memory(text, scope, user_id=user_id, created_at=NOW - 100, **extra)


FACTS = [
    "The team meetup is on Friday at 7pm in the library.",
    "Alice's favourite colour is green.",
    "We deploy to production every Tuesday morning.",
    "The office plant is a fern called Gerald.",
]


async def test_stores_and_finds_by_meaning(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    stored = await put(backend, minilm, [fact(text) for text in FACTS])
    hits = await find(backend, minilm, GUILD, "when do we get together this week?", limit=2)
    assert hits[0].memory.id == stored[0].id
    assert hits[0].memory.text == FACTS[0]
    assert hits[0].memory.user_id == 10 and hits[0].memory.kind is MemoryKind.FACT
    assert 0.0 <= hits[0].score <= 1.0 and hits[0].similarity > hits[1].similarity
    assert await backend.count() == len(FACTS)


async def test_hybrid_finds_a_rare_keyword_first(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    wifi = fact("The guest wifi password is zebra47quartz.")
    await put(backend, minilm, [wifi, *(fact(text) for text in FACTS)])
    await put(backend, minilm, [fact("zebra47quartz is also a word here.", scope=OTHER_GUILD)])
    hits = await find(backend, minilm, GUILD, "zebra47quartz", mode="hybrid", limit=3)
    assert hits[0].memory.id == wifi.id
    assert all(hit.memory.scope == GUILD for hit in hits)
    assert hits[0].score > hits[1].score


async def test_filters_apply_inside_the_search(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    crowd = [fact(f"Note {number}: the meetup moved to room {number}.", user_id=10) for number in range(40)]
    mine = [fact(text, user_id=20) for text in FACTS[1:]]
    turn = fact("Q: where is the meetup? A: in the library", user_id=20, kind=MemoryKind.TURN)
    await put(backend, minilm, [*crowd, *mine, turn])
    hits = await find(
        backend, minilm, GUILD, "where is the meetup?", limit=3, user_id=20, kinds=frozenset({MemoryKind.FACT})
    )
    assert sorted(hit.memory.id for hit in hits) == sorted(memory.id for memory in mine)
    turns = await find(backend, minilm, GUILD, "where is the meetup?", limit=3, kinds=frozenset({MemoryKind.TURN}))
    assert [hit.memory.id for hit in turns] == [turn.id]


async def test_a_small_guild_gets_its_full_k_and_nothing_of_others(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    big = [fact(f"Reminder {number}: the meetup is on Friday.", scope=GUILD) for number in range(120)]
    small = [fact(text, scope=OTHER_GUILD, user_id=30) for text in FACTS[1:]]
    dm_own = Memory("My meetup reminder is private.", Scope(None, 40), user_id=40, created_at=NOW)
    dm_other = Memory("Someone else's meetup reminder.", Scope(None, 41), user_id=41, created_at=NOW)
    await put(backend, minilm, [*big, *small, dm_own, dm_other])
    for mode in ("vector", "hybrid"):
        hits = await find(backend, minilm, OTHER_GUILD, "when is the meetup?", limit=3, mode=mode)
        assert sorted(hit.memory.id for hit in hits) == sorted(memory.id for memory in small), mode
        dms = await find(backend, minilm, Scope(None, 40), "meetup reminder", limit=5, mode=mode)
        assert [hit.memory.id for hit in dms] == [dm_own.id], mode
    assert len(await find(backend, minilm, GUILD, "when is the meetup?", limit=10)) == 10


async def test_forget_reaches_vector_and_keyword_search_also_after_restart(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    secret = fact("My locker code is 4417 quokka.", user_id=10)
    kept = fact("My locker is next to the quokka poster.", user_id=11)
    await put(backend, minilm, [secret, kept, *(fact(text, user_id=12) for text in FACTS)])
    assert await backend.forget(GUILD, 10) == 1
    for mode in ("vector", "hybrid"):
        ids = [hit.memory.id for hit in await find(backend, minilm, GUILD, "locker code 4417 quokka", mode=mode)]
        assert secret.id not in ids and kept.id in ids, mode
    backend = await harness.restart()
    for mode in ("vector", "hybrid"):
        ids = [hit.memory.id for hit in await find(backend, minilm, GUILD, "locker code 4417 quokka", mode=mode)]
        assert secret.id not in ids and kept.id in ids, mode
    assert await backend.forget(GUILD, None) == 1 + len(FACTS)
    assert await find(backend, minilm, GUILD, "locker quokka", mode="hybrid") == []


async def test_delete_removes_exactly_the_given_ids(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    memories = await put(backend, minilm, [fact(text) for text in FACTS])
    replacement = fact("The team meetup is on Saturday now.")
    await backend.add([replacement], await minilm.embed([replacement.text]), replaces=[memories[0].id, memories[2].id])
    remaining = {hit.memory.id for hit in await find(backend, minilm, GUILD, "anything", limit=10, mode="exact")}
    assert remaining == {memories[1].id, memories[3].id, replacement.id}
    assert await backend.delete(GUILD, [memories[1].id, "no-such-id"]) == 1
    assert await backend.delete(OTHER_GUILD, [memories[3].id]) == 0
    assert await backend.count() == 2


async def test_expired_memories_are_hidden_then_swept_also_after_restart(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    old = fact("The meetup code word was pineapple.", expires_at=NOW - 1)
    soon = fact("The meetup code word is mango.", expires_at=NOW + 60)
    forever = fact("The meetup is in the library.")
    await put(backend, minilm, [old, soon, forever])
    ids = [hit.memory.id for hit in await find(backend, minilm, GUILD, "meetup code word", mode="hybrid")]
    assert old.id not in ids and {soon.id, forever.id} <= set(ids)
    assert await backend.expire(NOW) == 1
    later = [hit.memory.id for hit in await find(backend, minilm, GUILD, "meetup code word", now=NOW + 61)]
    assert forever.id in later and soon.id not in later and old.id not in later
    backend = await harness.restart()
    assert await backend.expire(NOW + 61) == 1
    assert await backend.count() == 1


async def test_memories_survive_a_restart_with_and_without_a_clean_close(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    first = await put(backend, minilm, [fact(text) for text in FACTS[:2]])
    backend = await harness.restart()
    second = await put(backend, minilm, [fact(text) for text in FACTS[2:]])
    backend = await harness.restart(clean=False)
    hits = await find(backend, minilm, GUILD, "what plant is in the office?", limit=1)
    assert hits[0].memory.id == second[1].id
    ids = {hit.memory.id for hit in await find(backend, minilm, GUILD, "anything", limit=10, mode="exact")}
    assert ids == {memory.id for memory in first + second}
    vector = (await minilm.embed([FACTS[0]]))[0]
    exact = await backend.search(MemorySearch(GUILD, vector, limit=1, mode="exact", now=NOW))
    assert np.isclose(exact[0].similarity, 1.0, atol=0.01)
