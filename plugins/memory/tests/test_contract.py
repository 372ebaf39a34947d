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


def swapped_by_int8(dimensions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A query and two neighbours whose order int8 quantisation (largest component -> 127) reverses.

    ``nearer`` is closer in float32; its small components round up to 1/127 (its int8 norm
    grows), the runner-up's round down to 0 (its int8 norm shrinks), so in int8 the
    runner-up comes first.
    """
    query = np.zeros(dimensions, dtype=np.float32)
    query[0] = 1.0
    nearer, runner_up = np.zeros((2, dimensions), dtype=np.float32)
    nearer[1] = runner_up[1] = 1.0
    nearer[0], runner_up[0] = 64 / 127, 63.9 / 127
    nearer[2:102], runner_up[2:102] = 0.6 / 127, 0.4 / 127
    return query, nearer, runner_up


def unit(vector: np.ndarray) -> np.ndarray:
    rows = np.asarray(vector, dtype=np.float64)
    return rows / np.linalg.norm(rows)


def test_the_hand_made_pair_is_swapped_by_int8() -> None:
    """The premise of the rescoring tests: float32 and int8 cosines order the pair differently."""
    from intelbot.embedding.base import quantize_int8

    query, nearer, runner_up = swapped_by_int8(384)
    floats = [float(unit(vector) @ query) for vector in (nearer, runner_up)]
    int8s = [float(unit(quantize_int8(vector)[0]) @ unit(quantize_int8(query)[0])) for vector in (nearer, runner_up)]
    assert floats[0] > floats[1] + 1e-4 and int8s[1] > int8s[0] + 1e-4


async def test_vector_search_ranks_by_the_exact_float_cosine(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    query, nearer, runner_up = swapped_by_int8(minilm.dimensions)
    far = np.random.default_rng(5).normal(0, 1, (40, minilm.dimensions)).astype(np.float32)
    far[:, :102] = 0.0  # orthogonal to the query: past hnsw_min_entries, so the graph is searched
    memories = [fact("nearer"), fact("runner-up"), *(fact(f"far {number}") for number in range(len(far)))]
    await backend.add(memories, np.vstack([nearer, runner_up, far]))
    for mode in ("vector", "hybrid", "exact"):
        hits = await backend.search(MemorySearch(GUILD, query, limit=2, mode=mode, now=NOW))
        assert [hit.memory.id for hit in hits] == [memories[0].id, memories[1].id], mode
        for hit, vector in zip(hits, (nearer, runner_up), strict=True):
            assert abs(hit.similarity - float(unit(vector) @ query)) < 1e-6, mode
    first = await backend.search(MemorySearch(GUILD, query, limit=1, now=NOW))
    assert [hit.memory.id for hit in first] == [memories[0].id]


async def test_filtered_search_gives_the_full_k_in_exact_order(harness: Any, minilm: Embedder) -> None:
    backend = await harness.start()
    query, nearer, runner_up = swapped_by_int8(minilm.dimensions)
    closer = np.random.default_rng(6).normal(0, 0.05, (60, minilm.dimensions)).astype(np.float32)
    closer[:, :102] = 0.0
    closer[:, 0] = 2.0  # cosine about 0.9 to the query: far ahead of the pair, but another user's or a turn
    others = [fact(f"closer {number}", user_id=11) for number in range(50)]
    turns = [fact(f"turn {number}", kind=MemoryKind.TURN) for number in range(10)]
    mine = [fact("nearer"), fact("runner-up")]
    await backend.add([*others, *turns, *mine], np.vstack([closer, nearer, runner_up]))
    hits = await backend.search(
        MemorySearch(GUILD, query, limit=2, user_id=10, kinds=frozenset({MemoryKind.FACT}), now=NOW)
    )
    assert [hit.memory.id for hit in hits] == [mine[0].id, mine[1].id]
    assert abs(hits[0].similarity - float(unit(nearer) @ query)) < 1e-6
