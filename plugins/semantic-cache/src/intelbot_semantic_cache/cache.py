"""The semantic cache: exact match on the prompt, then nearest stored question by meaning.

One :class:`SemanticCache` holds the entries of every scope (see :mod:`.scope`):
the rows live in the database (:mod:`.store`), the vectors in one index per scope
(:mod:`.index`), the decision in a :class:`.matching.MatchRule`.

Lifetimes: an entry lives ``ttl_seconds``; each hit extends it to
``ttl_seconds * ttl_growth ** hits`` from now, capped at ``max_ttl_seconds``.
Expired entries are never served and are swept out. Above ``max_entries`` or
``max_memory_mb`` the least valuable entries go first, where the value of an entry
is ``(1 + hits) * (1 + tokens it saves) / (1 + idle seconds / ttl_seconds)``.

Replicas: every store and removal is also logged in the database's change feed
(:mod:`.store`); :meth:`SemanticCache.apply_changes` applies the changes other
replicas made since the last call (the plugin calls it every
``change_poll_seconds``, see :mod:`.change_feed`).

Feedback (``learn_from_feedback``): every hit served and every answer stored is
recorded as an outcome of its ``request_id`` (:mod:`.store`), and hits ask the front
end for 👍 / 👎 (``FEEDBACK_WANTED``). :meth:`SemanticCache.learn_from_vote` (the
``answer_voted`` hook) and re-asks noticed in :meth:`SemanticCache.lookup` add
evidence; :mod:`.outcomes` turns an entry's evidence in one guild into a verdict:
its own threshold, or dropped. Verdicts live in memory but are derived from the
rows only, so a restart or another replica (told by ``retuned`` in the change feed)
derives the same ones.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, Source, StopReason, TurnContext, Usage
from intelbot.data.feedback import FEEDBACK_WANTED, Vote
from intelbot.embedding import Embedder, Vectors, prompt_vector, wait_until_ready
from intelbot.reask import asks_again
from intelbot_semantic_cache.index import HybridIndex, VectorIndex, new_index
from intelbot_semantic_cache.index_file import load_indexes, rows_digest, save_indexes
from intelbot_semantic_cache.matching import MatchRule
from intelbot_semantic_cache.metrics import CacheMetrics
from intelbot_semantic_cache.outcomes import Outcome, Verdict, verdict_of
from intelbot_semantic_cache.scope import embedding_text, prompt_key, scope_key
from intelbot_semantic_cache.settings import CacheSettings
from intelbot_semantic_cache.store import Asker, CacheEntry, CacheStore

log = logging.getLogger("intelbot_semantic_cache")
PLUGIN_NAME = "semantic_cache"
SWEEP_INTERVAL = 60.0
CHANGE_RETENTION = 86_400.0  # seconds of clock time the change feed keeps its rows


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A stored entry that answers a lookup. ``score`` is what the rule compared with its threshold."""

    entry: CacheEntry
    kind: str  # "exact" or "semantic"
    similarity: float
    score: float


@dataclass(slots=True)
class CacheTurn:
    """The cache's per-turn state (``ctx.state(CacheTurn)``): the scope fixed at the turn's first lookup.

    The scope is fixed by what the caller asked for, before any retry or fallback
    changes the model; the prompt's vector is shared through ``PromptEmbedding``.
    """

    scope: str | None = None
    reask_checked: bool = False


