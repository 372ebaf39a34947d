"""The local backend reads search rows through the synchronous SQLite reader, and through the engine without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from intelbot.data.database import Database
from intelbot.data.sqlite_reader import SQLiteReader
from intelbot.embedding import Embedder
from intelbot_memory.local.backend import LocalBackend
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
        assert counting.reads == 3  # vector: the rows; hybrid: the keyword matches, then the rows
        assert through_reader["vector"][0][:2] == (memories[0].id, TEXTS[0])
        counting.close()  # a reader that cannot answer: the engine answers instead
        through_engine = {mode: await _results(backend, vector, mode) for mode in ("vector", "hybrid")}
        assert counting.reads == 6  # asked again, each refused
        assert through_engine == through_reader
    finally:
        await backend.close()
        await database.dispose()
    assert backend.reader is None
