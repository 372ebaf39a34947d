"""The ``local`` backend: rows in the kernel's database, an HNSW graph per scope beside it, FTS keyword search.

- Rows (:mod:`tables`) are the truth. ``add`` returns after the transaction commits,
  so an acknowledged memory survives a crash of the process.
- Vectors: one :class:`ScopeIndex` per scope, saved under ``index_dir`` at close and
  after sweeps. At open a scope's file is used only when it holds exactly the row
  ids the database has for that scope (and the manifest names the same embedder);
  otherwise that scope is rebuilt from the vectors in the rows. Rows embedded by
  another embedder are embedded again at open.
- Searches (:mod:`rescoring`): the int8 graph's candidates are ranked again by the
  exact cosine of the float32 vectors in their rows, read in the one SELECT that
  fetches the results. On SQLite that SELECT goes through a synchronous reader on the
  same file (:class:`~intelbot.data.sqlite_reader.SQLiteReader`), which answers in a
  fraction of the async engine's time; the async engine is the fallback.
- Keyword search (:mod:`keyword`) is kept in step with the rows by the database
  itself (FTS5 triggers, a generated column), so a delete reaches it in the same
  transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from intelbot.data.database import Database
from intelbot.data.sqlite_reader import ReaderUnavailable, SQLiteReader
from intelbot.embedding import Embedder, Vectors, l2_normalize
from intelbot.errors import DatabaseError
from intelbot_memory.local.keyword import (
    MATCH_BUDGET,
    CommonTerms,
    frequency_statement,
    keyword_statement,
    query_terms,
    rare_terms,
)
from intelbot_memory.local.rescoring import candidate_count, exact_cosines
from intelbot_memory.local.tables import COMPONENT, MEMORIES, MIGRATIONS
from intelbot_memory.local.vector_index import (
    CONNECTIVITY,
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    Accept,
    Owner,
    ScopeIndex,
)
from intelbot_memory.records import Memory, MemoryKind, MemorySearch, Scope, ScoredMemory
from intelbot_memory.scoring import fuse

log = logging.getLogger("intelbot_memory.local")
MANIFEST_VERSION = 1
CHUNK = 500


def _accept(search: MemorySearch) -> Accept | None:
    """The owner filter of ``search`` (None when nothing is filtered out)."""
    kinds = {kind.value for kind in search.kinds} if search.kinds is not None else None
    user_id, now = search.user_id, search.now

    def accept(owner: Owner) -> bool:
        if owner.expires_at is not None and owner.expires_at <= now:
            return False
        if user_id is not None and owner.user_id != user_id:
            return False
        return kinds is None or owner.kind in kinds

    return accept


def _memory(row: Row[Any]) -> Memory:
    values = row._mapping
    return Memory(
        text=values["text"],
        scope=Scope.from_key(values["scope"]),
        user_id=values["user_id"],
        channel_id=values["channel_id"],
        kind=MemoryKind(values["kind"]),
        created_at=values["created_at"],
        expires_at=values["expires_at"],
        id=values["uid"],
    )


class LocalBackend:
    """Memories in ``database``; vectors of ``embedder`` in per-scope HNSW graphs saved in ``index_dir``."""

    name = "local"

    def __init__(
        self,
        database: Database,
        embedder: Embedder,
        index_dir: Path,
        *,
        exact_below: int = 256,
        expansion_search: int = EXPANSION_SEARCH,
        rescore_candidates: int = 40,
        connectivity: int = CONNECTIVITY,
        expansion_add: int = EXPANSION_ADD,
        keyword_match_budget: int = MATCH_BUDGET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.embedder = embedder
        self.index_dir = index_dir
        self.exact_below = exact_below
        self.expansion_search = expansion_search
        self.rescore_candidates = rescore_candidates
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.keyword_match_budget = keyword_match_budget
        self.common_terms = CommonTerms(keyword_match_budget)
        self.clock = clock
        self.indexes: dict[str, ScopeIndex] = {}
        self.dirty: set[str] = set()
        self.index_status = "not opened"
        self.reader: SQLiteReader | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        await self.database.migrate(COMPONENT, MIGRATIONS)
        await self._embed_foreign_rows()
        owners = await self._owners_by_scope()
        manifest = self._read_manifest()
        restored = rebuilt = 0
        self.indexes = {}
        for scope, scope_owners in owners.items():
            index = self._new_index()
            path = self._scope_path(scope)
            if manifest and path.exists() and index.restore(path, scope_owners):
                restored += 1
            else:
                await self._fill(index, scope)
                rebuilt += 1
                self.dirty.add(scope)
            self.indexes[scope] = index
        self.index_status = f"{restored} scope(s) restored, {rebuilt} rebuilt from the database"
        log.info("memory index: %s", self.index_status)
        if rebuilt:
            self.save()
        if self.reader is None:
            self.reader = SQLiteReader.open(self.database.url)

    async def close(self) -> None:
        self.save()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def save(self) -> None:
        """Write the graphs of changed scopes and the manifest; drop files of scopes that are gone."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        for scope in sorted(self.dirty):
            index = self.indexes.get(scope)
            path = self._scope_path(scope)
            if index is None or len(index) == 0:
                path.unlink(missing_ok=True)
            else:
                index.save(path)
        self.dirty.clear()
        manifest = {"version": MANIFEST_VERSION, "embedder": self.embedder.name, "dimensions": self.embedder.dimensions}
        temporary = self.index_dir / "manifest.json.tmp"
        temporary.write_text(json.dumps(manifest), encoding="utf-8")
        temporary.replace(self.index_dir / "manifest.json")

    def _read_manifest(self) -> bool:
        """True when the saved graphs were made by this embedder, in this format."""
        try:
            manifest = json.loads((self.index_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        expected = {"version": MANIFEST_VERSION, "embedder": self.embedder.name, "dimensions": self.embedder.dimensions}
        return isinstance(manifest, dict) and all(manifest.get(key) == value for key, value in expected.items())

    def _scope_path(self, scope: str) -> Path:
        return self.index_dir / f"{scope}.usearch"

    def _new_index(self) -> ScopeIndex:
        return ScopeIndex(
            self.embedder.dimensions,
            expansion_search=self.expansion_search,
            exact_below=self.exact_below,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
        )

    async def _owners_by_scope(self) -> dict[str, dict[int, Owner]]:
        table = MEMORIES
        owners: dict[str, dict[int, Owner]] = {}
        columns = (table.c.id, table.c.scope, table.c.user_id, table.c.kind, table.c.expires_at)
        async with self.database.engine.connect() as connection:
            result = await connection.stream(select(*columns))
            async for row in result:
                owners.setdefault(row.scope, {})[int(row.id)] = Owner(row.user_id, row.kind, row.expires_at)
        return owners

    async def _fill(self, index: ScopeIndex, scope: str) -> None:
        """Add every row of ``scope`` to ``index`` from the vectors in the database."""
        table = MEMORIES
        columns = (table.c.id, table.c.user_id, table.c.kind, table.c.expires_at, table.c.vector)
        async with self.database.engine.connect() as connection:
            result = await connection.stream(select(*columns).where(table.c.scope == scope).order_by(table.c.id))
            async for rows in result.partitions(4096):
                keys = [int(row.id) for row in rows]
                vectors = np.vstack([np.frombuffer(row.vector, dtype=np.float32) for row in rows])
                index.add(keys, vectors, [Owner(row.user_id, row.kind, row.expires_at) for row in rows])

    async def _embed_foreign_rows(self) -> None:
        """Embed again the rows whose vectors another embedder made (the embedder was changed)."""
        table = MEMORIES
        while True:
            async with self.database.engine.connect() as connection:
                rows = (
                    await connection.execute(
                        select(table.c.id, table.c.text).where(table.c.embedder != self.embedder.name).limit(CHUNK)
                    )
                ).all()
            if not rows:
                return
            vectors = await self.embedder.embed([row.text for row in rows])
            async with self.database.write_lock, self.database.engine.begin() as connection:
                for row, vector in zip(rows, vectors, strict=True):
                    await connection.execute(
                        update(table)
                        .where(table.c.id == row.id)
                        .values(vector=vector.astype(np.float32).tobytes(), embedder=self.embedder.name)
                    )
            log.info("memory: embedded %d memories again with %s", len(rows), self.embedder.name)

    # -- writes ---------------------------------------------------------------------------------

    async def add(self, memories: Sequence[Memory], vectors: Vectors, replaces: Sequence[str] = ()) -> None:
        table = MEMORIES
        vectors = l2_normalize(vectors).reshape(len(memories), self.embedder.dimensions)
        gone = list(dict.fromkeys([*replaces, *(memory.id for memory in memories)]))
        try:
            async with self.database.write_lock, self.database.engine.begin() as connection:
                removed = list(await self._delete_where(connection, table.c.uid.in_(gone)))
                keys: list[int] = []
                for memory, vector in zip(memories, vectors, strict=True):
                    result = await connection.execute(
                        insert(table).values(
                            uid=memory.id,
                            scope=memory.scope.key,
                            guild_id=memory.scope.guild_id,
                            user_id=memory.user_id,
                            channel_id=memory.channel_id,
                            kind=memory.kind.value,
                            text=memory.text,
                            created_at=memory.created_at,
                            expires_at=memory.expires_at,
                            vector=vector.tobytes(),
                            embedder=self.embedder.name,
                        )
                    )
                    primary_key = result.inserted_primary_key
                    assert primary_key is not None
                    keys.append(int(primary_key[0]))
        except SQLAlchemyError as error:
            raise DatabaseError(f"storing a memory failed: {type(error).__name__}") from error
        self._unindex(removed)
        for memory, key, vector in zip(memories, keys, vectors, strict=True):
            index = self.indexes.get(memory.scope.key)
            if index is None:
                index = self.indexes[memory.scope.key] = self._new_index()
            index.add([key], vector.reshape(1, -1), [Owner(memory.user_id, memory.kind.value, memory.expires_at)])
            self.dirty.add(memory.scope.key)

    async def _delete_where(self, connection: Any, condition: Any) -> Iterable[tuple[int, str]]:
        table = MEMORIES
        result = await connection.execute(delete(table).where(condition).returning(table.c.id, table.c.scope))
        return [(int(row.id), str(row.scope)) for row in result]

    def _unindex(self, removed: Iterable[tuple[int, str]]) -> int:
        """Take deleted rows (id, scope) out of their graphs; forgets the remembered common words."""
        count = 0
        for key, scope in removed:
            index = self.indexes.get(scope)
            if index is not None:
                index.remove([key])
            self.dirty.add(scope)
            count += 1
        if count:
            self.common_terms.clear()  # a common word may have become rare
        return count

    async def _delete(self, condition: Any) -> int:
        try:
            async with self.database.write_lock, self.database.engine.begin() as connection:
                removed = list(await self._delete_where(connection, condition))
        except SQLAlchemyError as error:
            raise DatabaseError(f"deleting memories failed: {type(error).__name__}") from error
        return self._unindex(removed)

    async def delete(self, scope: Scope, ids: Sequence[str]) -> int:
        table = MEMORIES
        total = 0
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            total += await self._delete(and_(table.c.scope == scope.key, table.c.uid.in_(chunk)))
        return total

    async def forget(self, scope: Scope, user_id: int | None) -> int:
        table = MEMORIES
        condition = table.c.scope == scope.key
        if user_id is not None:
            condition = and_(condition, table.c.user_id == user_id)
        return await self._delete(condition)

    async def expire(self, now: float) -> int:
        table = MEMORIES
        removed = await self._delete(and_(table.c.expires_at.is_not(None), table.c.expires_at <= now))
        if removed:
            self.save()
        return removed

    # -- reads -----------------------------------------------------------------------------------

    async def search(self, search: MemorySearch) -> list[ScoredMemory]:
        """The best ``search.limit`` memories; ``similarity`` is the exact float32 cosine unless rescoring is off.

        ``vector`` and ``hybrid``: the int8 graph's candidates (at least
        :func:`candidate_count`) are rescored with the float32 vectors of their rows, read
        in the one SELECT that also fetches the results. ``exact``: the brute-force scan
        of the int8 vectors finds the top ``limit``, which are ranked by their float32
        cosines the same way (duplicate merging compares these with its threshold).
        """
        index = self.indexes.get(search.scope.key)
        want = search.limit if search.mode != "hybrid" else max(search.limit * 3, search.limit + 10)
        rescore = candidate_count(search.limit, self.rescore_candidates)
        if search.mode == "exact" and rescore:
            rescore = search.limit  # the int8 scan already found the top: only their similarities are made exact
        similarity: dict[int, float] = {}
        if index is not None:
            similarity = dict(
                index.search(search.vector, max(want, rescore), _accept(search), exact=search.mode == "exact")
            )
        keyword: dict[int, float] = {}
        if search.mode == "hybrid" and search.text.strip():
            keyword = await self._keyword_matches(search, want)
            if index is not None and not rescore:
                extra = [key for key in keyword if key not in similarity]
                similarity.update(zip(extra, index.similarities(extra, search.vector), strict=True))
        rows: dict[int, Row[Any]] = {}
        if rescore:
            rows = await self._rows(list(similarity | keyword), vectors=True)
            similarity = exact_cosines({key: row.vector for key, row in rows.items()}, search.vector)
            keyword = {key: value for key, value in keyword.items() if key in rows}
        scores = fuse(similarity, keyword, search.alpha) if search.mode == "hybrid" else dict(similarity)
        ranked = sorted(scores, key=lambda key: (-scores[key], key))[: search.limit]
        if not rescore:
            rows = await self._rows(ranked)
        return [
            ScoredMemory(_memory(rows[key]), scores[key], similarity.get(key, 0.0)) for key in ranked if key in rows
        ]

    async def _keyword_matches(self, search: MemorySearch, limit: int) -> dict[int, float]:
        """Keyword score by row id of the best ``limit`` keyword matches of the query's rare terms (:mod:`keyword`)."""
        dialect = self.database.engine.dialect.name
        terms = query_terms(search.text)
        if not terms:
            return {}
        budget = self.keyword_match_budget
        if self.common_terms.budget != budget:
            self.common_terms = CommonTerms(budget)
        unknown = [term for term in terms if not self.common_terms.known(term)]
        counts: list[tuple[str, int]] = []
        if unknown:
            rows = await self._read(*frequency_statement(dialect, unknown, budget + 1))
            counts = [(str(row.term), int(row.matches)) for row in rows]
            self.common_terms.note(counts)
        kept = rare_terms(counts, budget)  # a remembered common word would pass the budget: never kept
        found = keyword_statement(
            dialect,
            scope=search.scope.key,
            query=" ".join(kept),
            limit=limit,
            now=search.now,
            user_id=search.user_id,
            kinds={kind.value for kind in search.kinds} if search.kinds is not None else None,
        )
        if found is None:
            return {}
        return {int(row.id): float(row.score) for row in await self._read(*found)}

    async def _read(self, statement: Any, parameters: Any, *, engine_statement: Any = None) -> list[Row[Any]]:
        """The rows of a read ``statement`` through the SQLite reader if there is one; else, or if it cannot
        answer, through the async engine (``engine_statement`` when given: the reader's may be plain SQL)."""
        if self.reader is not None:
            try:
                return self.reader.rows(statement, parameters)
            except ReaderUnavailable as error:
                log.debug("memory: the SQLite reader could not answer (%s); reading through the engine", error)
        async with self.database.engine.connect() as connection:
            if engine_statement is not None:
                return list(await connection.execute(engine_statement))
            return list(await connection.execute(statement, parameters))

    async def _rows(self, keys: Sequence[int], *, vectors: bool = False) -> dict[int, Row[Any]]:
        """The rows of ``keys`` by key, in one SELECT; the float32 ``vector`` column only with ``vectors``.

        Through the SQLite reader when there is one (it cannot answer: the async engine).
        """
        if not keys:
            return {}
        table = MEMORIES
        columns = [column for column in table.c if vectors or column.name != "vector"]
        names = ", ".join(column.name for column in columns)
        rows = await self._read(
            f"SELECT {names} FROM memory_entries WHERE id IN ({', '.join('?' * len(keys))})",
            list(keys),
            engine_statement=select(*columns).where(table.c.id.in_(list(keys))),
        )
        return {int(row.id): row for row in rows}

    async def count(self) -> int:
        async with self.database.engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(MEMORIES))).scalar_one())

    async def reindex(self) -> int:
        await self._embed_foreign_rows()
        owners = await self._owners_by_scope()
        self.dirty.update(self.indexes)
        self.indexes = {}
        for scope in owners:
            index = self._new_index()
            await self._fill(index, scope)
            self.indexes[scope] = index
            self.dirty.add(scope)
        self.index_status = f"{len(owners)} scope(s) rebuilt from the database"
        self.save()
        return sum(len(index) for index in self.indexes.values())

    def stats(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "indexed": sum(len(index) for index in self.indexes.values()),
            "scopes": len(self.indexes),
            "index_bytes": sum(index.memory_bytes() for index in self.indexes.values()),
            "index_status": self.index_status,
        }
