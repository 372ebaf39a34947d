"""The local backend's search path: rows through the synchronous SQLite reader (the engine without it), and
keyword work bounded to the query's rare words, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from intelbot.data.database import Database
from intelbot.data.sqlite_reader import SQLiteReader
from intelbot.embedding import Embedder
from intelbot.testing.postgres import fresh_database
from intelbot_memory.local.backend import LocalBackend
from intelbot_memory.local.keyword import CommonTerms, rare_terms
from intelbot_memory.records import Memory, MemorySearch, Scope

GUILD = Scope(1)
TEXTS = [
    "The team meetup is on Friday at 7pm in the library.",
    "Alice's favourite colour is green.",
    "We deploy to production every Tuesday morning.",
    "The office plant is a fern called Gerald.",
]


class CountingReader:
    """The real reader, counting the reads it answers."""

    def __init__(self, reader: SQLiteReader) -> None:
        self.reader = reader
        self.reads = 0

    def rows(self, sql: str, parameters: Any) -> Any:
        self.reads += 1
        return self.reader.rows(sql, parameters)

    def close(self) -> None:
        self.reader.close()


async def _results(backend: LocalBackend, vector: Any, mode: str) -> list[tuple[str, str, float]]:
    hits = await backend.search(MemorySearch(GUILD, vector, text="when is the meetup?", limit=3, mode=mode, now=2e9))  # type: ignore[arg-type]
    return [(hit.memory.id, hit.memory.text, round(hit.similarity, 6)) for hit in hits]


async def test_search_rows_come_from_the_reader_and_match_the_engine_path(tmp_path: Path, minilm: Embedder) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'intelbot.db'}")
    backend = LocalBackend(database, minilm, tmp_path / "index", exact_below=0)
    await backend.open()
    try:
        assert isinstance(backend.reader, SQLiteReader)
        counting = CountingReader(backend.reader)
        backend.reader = counting  # type: ignore[assignment]
        memories = [Memory(text, GUILD, user_id=10, created_at=1e9) for text in TEXTS]
        await backend.add(memories, await minilm.embed(TEXTS))
        vector = (await minilm.embed(["when is the meetup?"]))[0]
        through_reader = {mode: await _results(backend, vector, mode) for mode in ("vector", "hybrid")}
        assert counting.reads == 4  # vector: the rows; hybrid: the word counts, the keyword matches, the rows
        assert through_reader["vector"][0][:2] == (memories[0].id, TEXTS[0])
        counting.close()  # a reader that cannot answer: the engine answers instead
        through_engine = {mode: await _results(backend, vector, mode) for mode in ("vector", "hybrid")}
        assert counting.reads == 8  # asked again, each refused
        assert through_engine == through_reader
    finally:
        await backend.close()
        await database.dispose()
    assert backend.reader is None


def test_rare_terms_keeps_the_rarest_within_the_budget() -> None:
    counts = [("what", 900), ("zebra47quartz", 1), ("meetup", 60), ("library", 30), ("nothing", 0)]
    assert rare_terms(counts, 100) == ["zebra47quartz", "library", "meetup"]
    assert rare_terms(counts, 60) == [
        "zebra47quartz",
        "library",
    ]  # meetup would pass the budget: it and all commoner stop
    assert rare_terms(counts, 0) == []
    assert rare_terms([("a", 5), ("b", 5)], 5) == ["a"]  # ties in query order


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            yield f"sqlite+aiosqlite:///{tmp_path / 'intelbot.db'}"
        else:
            yield await stack.enter_async_context(fresh_database())


async def test_common_words_do_not_reach_the_keyword_ranking(
    database_url: str, tmp_path: Path, minilm: Embedder
) -> None:
    database = Database(database_url)
    backend = LocalBackend(database, minilm, tmp_path / "index", exact_below=0, keyword_match_budget=20)
    await backend.open()
    try:
        crowd = [f"Reminder {number}: the meetup is in the library." for number in range(40)]
        wifi = "The guest wifi password is zebra47quartz."
        texts = [*crowd, wifi]
        memories = [Memory(text, GUILD, user_id=10, created_at=1e9) for text in texts]
        await backend.add(memories, await minilm.embed(texts))
        await backend.add(
            [Memory("zebra47quartz and the meetup, in another guild.", Scope(2), user_id=11, created_at=1e9)],
            await minilm.embed(["zebra47quartz and the meetup, in another guild."]),
        )

        def search(text: str) -> MemorySearch:
            return MemorySearch(GUILD, vector, text=text, limit=5, mode="hybrid", now=2e9)

        vector = (await minilm.embed(["meetup zebra47quartz"]))[0]
        # 40 rows match "meetup" (over the budget of 20): only the rare word is ranked
        matched = await backend._rows(list(await backend._keyword_matches(search("meetup zebra47quartz"), 10)))
        assert [row.uid for row in matched.values()] == [memories[-1].id]
        assert await backend._keyword_matches(search("the meetup library"), 10) == {}
        hits = await backend.search(search("meetup zebra47quartz"))
        assert hits[0].memory.id == memories[-1].id and all(hit.memory.scope == GUILD for hit in hits)
        assert len(hits) == 5  # the vector side still fills the results
        backend.keyword_match_budget = 100
        assert len(await backend._keyword_matches(search("the meetup library"), 10)) == 10
    finally:
        await backend.close()
        await database.dispose()


def test_common_terms_are_remembered_for_their_ttl_and_forgotten_on_clear() -> None:
    now = [0.0]
    common = CommonTerms(100, ttl=60.0, capacity=3, clock=lambda: now[0])
    common.note([("what", 101), ("meetup", 100), ("the", 250)])
    assert (common.known("what"), common.known("meetup"), common.known("the")) == (True, False, True)
    now[0] = 59.0
    assert common.known("what")
    now[0] = 60.0
    assert not common.known("what") and not common.known("the")  # counted again after the ttl
    common.note([("a", 500), ("b", 500), ("c", 500)])
    common.note([("d", 500)])  # full: everything remembered so far is forgotten
    assert [term for term in "abcd" if common.known(term)] == ["d"]
    common.clear()
    assert not common.known("d")


async def test_a_remembered_common_word_is_not_counted_again_until_a_delete(tmp_path: Path, minilm: Embedder) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'intelbot.db'}")
    backend = LocalBackend(database, minilm, tmp_path / "index", exact_below=0, keyword_match_budget=20)
    await backend.open()
    try:
        crowd = [f"Reminder {number}: the meetup is in the library." for number in range(40)]
        memories = [Memory(text, GUILD, user_id=10, created_at=1e9) for text in crowd]
        await backend.add(memories, await minilm.embed(crowd))
        assert isinstance(backend.reader, SQLiteReader)
        counting = CountingReader(backend.reader)
        backend.reader = counting  # type: ignore[assignment]
        search = MemorySearch(GUILD, (await minilm.embed(["meetup"]))[0], text="meetup", limit=5, now=2e9)
        assert await backend._keyword_matches(search, 10) == {}  # 40 rows match: over the budget
        assert counting.reads == 1  # the word count; nothing left to rank
        assert await backend._keyword_matches(search, 10) == {}
        assert counting.reads == 1  # remembered: not counted again
        await backend.delete(GUILD, [memory.id for memory in memories[:25]])  # 15 rows left: under the budget
        assert len(await backend._keyword_matches(search, 10)) == 10
        assert counting.reads == 3  # counted again, then ranked
    finally:
        await backend.close()
        await database.dispose()
