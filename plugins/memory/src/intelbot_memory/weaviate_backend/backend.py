"""The ``weaviate`` backend: weaviate-client v4 (async), self-provided vectors, one tenant per scope.

- One collection (``collection``, multi-tenancy on) with HNSW (cosine) and 8-bit RQ
  quantisation over the shared embedder's vectors (``Configure.Vectors.self_provided``).
- One tenant per scope: ``g<guild id>`` for a guild, ``u<user id>`` for one user's
  direct messages. A search names its tenant, so isolation is inside Weaviate.
  Tenants are created on first write, set INACTIVE after ``idle_seconds`` without use
  (at each sweep) and set ACTIVE again on the next use.
- Writes go in one gRPC batch (``insert_many``); the batch result is checked for
  errors and a failed write is retried ``write_attempts`` times with exponential
  backoff from ``retry_base_seconds``, then raised as :class:`BackendUnavailable`.
- A merge on write is made atomic by the new memory itself: it is written (one
  object, so all or nothing) with the ids it replaces in ``replaces`` and
  ``merge_pending = "1"``; then the replaced ids are deleted and the memory is
  written again with ``merge_pending = ""``. A crash in between loses nothing and
  shows no duplicate: a search drops any hit that another hit of the same search
  replaces, and :meth:`WeaviateBackend.complete_merges` (at open and at every
  sweep) finishes the deletes of every memory still marked pending. A collection
  created before these two properties existed gets them from Weaviate's
  auto-schema on the first write (its default); with auto-schema off, add them.
- Every call has the deadline ``timeout_seconds`` (the client's own gRPC retries of
  UNAVAILABLE would otherwise wait about a minute).
- Searches: ``query.near_vector`` or ``query.hybrid`` (relative score fusion, BM25
  over ``text``), filtered on owner, kind and expiry inside the query. Reads are
  not retried: a turn does not wait for an outage.
- Ids and user ids are Discord snowflakes (beyond 2**53), so they are stored as
  text properties, not numbers. A memory that never expires stores
  ``expires_at = NEVER``.
- Expired memories of INACTIVE tenants stay hidden by the query filter and are
  swept when their tenant is active again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuid_module
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from intelbot.embedding import Embedder, Vectors, l2_normalize
from intelbot_memory.backend import BackendUnavailable
from intelbot_memory.records import Memory, MemoryKind, MemorySearch, Scope, ScoredMemory
from intelbot_memory.settings import WeaviateSettings

log = logging.getLogger("intelbot_memory.weaviate")
NEVER = 1.0e15
T = TypeVar("T")


def object_uuid(memory_id: str) -> str:
    """The Weaviate uuid of a memory id (the id itself when it is a uuid, else a uuid5 of it)."""
    try:
        return str(uuid_module.UUID(memory_id))
    except ValueError:
        return str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"intelbot-memory:{memory_id}"))


def merge_properties() -> list[Any]:
    """``replaces`` (the ids a merged memory replaced) and ``merge_pending`` ("1" until they are deleted)."""
    from weaviate.classes.config import DataType, Property, Tokenization

    return [
        Property(name=name, data_type=data_type, tokenization=Tokenization.FIELD, index_searchable=False)
        for name, data_type in (("replaces", DataType.TEXT_ARRAY), ("merge_pending", DataType.TEXT))
    ]


def _text_id(value: int | None) -> str:
    return "" if value is None else str(value)


def _int_id(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


class WeaviateBackend:
    """Memories in a Weaviate collection reached with ``settings``; ``clock`` times tenant idleness."""

    name = "weaviate"

    def __init__(
        self, settings: WeaviateSettings, embedder: Embedder, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.clock = clock
        self.client: Any = None
        self.collection: Any = None
        self.tenants: dict[str, str] = {}
        self.last_used: dict[str, float] = {}
        self.retries = 0
        self.failed_writes = 0

    # -- connection --------------------------------------------------------------------------

    async def open(self) -> None:
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Auth, Timeout
        from weaviate.exceptions import WeaviateBaseError

        settings = self.settings
        key = settings.api_key.get_secret_value()
        timeout = settings.timeout_seconds
        client = weaviate.use_async_with_custom(
            http_host=settings.http_host,
            http_port=settings.http_port,
            http_secure=settings.http_secure,
            grpc_host=settings.grpc_host,
            grpc_port=settings.grpc_port,
            grpc_secure=settings.grpc_secure,
            auth_credentials=Auth.api_key(key) if key else None,
            additional_config=AdditionalConfig(timeout=Timeout(init=timeout, query=timeout, insert=timeout)),
            skip_init_checks=settings.skip_init_checks,
        )
        try:
            await client.connect()
            if not await client.collections.exists(settings.collection):
                await self._create_collection(client)
            self.collection = client.collections.use(settings.collection)
            listed = await self.collection.tenants.get()
        except (WeaviateBaseError, OSError) as error:
            await client.close()
            raise BackendUnavailable(
                f"Weaviate at {settings.http_host}:{settings.http_port}: {type(error).__name__}"
            ) from error
        self.client = client
        self.tenants = {name: str(tenant.activity_status.value) for name, tenant in listed.items()}
        try:
            await self.complete_merges()
        except BackendUnavailable as error:
            log.warning("memory: unfinished merges not completed at open (%s); the next sweep tries again", error)

    async def _create_collection(self, client: Any) -> None:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances

        def field(name: str) -> Any:
            return Property(name=name, data_type=DataType.TEXT, tokenization=Tokenization.FIELD, index_searchable=False)

        await client.collections.create(
            self.settings.collection,
            description="intelbot long-term memory: one tenant per guild and per user's direct messages",
            properties=[
                Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD),
                field("memory_id"),
                field("user_id"),
                field("channel_id"),
                field("kind"),
                Property(name="created_at", data_type=DataType.NUMBER),
                Property(name="expires_at", data_type=DataType.NUMBER),
                *merge_properties(),
            ],
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE, quantizer=Configure.VectorIndex.Quantizer.rq(bits=8)
                )
            ),
            multi_tenancy_config=Configure.multi_tenancy(
                enabled=True, auto_tenant_creation=False, auto_tenant_activation=False
            ),
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.client = None
        self.collection = None

    def _connected(self) -> Any:
        if self.collection is None:
            raise BackendUnavailable("not connected to Weaviate")
        return self.collection

    async def _guard(self, operation: str, work: Awaitable[T]) -> T:
        """Run ``work`` within ``timeout_seconds``; failures become BackendUnavailable naming ``operation``.

        The deadline is ours because weaviate-client retries a gRPC UNAVAILABLE by itself
        with fixed backoff for about a minute, longer than any turn may wait.
        """
        from weaviate.exceptions import WeaviateBaseError

        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                return await work
        except BackendUnavailable:
            raise
        except (WeaviateBaseError, OSError, TimeoutError) as error:
            raise BackendUnavailable(f"Weaviate {operation} failed: {type(error).__name__}") from error

    async def _retrying(self, operation: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` up to ``write_attempts`` times with exponential backoff, then BackendUnavailable."""
        settings = self.settings
        for number in range(1, settings.write_attempts + 1):
            try:
                return await self._guard(operation, attempt())
            except BackendUnavailable as error:
                if number == settings.write_attempts:
                    self.failed_writes += 1
                    log.error("memory: %s failed after %d attempts: %s", operation, number, error)
                    raise
                self.retries += 1
                delay = settings.retry_base_seconds * 2 ** (number - 1)
                log.warning("memory: %s failed (%s); attempt %d in %.2fs", operation, error, number + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- tenants -------------------------------------------------------------------------------

    async def _tenant(self, scope: Scope, *, create: bool) -> Any | None:
        """``scope``'s tenant of the collection, made ACTIVE; None when it is missing and ``create`` is off."""
        from weaviate.classes.tenants import Tenant, TenantActivityStatus

        collection = self._connected()
        name = scope.key
        status = self.tenants.get(name)
        if status is None:
            if not create:
                return None
            try:
                await self._guard("creating a tenant", collection.tenants.create([Tenant(name=name)]))
            except BackendUnavailable:
                listed = await self._guard("listing tenants", collection.tenants.get())  # another replica made it?
                if name not in listed:
                    raise
            self.tenants[name] = "ACTIVE"
        elif status not in ("ACTIVE", "HOT"):
            await self._guard(
                "activating a tenant",
                collection.tenants.update([Tenant(name=name, activity_status=TenantActivityStatus.ACTIVE)]),
            )
            self.tenants[name] = "ACTIVE"
        self.last_used[name] = self.clock()
        return collection.with_tenant(name)

    async def deactivate_idle(self) -> list[str]:
        """Set tenants unused for ``idle_seconds`` INACTIVE; return their names."""
        from weaviate.classes.tenants import Tenant, TenantActivityStatus

        if self.settings.idle_seconds <= 0 or self.collection is None:
            return []
        now = self.clock()
        idle = [
            name
            for name, status in self.tenants.items()
            if status in ("ACTIVE", "HOT") and now - self.last_used.get(name, now) >= self.settings.idle_seconds
        ]
        if idle:
            updates = [Tenant(name=name, activity_status=TenantActivityStatus.INACTIVE) for name in idle]
            await self._guard("deactivating tenants", self.collection.tenants.update(updates))
            for name in idle:
                self.tenants[name] = "INACTIVE"
        return idle

    # -- writes ---------------------------------------------------------------------------------

    async def add(self, memories: Sequence[Memory], vectors: Vectors, replaces: Sequence[str] = ()) -> None:
        """Write ``memories``; with ``replaces``, delete those ids of the same scopes (see the module: atomic)."""
        vectors = l2_normalize(vectors).reshape(len(memories), self.embedder.dimensions)
        by_scope: dict[Scope, list[tuple[Memory, Vectors]]] = {}
        for memory, vector in zip(memories, vectors, strict=True):
            by_scope.setdefault(memory.scope, []).append((memory, vector))
        replaced = [memory_id for memory_id in replaces if memory_id not in {memory.id for memory in memories}]
        for scope, items in by_scope.items():
            objects = [self._object(memory, vector, replaced, pending=bool(replaced)) for memory, vector in items]
            await self._write(scope, objects)
            if replaced:
                await self.delete(scope, replaced)
                done = [self._object(memory, vector, replaced, pending=False) for memory, vector in items]
                await self._write(scope, done)

    @staticmethod
    def _object(memory: Memory, vector: Vectors, replaces: Sequence[str], *, pending: bool) -> Any:
        from weaviate.classes.data import DataObject

        return DataObject(
            uuid=object_uuid(memory.id),
            vector=np.asarray(vector, dtype=np.float32).astype(float).tolist(),
            properties={
                "text": memory.text,
                "memory_id": memory.id,
                "user_id": _text_id(memory.user_id),
                "channel_id": _text_id(memory.channel_id),
                "kind": memory.kind.value,
                "created_at": memory.created_at,
                "expires_at": memory.expires_at if memory.expires_at is not None else NEVER,
                "replaces": list(replaces),
                "merge_pending": "1" if pending else "",
            },
        )

    async def _write(self, scope: Scope, objects: list[Any]) -> None:
        """One checked batch write of ``objects`` into ``scope``'s tenant (retried; same uuid overwrites)."""

        async def write() -> None:
            tenant = await self._tenant(scope, create=True)
            assert tenant is not None  # create=True
            result = await tenant.data.insert_many(objects)
            if result.errors:
                first = next(iter(result.errors.values()))
                raise BackendUnavailable(f"Weaviate refused {len(result.errors)} object(s): {first.message}")

        await self._retrying("batch write", write)

    async def complete_merges(self) -> int:
        """Finish every merge a crash interrupted (active tenants): delete what it replaces, clear the mark.

        Returns how many merged memories were completed.
        """
        from weaviate.classes.query import Filter

        completed = 0
        for name, status in list(self.tenants.items()):
            if status not in ("ACTIVE", "HOT"):
                continue
            scope = Scope.from_key(name)
            tenant = self._connected().with_tenant(name)
            pending = Filter.by_property("merge_pending").equal("1")
            work = tenant.query.fetch_objects(filters=pending, limit=1000, include_vector=True)
            response = await self._guard("finding unfinished merges", work)
            for obj in response.objects:
                memory = self._memory(scope, obj.properties)
                replaced = [str(memory_id) for memory_id in obj.properties.get("replaces") or []]
                vector = np.asarray(obj.vector.get("default", []), dtype=np.float32)
                await self.delete(scope, replaced)
                await self._write(scope, [self._object(memory, vector, replaced, pending=False)])
                completed += 1
        if completed:
            log.warning("memory: completed %d merge(s) interrupted before their deletes", completed)
        return completed

    async def _delete_where(self, scope: Scope, where: Any) -> int:
        async def attempt() -> int:
            tenant = await self._tenant(scope, create=False)
            if tenant is None:
                return 0
            result = await tenant.data.delete_many(where=where)
            return int(result.successful)

        return await self._retrying("delete", attempt)

    async def delete(self, scope: Scope, ids: Sequence[str]) -> int:
        from weaviate.classes.query import Filter

        if not ids:
            return 0
        return await self._delete_where(scope, Filter.by_property("memory_id").contains_any(list(ids)))

    async def forget(self, scope: Scope, user_id: int | None) -> int:
        from weaviate.classes.query import Filter

        where = (
            Filter.by_property("user_id").equal(str(user_id))
            if user_id is not None
            else Filter.by_property("expires_at").greater_than(-1.0)
        )
        return await self._delete_where(scope, where)

    async def expire(self, now: float) -> int:
        from weaviate.classes.query import Filter

        removed = 0
        for name, status in list(self.tenants.items()):
            if status in ("ACTIVE", "HOT"):
                removed += await self._delete_where(
                    Scope.from_key(name), Filter.by_property("expires_at").less_or_equal(now)
                )
        await self.complete_merges()
        await self.deactivate_idle()
        return removed

    # -- reads -----------------------------------------------------------------------------------

    async def search(self, search: MemorySearch) -> list[ScoredMemory]:
        from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

        tenant = await self._tenant(search.scope, create=False)
        if tenant is None:
            return []
        where = Filter.by_property("expires_at").greater_than(search.now)
        if search.user_id is not None:
            where = where & Filter.by_property("user_id").equal(str(search.user_id))
        if search.kinds is not None:
            where = where & Filter.by_property("kind").contains_any(sorted(kind.value for kind in search.kinds))
        vector = np.asarray(search.vector, dtype=np.float32).reshape(-1)
        if search.mode == "hybrid" and search.text.strip():
            work = tenant.query.hybrid(
                query=search.text,
                vector=vector.astype(float).tolist(),
                alpha=search.alpha,
                fusion_type=HybridFusion.RELATIVE_SCORE,
                query_properties=["text"],
                limit=search.limit,
                filters=where,
                return_metadata=MetadataQuery(score=True),
                include_vector=True,
            )
        else:
            work = tenant.query.near_vector(
                near_vector=vector.astype(float).tolist(),
                limit=search.limit,
                filters=where,
                return_metadata=MetadataQuery(distance=True),
                include_vector=True,
            )
        response = await self._guard("search", work)
        superseded = {str(memory_id) for obj in response.objects for memory_id in obj.properties.get("replaces") or []}
        hits = []
        for obj in response.objects:
            if str(obj.properties.get("memory_id", "")) in superseded:
                continue  # a merge that replaced it has not finished its delete yet
            stored = np.asarray(obj.vector.get("default", []), dtype=np.float32)
            similarity = float(l2_normalize(stored)[0] @ vector) if stored.size else 0.0
            if obj.metadata.score is not None:
                score = float(obj.metadata.score)
            else:
                score = 1.0 - float(obj.metadata.distance or 0.0)
            hits.append(ScoredMemory(self._memory(search.scope, obj.properties), min(1.0, max(0.0, score)), similarity))
        return hits

    @staticmethod
    def _memory(scope: Scope, properties: dict[str, Any]) -> Memory:
        expires_at = float(properties.get("expires_at") or NEVER)
        return Memory(
            text=str(properties.get("text", "")),
            scope=scope,
            user_id=_int_id(properties.get("user_id")),
            channel_id=_int_id(properties.get("channel_id")),
            kind=MemoryKind(str(properties.get("kind", MemoryKind.FACT.value))),
            created_at=float(properties.get("created_at") or 0.0),
            expires_at=None if expires_at >= NEVER else expires_at,
            id=str(properties.get("memory_id", "")),
        )

    async def count(self) -> int:
        total = 0
        collection = self._connected()
        for name, status in self.tenants.items():
            if status in ("ACTIVE", "HOT"):
                result = await self._guard("count", collection.with_tenant(name).aggregate.over_all(total_count=True))
                total += int(result.total_count or 0)
        return total

    async def reindex(self) -> int:
        """Weaviate maintains its own index; this only counts what it holds."""
        return await self.count()

    def stats(self) -> dict[str, Any]:
        active = sum(1 for status in self.tenants.values() if status in ("ACTIVE", "HOT"))
        return {
            "backend": self.name,
            "tenants": len(self.tenants),
            "tenants_active": active,
            "write_retries": self.retries,
            "failed_writes": self.failed_writes,
            "connected": self.collection is not None,
        }