class SemanticCache:
    """Lookup, store, expiry, eviction and persistence of cached answers.

    Call :meth:`open` before use and :meth:`close` at the end (it saves the index
    file). ``clock`` returns wall-clock seconds (tests pass a controllable one).
    ``catalog`` prices what a hit saves at current prices.
    """

    def __init__(
        self,
        settings: CacheSettings,
        store: CacheStore,
        embedder: Embedder | None,
        *,
        rule: MatchRule | None = None,
        metrics: CacheMetrics | None = None,
        clock: Callable[[], float] = time.time,
        index_path: Path | None = None,
        catalog: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.rule = rule or MatchRule(settings.similarity_threshold, embedder=embedder.name if embedder else "")
        self.metrics = metrics or CacheMetrics()
        self.clock = clock
        self.index_path = index_path
        self.catalog = catalog or {}
        self.entries: dict[int, CacheEntry] = {}
        self.by_key: dict[str, int] = {}
        self.indexes: dict[str, VectorIndex] = {}
        self.text_bytes = 0
        self.index_status = "empty"
        self._mutating = asyncio.Lock()
        self._last_sweep = 0.0
        self.change_cursor = 0  # id of the last change of the feed applied (or seen in the rows at open)
        self.verdicts: dict[int, dict[int | None, Verdict]] = {}  # entry id -> guild -> what feedback decided

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the tables, load the entries, restore the index file or rebuild it from the database."""
        await self.store.create_schema()
        # read before the rows: a change made between the two is applied again later, which is harmless
        self.change_cursor = await self.store.last_change_id()
        rows = await self.store.load_all()
        vectors: dict[str, list[tuple[int, bytes]]] = {}
        for entry, vector, embedder_name in rows:
            self._remember(entry)
            usable = self.embedder is not None and embedder_name == self.embedder.name
            if usable and vector is not None and len(vector) == self.embedder.dimensions * 4:  # type: ignore[union-attr]
                vectors.setdefault(entry.scope, []).append((entry.id, vector))
        if self.settings.learn_from_feedback:
            await self.relearn(None)
        if self.embedder is None:
            self.index_status = "none (no embedder: exact matches only)"
            return
        expected = {
            scope: np.asarray([entry_id for entry_id, _ in items], dtype=np.int64) for scope, items in vectors.items()
        }
        row_digests = {scope: self._rows_digest(ids) for scope, ids in expected.items()}
        restored: dict[str, VectorIndex] = {}
        reason = ""
        if self.index_path is not None:
            restored, reason = await asyncio.to_thread(
                load_indexes,
                self.index_path,
                expected,
                rows=row_digests,
                embedder=self.embedder.name,
                dimensions=self.embedder.dimensions,
                kind=self.settings.index,
                switch_at=self.settings.hybrid_switch_at,
                expansion_search=self.settings.hnsw_expansion_search,
            )
        self.indexes.update(restored)
        rebuilt = 0
        for scope, items in vectors.items():
            if scope in restored:
                continue
            index = self._new_index()
            ids = np.asarray([entry_id for entry_id, _ in items], dtype=np.int64)
            matrix = np.frombuffer(b"".join(vector for _, vector in items), dtype=np.float32).reshape(len(items), -1)
            await asyncio.to_thread(index.add, ids, matrix)
            self.indexes[scope] = index
            rebuilt += len(items)
        if rebuilt:
            self.index_status = f"rebuilt {rebuilt} vectors from the database ({reason})"
            log.warning("semantic cache: %s", self.index_status)
        else:
            self.index_status = f"restored {sum(len(i) for i in restored.values())} vectors from {self.index_path}"
        self._update_size()

    async def close(self) -> None:
        """Save the index file (when there is a path and an embedder)."""
        await self.save_index()

    async def save_index(self) -> None:
        if self.index_path is None or self.embedder is None:
            return
        async with self._mutating:
            indexes = dict(self.indexes)
            rows = {scope: self._rows_digest(index.ids()) for scope, index in indexes.items()}
            await asyncio.to_thread(
                save_indexes,
                self.index_path,
                indexes,
                rows=rows,
                embedder=self.embedder.name,
                dimensions=self.embedder.dimensions,
                kind=self.settings.index,
            )

    def _rows_digest(self, ids: Iterable[int]) -> str:
        """What the index file must have been saved with for the rows ``ids``: ids, prompt keys, creation times."""
        return rows_digest(
            (int(entry_id), entry.prompt_key, entry.created_at)
            for entry_id in ids
            if (entry := self.entries.get(int(entry_id))) is not None
        )

    def _new_index(self) -> VectorIndex:
        assert self.embedder is not None
        return new_index(
            self.settings.index,
            self.embedder.dimensions,
            switch_at=self.settings.hybrid_switch_at,
            expansion_search=self.settings.hnsw_expansion_search,
        )

    # -- the hooks' work -----------------------------------------------------------------

    def scope_of(self, request: LLMRequest, ctx: TurnContext) -> str:
        return scope_key(
            request,
            ctx.guild_id,
            share_across_guilds=self.settings.share_across_guilds,
            user_id=ctx.user_id,
            frontend=ctx.frontend,
        )

    async def lookup(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse | None:
        """The cached answer for ``request``, or None.

        The turn's scope is kept in ``ctx.state(CacheTurn)`` for :meth:`store_response`.
        """
        if not request.cacheable:
            self.metrics.bypass()
            return None
        started = time.perf_counter()
        turn = ctx.state(CacheTurn)
        first_attempt = turn.scope is None
        if turn.scope is None:
            turn.scope = self.scope_of(request, ctx)
        prompt = request.prompt
        learning = self.settings.learn_from_feedback
        if learning and not turn.reask_checked:
            turn.reask_checked = True
            try:
                await self.count_reask(prompt, ctx)
            except SQLAlchemyError as error:  # the answer matters more than the evidence
                log.warning("semantic cache: re-ask not checked (%s)", type(error).__name__)
        hit = self.exact_match(prompt, turn.scope)
        if hit is not None and learning and self.refused(hit.entry, ctx.guild_id, hit.score):
            hit = None
        if hit is None and self.embedder is not None and prompt.strip():
            vector = await prompt_vector(ctx, self.embedder, prompt) if await wait_until_ready(self.embedder) else None
            if vector is None:
                name = self.embedder.name
                log.info("semantic cache: embedder %s not ready (loading or failed): skipped the semantic lookup", name)
            else:
                allowed = self.allowed_for(ctx.guild_id) if learning else None
                hit = self.nearest(turn.scope, vector, prompt_text=prompt, allowed=allowed)
                if hit is not None and hit.score < self.rule.threshold:
                    hit = None
        if hit is None:
            if first_attempt:  # a retry of the same turn is not another miss
                self.metrics.miss()
                self.metrics.lookup_took(time.perf_counter() - started)
            return None
        response = await self._serve(hit, ctx)
        elapsed = time.perf_counter() - started
        self.metrics.lookup_took(elapsed)
        response.latency_ms = elapsed * 1000
        return response

    def exact_match(self, prompt: str, scope: str) -> CacheHit | None:
        entry_id = self.by_key.get(prompt_key(scope, prompt))
        if entry_id is None:
            return None
        entry = self.entries[entry_id]
        if entry.expires_at <= self.clock():
            return None
        return CacheHit(entry, "exact", 1.0, math.inf)

    def nearest(
        self,
        scope: str,
        vector: Vectors,
        *,
        prompt_text: str = "",
        allowed: Callable[[CacheEntry, float], bool] | None = None,
    ) -> CacheHit | None:
        """The best live candidate of ``scope`` by the rule's score, whatever the threshold (None when empty).

        ``allowed(entry, score)`` false leaves a candidate out (an entry's own
        threshold refuses that score): the best of the others is returned.
        """
        index = self.indexes.get(scope)
        if index is None or len(index) == 0:
            return None
        started = time.perf_counter()
        ids, cosines = index.search(vector, self.settings.candidates)
        self.metrics.search_took(time.perf_counter() - started)
        now = self.clock()
        live = [position for position, entry_id in enumerate(ids.tolist()) if self._live(entry_id, now)]
        if not live:
            return None
        ids, cosines = ids[live], cosines[live]
        if self.rule.model is None:
            scores = np.asarray(cosines, dtype=np.float64)
        else:
            texts = [self.entries[int(entry_id)].prompt for entry_id in ids]
            candidates = index.vectors_of(ids)
            scores = self.rule.scores(vector, candidates, cosines, query_text=prompt_text, candidate_texts=texts)
        if allowed is not None:
            keep = [i for i, entry_id in enumerate(ids.tolist()) if allowed(self.entries[entry_id], float(scores[i]))]
            if not keep:
                return None
            ids, cosines, scores = ids[keep], cosines[keep], np.asarray(scores)[keep]
        best = int(np.argmax(scores))
        return CacheHit(self.entries[int(ids[best])], "semantic", float(cosines[best]), float(scores[best]))

    def _live(self, entry_id: int, now: float) -> bool:
        entry = self.entries.get(entry_id)
        return entry is not None and entry.expires_at > now

    # -- feedback ------------------------------------------------------------------------

    def refused(self, entry: CacheEntry, guild_id: int | None, score: float) -> bool:
        """True when feedback from ``guild_id`` refuses ``entry`` at ``score`` (exact hits: ``inf``)."""
        verdict = self.verdicts.get(entry.id, {}).get(guild_id)
        return verdict is not None and (verdict.drop or score < verdict.threshold)

    def allowed_for(self, guild_id: int | None) -> Callable[[CacheEntry, float], bool]:
        """The ``allowed`` test of :meth:`nearest` for a turn of ``guild_id``: what its feedback does not refuse."""

        def allowed(entry: CacheEntry, score: float) -> bool:
            return not self.refused(entry, guild_id, score)

        return allowed

    async def relearn(self, entry_ids: Sequence[int] | None) -> None:
        """Derive the verdicts of ``entry_ids`` (None: of every entry) from their outcomes in the database."""
        evidence = await self.store.evidence(entry_ids)
        if entry_ids is None:
            self.verdicts = {}
        else:
            for entry_id in entry_ids:
                self.verdicts.pop(entry_id, None)
        grouped: dict[int, dict[int | None, list[Outcome]]] = {}
        for outcome in evidence:
            grouped.setdefault(outcome.entry_id, {}).setdefault(outcome.guild_id, []).append(outcome)
        for entry_id, by_guild in grouped.items():
            if entry_id not in self.entries:
                continue
            for guild_id, outcomes in by_guild.items():
                verdict = verdict_of(outcomes, near_exact=self.settings.near_exact_similarity)
                if verdict.changes_anything:
                    self.verdicts.setdefault(entry_id, {})[guild_id] = verdict

    async def learn_from_vote(self, vote: Vote) -> bool:
        """Take in the asker's vote on a cache outcome (the ``answer_voted`` hook); False when it was not one."""
        if not self.settings.learn_from_feedback:
            return False
        outcome = await self.store.record_vote(vote.request_id, vote.vote, at=self.clock())
        if outcome is None:
            return False
        self.metrics.evidence(vote.vote)
        await self._take_in(outcome)
        return True

    async def count_reask(self, prompt: str, ctx: TurnContext) -> bool:
        """Mark the hit this turn re-asks, if any (same user, channel and guild, within the window, close question)."""
        window = self.settings.reask_window_seconds
        if window <= 0 or ctx.user_id is None or ctx.channel_id is None or not prompt.strip():
            return False
        now = self.clock()
        asker = Asker(ctx.guild_id, ctx.channel_id, ctx.user_id, now)
        previous = await self.store.last_hit_to(asker, now - window, excluding=ctx.request_id)
        if previous is None:
            return False
        entry = self.entries.get(previous.entry_id)
        if entry is None or not await self._asks_again(entry, prompt, ctx):
            return False
        marked = await self.store.mark_reasked(previous.request_id, at=now)
        if marked is None:
            return False
        self.metrics.evidence("reask")
        await self._take_in(marked)
        return True

    async def _asks_again(self, entry: CacheEntry, prompt: str, ctx: TurnContext) -> bool:
        """True when ``prompt`` asks what ``entry`` answered, by the kernel's re-ask rule (:mod:`intelbot.reask`)."""
        if asks_again(prompt, entry.prompt):
            return True
        index = self.indexes.get(entry.scope)
        if self.embedder is None or index is None or not await wait_until_ready(self.embedder):
            return False
        try:
            stored = np.asarray(index.vectors_of(np.asarray([entry.id], dtype=np.int64)), dtype=np.float32)[0]
        except (KeyError, ValueError, TypeError):  # stored without a vector
            return False
        vector = await prompt_vector(ctx, self.embedder, prompt)
        return asks_again(prompt, entry.prompt, vector, stored)

    async def _take_in(self, outcome: Outcome) -> None:
        """Re-derive the verdict of ``outcome``'s entry; drop the entry when its own guild's verdict says so."""
        await self.relearn([outcome.entry_id])
        verdict = self.verdicts.get(outcome.entry_id, {}).get(outcome.guild_id)
        entry = self.entries.get(outcome.entry_id)
        if verdict is None or entry is None:
            return
        if verdict.drop and entry.guild_id == outcome.guild_id:
            # another guild's feedback on a shared entry only refuses it to that guild
            await self.remove([entry.id], "feedback")
            log.info("semantic cache: entry %d dropped on feedback (request %s)", entry.id, outcome.request_id)
        elif not verdict.drop:
            log.info(
                "semantic cache: entry %d threshold %.4f for guild %s (request %s)",
                entry.id,
                verdict.threshold,
                outcome.guild_id,
                outcome.request_id,
            )

    async def _serve(self, hit: CacheHit, ctx: TurnContext) -> LLMResponse:
        entry = hit.entry
        now = self.clock()
        entry.hits += 1
        entry.last_used_at = now
        entry.expires_at = max(entry.expires_at, now + self.ttl_after(entry.hits))
        learning = self.settings.learn_from_feedback
        if learning:
            score = None if math.isinf(hit.score) else hit.score
            outcome = Outcome(ctx.request_id, entry.id, ctx.guild_id, hit.kind, hit.similarity, score)
            await self.store.record_hit(entry, outcome, Asker(ctx.guild_id, ctx.channel_id, ctx.user_id, now))
        else:
            await self.store.record_hit(entry)
        saved_usd = self.saved_usd(entry)
        self.metrics.hit(hit.kind, entry.tokens, saved_usd)
        metadata: dict[str, Any] = {FEEDBACK_WANTED: True} if learning else {}
        return LLMResponse(
            text=entry.answer,
            model=entry.model,
            provider=entry.provider,
            usage=Usage(0, 0),
            stop_reason=StopReason.END,
            source=Source.CACHE,
            served_by=PLUGIN_NAME,
            cost_usd=0.0,
            metadata={
                "cache_hit": hit.kind,
                "similarity": round(hit.similarity, 6),
                "match_score": None if math.isinf(hit.score) else round(hit.score, 6),
                "match_rule": "exact" if hit.kind == "exact" else self.rule.kind,
                "cache_entry_id": entry.id,
                "saved_input_tokens": entry.input_tokens,
                "saved_output_tokens": entry.output_tokens,
                "saved_usd": saved_usd,
                **metadata,
            },
        )

    def ttl_after(self, hits: int) -> float:
        """Lifetime granted from now to an entry hit ``hits`` times (adaptive TTL)."""
        settings = self.settings
        return float(min(settings.max_ttl_seconds, settings.ttl_seconds * settings.ttl_growth ** min(hits, 64)))

    def saved_usd(self, entry: CacheEntry) -> float:
        spec = self.catalog.get(entry.model)
        if spec is None:
            return entry.cost_usd
        return spec.cost(Usage(entry.input_tokens, entry.output_tokens))

    async def store_response(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> CacheEntry | None:
        """Store a provider's complete answer to a cacheable request; returns the entry or None (and counts why)."""
        if response.source is not Source.PROVIDER:
            return None
        if not request.cacheable:
            self.metrics.skip("uncacheable")
            return None
        if not response.complete:
            self.metrics.skip(response.stop_reason.value)
            return None
        prompt = request.prompt
        if not prompt.strip() or not response.text.strip():
            self.metrics.skip("empty")
            return None
        turn = ctx.state(CacheTurn)
        scope = turn.scope if turn.scope is not None else self.scope_of(request, ctx)
        vector = None
        exact_only = False
        if self.embedder is not None:
            if await wait_until_ready(self.embedder):
                vector = await prompt_vector(ctx, self.embedder, prompt)
            else:
                exact_only = True
                name = self.embedder.name
                log.info("semantic cache: embedder %s not ready (loading or failed): stored for exact match only", name)
        entries = await self.put_many(
            [
                (
                    scope,
                    ctx.guild_id,
                    prompt,
                    response.text,
                    response.model,
                    response.provider,
                    response.usage,
                    response.cost_usd,
                )
            ],
            None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1),
            embed_missing=not exact_only,
            request_ids=[ctx.request_id] if self.settings.learn_from_feedback else None,
        )
        return entries[0]

    async def put_many(
        self,
        items: Sequence[tuple[str, int | None, str, str, str, str, Usage, float]],
        vectors: Vectors | None,
        *,
        embed_missing: bool = True,
        request_ids: Sequence[str | None] | None = None,
    ) -> list[CacheEntry]:
        """Store answers: each item is (scope, guild_id, prompt, answer, model, provider, usage, cost_usd).

        ``vectors`` holds one embedding per item (None: embed them here, or store
        for exact matching only when there is no embedder or ``embed_missing`` is
        false). A prompt already stored in the same scope is replaced.
        ``request_ids``: the turn that made each answer (its ``stored`` outcome).
        """
        if not items:
            return []
        if vectors is None and self.embedder is not None and embed_missing:
            vectors = await self.embedder.embed([embedding_text(item[2]) for item in items])
        now = self.clock()
        entries = [
            CacheEntry(
                id=0,
                scope=scope,
                guild_id=guild_id,
                prompt_key=prompt_key(scope, prompt),
                prompt=prompt,
                answer=answer,
                model=model,
                provider=provider,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cost_usd=cost,
                created_at=now,
                expires_at=now + self.settings.ttl_seconds,
                hits=0,
                last_used_at=now,
            )
            for scope, guild_id, prompt, answer, model, provider, usage, cost in items
        ]
        # the same prompt twice in one batch: keep the last
        last_of_key = {entry.prompt_key: position for position, entry in enumerate(entries)}
        keep = sorted(last_of_key.values())
        entries = [entries[position] for position in keep]
        kept_requests = None if request_ids is None else [request_ids[position] for position in keep]
        blobs: list[bytes | None] = [None] * len(entries)
        if vectors is not None:
            matrix = np.asarray(vectors, dtype=np.float32)[keep]
            blobs = [row.tobytes() for row in matrix]
        async with self._mutating:
            replaced = [self.by_key[entry.prompt_key] for entry in entries if entry.prompt_key in self.by_key]
            # The database first: if the insert fails, the entries it would replace stay served.
            embedder_name = self.embedder.name if self.embedder else ""
            await self.store.insert(entries, blobs, embedder_name, request_ids=kept_requests)
            self._forget(replaced)
            for entry in entries:
                self._remember(entry)
            if vectors is not None:
                by_scope: dict[str, list[int]] = {}
                for position, entry in enumerate(entries):
                    by_scope.setdefault(entry.scope, []).append(position)
                for scope, positions in by_scope.items():
                    index = self.indexes.get(scope)
                    if index is None:
                        index = self.indexes[scope] = self._new_index()
                    ids = np.asarray([entries[p].id for p in positions], dtype=np.int64)
                    if isinstance(index, HybridIndex) and index.graph is None and index.switches_after(len(ids)):
                        # building the HNSW graph takes seconds: do it off the event loop, from a snapshot
                        index.graph = await asyncio.to_thread(index.build_graph)
                    if len(positions) > 1000:
                        await asyncio.to_thread(index.add, ids, matrix[positions])
                    else:
                        index.add(ids, matrix[positions])
            for _ in entries:
                self.metrics.stored()
        await self.enforce_limits()
        return entries

    # -- bookkeeping ---------------------------------------------------------------------

    def _remember(self, entry: CacheEntry) -> None:
        self.entries[entry.id] = entry
        self.by_key[entry.prompt_key] = entry.id
        self.text_bytes += entry.size_bytes()

    def _forget(self, ids: Iterable[int]) -> list[int]:
        removed: list[int] = []
        by_scope: dict[str, list[int]] = {}
        for entry_id in ids:
            entry = self.entries.pop(entry_id, None)
            if entry is None:
                continue
            removed.append(entry_id)
            self.verdicts.pop(entry_id, None)
            if self.by_key.get(entry.prompt_key) == entry_id:
                del self.by_key[entry.prompt_key]
            self.text_bytes -= entry.size_bytes()
            by_scope.setdefault(entry.scope, []).append(entry_id)
        for scope, scope_ids in by_scope.items():
            index = self.indexes.get(scope)
            if index is not None:
                index.remove(scope_ids)
                if len(index) == 0:
                    del self.indexes[scope]
        return removed

    async def remove(self, ids: Iterable[int], reason: str) -> int:
        """Delete entries from memory, index and database; returns how many there were."""
        async with self._mutating:
            guilds = {entry_id: entry.guild_id for entry_id in ids if (entry := self.entries.get(entry_id)) is not None}
            removed = self._forget(list(ids))
            await self.store.delete(removed, reason=reason, guilds=guilds, at=self.clock())
        self.metrics.evicted(reason, len(removed))
        self._update_size()
        return len(removed)

    async def apply_changes(self) -> int:
        """Apply the change feed's rows logged since the last call; returns how many entries came or went.

        Changes this replica made itself find memory already changed and do nothing.
        Ids are never reused, so an id removed anywhere in the batch stays removed.
        """
        changes = await self.store.changes_after(self.change_cursor)
        if not changes:
            return 0
        removed = {change.entry_id for change in changes if change.kind == "removed"}
        wanted = [
            change.entry_id
            for change in changes
            if change.kind == "stored" and change.entry_id not in removed and change.entry_id not in self.entries
        ]
        retuned = {change.entry_id for change in changes if change.kind == "retuned"} - removed
        rows = await self.store.load(wanted)
        async with self._mutating:
            gone = self._forget(removed)
            vectors: dict[str, list[tuple[int, bytes]]] = {}
            came = 0
            for entry, vector, embedder_name in rows:
                if entry.id in self.entries:  # stored here meanwhile
                    continue
                self._remember(entry)
                came += 1
                embedder = self.embedder
                usable = embedder is not None and embedder_name == embedder.name
                if usable and vector is not None and len(vector) == embedder.dimensions * 4:  # type: ignore[union-attr]
                    vectors.setdefault(entry.scope, []).append((entry.id, vector))
            for scope, items in vectors.items():
                index = self.indexes.get(scope)
                if index is None:
                    index = self.indexes[scope] = self._new_index()
                ids = np.asarray([entry_id for entry_id, _ in items], dtype=np.int64)
                matrix = np.frombuffer(b"".join(blob for _, blob in items), dtype=np.float32).reshape(len(items), -1)
                index.add(ids, matrix)
            self.change_cursor = max(self.change_cursor, changes[-1].id)
        if retuned and self.settings.learn_from_feedback:
            await self.relearn(sorted(retuned))
        self._update_size()
        if gone or came:
            log.debug("semantic cache: change feed applied, %d entries came, %d went", came, len(gone))
        return came + len(gone)

    async def clear(self, guild_id: int | None = None, *, everything: bool = False) -> int:
        """Remove the entries stored for ``guild_id`` (for ``everything``, all entries); returns the count."""
        if everything:
            ids = list(self.entries)
        else:
            ids = [entry.id for entry in self.entries.values() if entry.guild_id == guild_id]
        return await self.remove(ids, "cleared")

    def size_bytes(self) -> int:
        return self.text_bytes + sum(index.memory_bytes() for index in self.indexes.values())

    def _update_size(self) -> None:
        self.metrics.size(len(self.entries), self.size_bytes())

    async def enforce_limits(self) -> None:
        """Sweep expired entries (at most once a minute of clock time), then evict down to the limits."""
        now = self.clock()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            expired = [entry.id for entry in self.entries.values() if entry.expires_at <= now]
            if expired:
                # another replica's hits extend an entry's life in its row: keep those entries
                stored_expiry = await self.store.expiries(expired)
                for entry_id, expires_at in stored_expiry.items():
                    entry = self.entries.get(entry_id)
                    if entry is not None and expires_at > now:
                        entry.expires_at = max(entry.expires_at, expires_at)
                expired = [entry_id for entry_id in expired if stored_expiry.get(entry_id, now) <= now]
            if expired:
                await self.remove(expired, "expired")
            await self.store.prune_changes(now - CHANGE_RETENTION)
        max_bytes = self.settings.max_memory_mb * 1024 * 1024
        over_entries = len(self.entries) - self.settings.max_entries
        size = self.size_bytes()
        if over_entries <= 0 and size <= max_bytes:
            self._update_size()
            return
        ranked = sorted(self.entries.values(), key=lambda entry: self.value(entry, now))
        if over_entries > 0:
            # evict a little more than needed so the next stores do not each pay for a sort
            count = min(len(ranked), over_entries + max(1, self.settings.max_entries // 100))
            await self.remove([entry.id for entry in ranked[:count]], "entries")
            ranked = ranked[count:]
        if self.size_bytes() > max_bytes and ranked:
            average = max(1, self.size_bytes() // max(1, len(self.entries)))
            excess = self.size_bytes() - max_bytes * 0.95
            count = min(len(ranked), max(1, math.ceil(excess / average)))
            await self.remove([entry.id for entry in ranked[:count]], "memory")
        self._update_size()

    def value(self, entry: CacheEntry, now: float) -> float:
        """How much keeping ``entry`` is worth (expired entries are worth nothing)."""
        if entry.expires_at <= now:
            return -1.0
        idle = max(0.0, now - entry.last_used_at)
        return (1 + entry.hits) * (1 + entry.tokens) / (1 + idle / max(1.0, self.settings.ttl_seconds))

    def stats(self) -> dict[str, Any]:
        """Flat JSON-able figures for ``collect_stats``.

        The hit, miss, saving and latency figures count this process since it started
        (they read 0 in a new process, such as a fresh ``intelbot cache stats``); the
        keys listed in ``per_process`` are those. ``entries``, ``bytes`` and
        ``hits_on_kept_entries`` (hits of the entries still held, kept in the database
        across restarts and replicas) are durable.
        """
        figures = self.metrics.summary()
        per_process = sorted(figures)
        figures.update(
            {
                "per_process": per_process,
                "hits_on_kept_entries": sum(entry.hits for entry in self.entries.values()),
                "entries": len(self.entries),
                "bytes": self.size_bytes(),
                "scopes": len({entry.scope for entry in self.entries.values()}),
                "index": self.settings.index,
                "embedder": self.embedder.name if self.embedder else "none (exact matches only)",
                "match_rule": self.rule.kind,
                "threshold": self.rule.threshold,
                "index_status": self.index_status,
                "learn_from_feedback": self.settings.learn_from_feedback,
                "entries_with_learned_threshold": sum(
                    1 for by_guild in self.verdicts.values() if any(not v.drop for v in by_guild.values())
                ),
                "entries_refused_by_feedback": sum(
                    1 for by_guild in self.verdicts.values() if any(v.drop for v in by_guild.values())
                ),
            }
        )
        return figures
