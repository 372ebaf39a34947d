"""The intelbot hooks of long-term memory (entry point ``memory``, settings ``[default.plugins.memory]``).

- ``startup``: picks the embedder (``[default.embedding]`` with this plugin's
  ``embedding`` overrides; memory cannot work without one, so start-up fails and the
  plugin is reported as not loaded), opens the backend (``local``: the kernel's
  database and index files in ``<data_dir>/memory``; ``weaviate``: the configured
  server — when it cannot be reached the plugin still loads, reports it in
  /health and tries again every few seconds), starts the expiry sweep.
- ``store`` / ``query`` / ``forget``: the kernel's memory hooks (/remember, /recall,
  /forget, ``intelbot memory forget``). ``store`` returns only once the memory is
  durable; a failure raises, so /remember says nothing was stored.
- ``before_llm_call`` (``augment``): adds the scope's best memories (top ``k`` above
  ``score_floor`` within ``token_budget``) to the system prompt and marks the request
  not cacheable (the answer depends on memories that may be forgotten).
  A failing backend skips this; the turn goes on.
- ``after_llm_call``: the footer note, and (``remember_turns``) answered turns as
  ``turn`` memories, written in batches.
- ``collect_stats``, ``health_lines``, ``register_commands`` (``intelbot memory ...``).

Scopes: in a guild every member's memories are shared by that guild; in direct
messages each user has their own. A query never sees another scope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from intelbot.contract import LLMRequest, LLMResponse, MemoryHit, MemoryQuery, MemoryRecord, Source, TurnContext
from intelbot.embedding import Embedder, Vectors, embedder_from_settings, prompt_vector
from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot.settings import data_directory
from intelbot_memory.backend import BackendUnavailable, MemoryBackend
from intelbot_memory.context_block import render, select_for_context
from intelbot_memory.long_term import LongTermMemory
from intelbot_memory.metrics import MemoryMetrics
from intelbot_memory.records import Memory, MemoryKind, Scope
from intelbot_memory.settings import MemorySettings
from intelbot_memory.turn_buffer import TurnBuffer
from intelbot_memory.turn_state import MemoryTurn

if TYPE_CHECKING:
    import click

    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot_memory")
DAY = 86_400.0
_UNSET: Any = object()


class MemoryPlugin(Plugin[MemorySettings]):
    """Long-term memory bound to one kernel between ``startup`` and ``shutdown``.

    ``embedder`` replaces the one from settings; ``clock`` is the wall clock for
    creation and expiry times; ``backend`` replaces the one ``backend =`` names
    (benchmarks and tests).
    """

    name: ClassVar[str] = "memory"
    settings_model: ClassVar[type[PluginSettings]] = MemorySettings

    def __init__(
        self,
        settings: MemorySettings,
        *,
        embedder: Embedder | None = _UNSET,
        clock: Callable[[], float] = time.time,
        backend: MemoryBackend | None = None,
    ) -> None:
        super().__init__(settings)
        self.embedder_override = embedder
        self.clock = clock
        self.backend_override = backend
        self.kernel: Kernel | None = None
        self.memory: LongTermMemory | None = None
        self.turns: TurnBuffer | None = None
        self.notices: list[str] = []
        self.augment_skipped = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        settings = self.settings
        if self.embedder_override is _UNSET:
            embedder = await asyncio.to_thread(embedder_from_settings, kernel.settings, settings.embedding)
        else:
            embedder = self.embedder_override
        if embedder is None:
            raise RuntimeError("long-term memory needs an embedder; none is available (see [default.embedding])")
        backend = self.backend_override or self._backend(kernel, embedder)
        memory = LongTermMemory(
            backend,
            embedder,
            duplicate_threshold=settings.duplicate_threshold,
            alpha=settings.hybrid_alpha,
            metrics=MemoryMetrics(kernel.metrics),
            clock=self.clock,
        )
        self.notices = []
        try:
            await memory.open()
        except (BackendUnavailable, OSError) as error:
            if backend.name == "local":
                raise
            self.notices.append(f"memory: {backend.name} unavailable at start-up ({error}); retrying on use")
            log.warning(self.notices[-1])
        self.memory = memory
        self.kernel = kernel
        if settings.remember_turns:
            self.turns = TurnBuffer(
                memory_writer(memory), batch_size=settings.turn_batch_size, batch_seconds=settings.turn_batch_seconds
            )
            if settings.turn_batch_seconds > 0:
                self._tasks.append(asyncio.create_task(self._flush_turns(), name="intelbot-memory-turns"))
        if settings.sweep_seconds > 0:
            self._tasks.append(asyncio.create_task(self._sweep_forever(), name="intelbot-memory-sweep"))
        log.info("memory: backend %s, %d entries, embedder %s", backend.name, memory.entries, embedder.name)

    def _backend(self, kernel: Kernel, embedder: Embedder) -> MemoryBackend:
        settings = self.settings
        if settings.backend == "weaviate":
            from intelbot_memory.weaviate_backend.backend import WeaviateBackend

            return WeaviateBackend(settings.weaviate, embedder)
        from intelbot_memory.local.backend import LocalBackend

        index_dir = Path(settings.index_dir) if settings.index_dir else data_directory(kernel.settings) / "memory"
        return LocalBackend(
            kernel.database,
            embedder,
            index_dir,
            exact_below=settings.hnsw_min_entries,
            expansion_search=settings.expansion_search,
            rescore_candidates=settings.rescore_candidates,
            keyword_match_budget=settings.keyword_match_budget,
            clock=self.clock,
        )

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.turns is not None:
            await self.turns.flush()
        if self.memory is not None:
            await self.memory.close()
        self.memory = None
        self.kernel = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_seconds)
            if self.memory is None or not await self.memory.ready():
                continue
            try:
                removed = await self.memory.sweep()
            except Exception as error:  # noqa: BLE001 - try again at the next sweep
                log.warning("memory: sweeping expired memories failed: %s", type(error).__name__)
                continue
            if removed:
                log.info("memory: swept %d expired memories", removed)

    async def _flush_turns(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.settings.turn_batch_seconds / 2))
            if self.turns is not None and self.turns.due():
                await self.turns.flush()

    # -- helpers -----------------------------------------------------------------------------

    def expiry(self, kind: MemoryKind, created_at: float) -> float | None:
        """When a memory of ``kind`` made at ``created_at`` expires (None: never)."""
        days = self.settings.fact_ttl_days if kind is MemoryKind.FACT else self.settings.turn_ttl_days
        return created_at + days * DAY if days > 0 else None

    async def embed(self, text: str, ctx: TurnContext) -> Vectors:
        """The vector of ``text``, shared with the cache and router through the turn's ``PromptEmbedding``."""
        assert self.memory is not None
        return await prompt_vector(ctx, self.memory.embedder, text)

    async def _usable(self) -> LongTermMemory:
        memory = self.memory
        if memory is None:
            raise BackendUnavailable("memory is not running")
        if not await memory.ready():
            raise BackendUnavailable(memory.last_error or f"the {memory.backend.name} backend cannot be reached")
        return memory

    # -- memory hooks ---------------------------------------------------------------------------

    @hookimpl
    async def store(self, record: MemoryRecord, ctx: TurnContext) -> str | None:
        """Store ``record`` (kind from ``metadata["kind"]``, default ``fact``); return its id once durable."""
        memory = await self._usable()
        text = record.text.strip()[: self.settings.max_text_chars]
        if not text:
            return None
        kind = MemoryKind(str(record.metadata.get("kind", MemoryKind.FACT.value)))
        expires_at = record.metadata.get("expires_at")
        channel_id = record.metadata.get("channel_id", ctx.channel_id)
        item = Memory(
            text,
            Scope.of(record.guild_id, record.user_id),
            user_id=record.user_id,
            channel_id=int(channel_id) if channel_id is not None else None,
            kind=kind,
            created_at=record.created_at,
            expires_at=float(expires_at) if expires_at is not None else self.expiry(kind, record.created_at),
            id=record.id,
        )
        stored = await memory.store(item, await self.embed(text, ctx))
        return stored.id

    @hookimpl
    async def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit] | None:
        """The best memories of the query's scope (its guild, or the user's DMs)."""
        memory = await self._usable()
        scope = Scope.of(query.guild_id, query.user_id)
        vector = await self.embed(query.text, ctx)
        hits = await memory.recall(scope, query.text, vector, limit=query.limit, mode=self.settings.search)
        return [
            MemoryHit(
                MemoryRecord(
                    hit.memory.text,
                    guild_id=hit.memory.scope.guild_id,
                    user_id=hit.memory.user_id,
                    metadata={
                        "kind": hit.memory.kind.value,
                        "channel_id": hit.memory.channel_id,
                        "expires_at": hit.memory.expires_at,
                        "similarity": hit.similarity,
                    },
                    created_at=hit.memory.created_at,
                    id=hit.memory.id,
                ),
                score=hit.score,
                backend=memory.backend.name,
            )
            for hit in hits
        ]

    @hookimpl
    async def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> int | None:
        """Delete a guild's memories (one user's when given), or with ``guild_id`` None one user's DM memories."""
        memory = await self._usable()
        if guild_id is None and user_id is None:
            log.warning("memory: forget without a guild or user deletes nothing (DM memories are per user)")
            return 0
        scope = Scope(guild_id) if guild_id is not None else Scope(None, user_id)
        return await memory.forget(scope, user_id if guild_id is not None else None)

    # -- conversations ----------------------------------------------------------------------------

    @hookimpl
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> LLMRequest | None:
        """Add this scope's most relevant memories to the system prompt (once per turn, on every attempt)."""
        if not self.settings.augment or self.memory is None:
            return None
        state = ctx.state(MemoryTurn)
        if state.block:
            if state.block not in (request.system or ""):
                request.system = f"{request.system}\n\n{state.block}" if request.system else state.block
            return request
        if state.skipped or (ctx.guild_id is None and ctx.user_id is None):
            return None
        prompt = request.prompt
        if not prompt.strip():
            return None
        try:
            memory = await self._usable()
            vector = await self.embed(prompt, ctx)
            hits = await memory.recall(
                Scope.of(ctx.guild_id, ctx.user_id),
                prompt,
                vector,
                limit=self.settings.k,
                mode=self.settings.search,
                purpose="augment",
            )
        except Exception as error:  # noqa: BLE001 - memory never fails a turn
            state.skipped = type(error).__name__
            self.augment_skipped += 1
            log.warning("memory: augmentation skipped: %s", type(error).__name__)
            return None
        chosen = select_for_context(hits, floor=self.settings.score_floor, token_budget=self.settings.token_budget)
        if not chosen:
            return None
        state.block = render(chosen)
        state.used = len(chosen)
        request.system = f"{request.system}\n\n{state.block}" if request.system else state.block
        request.cacheable = False
        memory.metrics.augmented.inc()
        return request

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        state = ctx.state(MemoryTurn)
        if state.used:
            notes = response.metadata.setdefault("footer_notes", [])
            notes.append(f"{state.used} memor{'y' if state.used == 1 else 'ies'} used")
        if (
            self.turns is None
            or response.source is not Source.PROVIDER
            or not response.complete
            or (ctx.guild_id is None and ctx.user_id is None)
        ):
            return
        text = f"Q: {request.prompt}\nA: {response.text}"[: self.settings.max_text_chars]
        now = self.clock()
        await self.turns.add(
            Memory(
                text,
                Scope.of(ctx.guild_id, ctx.user_id),
                user_id=ctx.user_id,
                channel_id=ctx.channel_id,
                kind=MemoryKind.TURN,
                created_at=now,
                expires_at=self.expiry(MemoryKind.TURN, now),
            )
        )

    # -- status ------------------------------------------------------------------------------------

    @hookimpl
    def collect_stats(self) -> dict[str, Any] | None:
        if self.memory is None:
            return None
        figures = self.memory.stats()
        figures["augment_skipped"] = self.augment_skipped
        if self.turns is not None:
            figures["turns_pending"] = len(self.turns.pending)
            figures["turns_dropped"] = self.turns.dropped
        return figures

    @hookimpl
    def health_lines(self) -> list[str] | None:
        memory = self.memory
        if memory is None:
            return None
        line = f"memory: {memory.backend.name}, {memory.entries} memories, embedder {memory.embedder.name}"
        lines = [line]
        if not memory.opened or memory.last_error:
            reason = memory.last_error or "not connected"
            lines.append(f"memory: {memory.backend.name} UNAVAILABLE ({reason}); turns are answered without memory")
        return lines + self.notices

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        from intelbot_memory.cli import memory_group

        cli.add_command(memory_group)


def memory_writer(memory: LongTermMemory) -> Callable[[list[Memory]], Any]:
    """The writer of a :class:`TurnBuffer`: embed the batch in one call, store it in one write."""

    async def write(batch: list[Memory]) -> None:
        vectors = await memory.embedder.embed([item.text for item in batch])
        await memory.store_many(batch, vectors)

    return write


def memory_of(kernel: Kernel) -> MemoryPlugin | None:
    """The memory plugin running in ``kernel``, or None."""
    return kernel.plugin(MemoryPlugin.name, MemoryPlugin)
