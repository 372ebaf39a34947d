"""The kernel: loads plugins, runs turns through the hooks, records what they cost.

Every front end (console, CLI, Discord, tests) goes through :meth:`Kernel.ask` or
:meth:`Kernel.complete`, so they share one path. See docs/architecture.md for the
turn pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, overload

from dynaconf import Dynaconf
from sqlalchemy import Connection, delete, select, text

from intelbot.catalog import ModelCatalog, ModelSpec
from intelbot.config_check import (
    ConfigProblem,
    find_plugin_problems,
    find_problems,
    raise_first,
    unknown_model_providers,
)
from intelbot.contract import (
    GiveUp,
    LLMRequest,
    LLMResponse,
    MemoryHit,
    MemoryQuery,
    MemoryRecord,
    Message,
    Retry,
    Source,
    TurnContext,
)
from intelbot.data.database import Database, database_url
from intelbot.data.feedback import FEEDBACK_SCHEMA, FeedbackStore, Vote, VoteOutcome
from intelbot.data.ledger import LEDGER_SCHEMA, UsageLedger
from intelbot.data.tables import SCOPE_COLUMNS, SCOPE_INDEXES, GuildPluginSwitch, KernelTable
from intelbot.dispatch import HookDispatcher
from intelbot.errors import CallRejected, ConfigurationError, ErrorCategory, IntelbotError, ProviderError
from intelbot.kernel_settings import kernel_settings
from intelbot.loading import PluginInfo, new_plugin_manager, register_plugins
from intelbot.metrics import KernelMetrics
from intelbot.providers.base import Provider
from intelbot.settings import origin_of, plugin_table

log = logging.getLogger("intelbot.kernel")
PluginT = TypeVar("PluginT")

TRACE_ENV = "INTELBOT_TRACE_HOOKS"
OFFLINE_MODEL = "echo"
BACKSTOP_SECONDS = 0.5
AlertSender = Callable[[str, int | None], Awaitable[None]]
"""``await sender(message, channel_id)``: deliver an operator alert (a front end adds one)."""
DEADLINE_SHARE = 0.5
NEVER_RETRIED = frozenset({ErrorCategory.LOCAL_FAULT, ErrorCategory.DEADLINE_EXCEEDED})
"""Categories the kernel never retries whatever ``on_error`` decides (a GiveUp's message still applies)."""


def _drop_duplicate_switch_index(connection: Connection) -> None:
    """Schema 2: the switches' ``guild_id`` index repeated the leading column of their unique (guild_id, plugin)."""
    connection.execute(text("DROP INDEX IF EXISTS ix_guild_plugin_switches_guild_id"))


def _index_ledger_scopes_by_day(connection: Connection) -> None:
    """Schema 3: the ledger's ``guild_id`` and ``user_id`` indexed with ``created_at``, their lone indexes dropped.

    A spending cap's read of a scope's spend since midnight used the lone ``guild_id``
    (or ``user_id``) index and visited every row the scope ever made, so each capped
    turn cost more as the ledger grew. The composite indexes start with the same
    column, so the lone ones only slowed writes.
    """
    for index in SCOPE_INDEXES:
        index.create(connection, checkfirst=True)
    for column in SCOPE_COLUMNS:
        connection.execute(text(f"DROP INDEX IF EXISTS ix_usage_ledger_{column}"))


KERNEL_SCHEMA = (
    lambda connection: KernelTable.metadata.create_all(connection),
    _drop_duplicate_switch_index,
    _index_ledger_scopes_by_day,
)
"""The kernel's migration steps, in order (``Database.migrate`` records how many have run)."""


class Kernel:
    """A running bot core. Create with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, settings: Dynaconf) -> None:
        """Use :meth:`start`, which validates ``settings`` first."""
        self.settings = settings
        self.catalog = ModelCatalog.from_settings(settings.get("models") or {})
        self.instruments = KernelMetrics()
        """The kernel's own counters and histograms (turns, calls, latency, cost, failures)."""
        self.metrics = self.instruments.registry
        """The Prometheus registry every kernel and plugin metric is registered on (what /metrics serves)."""
        self.manager = new_plugin_manager()
        self.dispatch = HookDispatcher(self.manager, trace=os.environ.get(TRACE_ENV, "") not in ("", "0"))
        self.dispatch.failure_listeners.append(
            lambda plugin, hook: self.instruments.plugin_failures.labels(plugin, hook).inc()
        )
        self.providers: dict[str, Provider] = {}
        self.plugins: list[PluginInfo] = []
        self.notices: list[str] = []
        self.database = Database(database_url(settings))
        self.ledger = UsageLedger(self.database, metrics=self.instruments)
        self.feedback = FeedbackStore(self.database)
        own = kernel_settings(settings)
        llm = own.llm
        self.default_model = llm.default_model
        self.system_prompt: str | None = llm.system_prompt
        self.max_tokens = llm.max_tokens
        self.call_timeout = llm.timeout_seconds
        self.turn_timeout = llm.turn_timeout_seconds
        self.max_attempts = llm.max_attempts
        self.switch_refresh_seconds = own.guild_switch_refresh_seconds
        self._switch_refresher: asyncio.Task[None] | None = None
        self._switching = asyncio.Lock()  # a refresh (read, then replace) never interleaves with a local switch
        self.alert_senders: list[AlertSender] = []
        self._running = False
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        settings: Dynaconf,
        *,
        load_plugins: Sequence[str] | None = None,
        extra_plugins: Iterable[object] = (),
    ) -> Kernel:
        """Load plugins, register providers, open the database, run ``startup`` hooks.

        ``load_plugins`` names the installed plugins to load regardless of flags
        (``[]`` loads none); None follows ``INTELBOT_LOAD_PLUGINS`` and the flags.
        """
        extra_plugins = list(extra_plugins)
        given = [str(getattr(plugin, "name", "")) for plugin in extra_plugins]
        raise_first(find_problems(settings, extra_providers=None, extra_plugins=given))
        kernel = cls(settings)
        try:
            await kernel._start(load_plugins, extra_plugins)
        except BaseException:
            await kernel.dispatch.call_all("shutdown", kernel=kernel)
            await kernel._close_resources()
            raise
        return kernel

    async def _start(self, load_plugins: Sequence[str] | None, extra_plugins: Iterable[object]) -> None:
        self.plugins = register_plugins(self.manager, self.settings, only=load_plugins, extra=extra_plugins)
        self.dispatch.invalidate()
        self.dispatch.call_all_sync("register_providers", register=self._collect_provider, settings=self.settings)
        raise_first(
            [
                ConfigProblem(key, origin_of(self.settings, key), message)
                for key, message in unknown_model_providers(self.settings, self.catalog, self.providers)
            ]
            + find_plugin_problems(self.settings, self.dispatch, self.plugins)
        )
        self._choose_default_model()
        await self.database.migrate("kernel", KERNEL_SCHEMA)
        await self.database.migrate("ledger", LEDGER_SCHEMA)
        await self.database.migrate("feedback", FEEDBACK_SCHEMA)
        await self._load_guild_switches()
        if self.switch_refresh_seconds > 0:
            self._switch_refresher = asyncio.create_task(self._refresh_guild_switches(), name="intelbot-guild-switches")
        self.ledger.start()
        self._running = True
        for impl in self.dispatch.implementations("startup"):
            # A plugin's bad settings stop start-up (naming the key); any other failure drops the plugin.
            ok, _ = await self.dispatch.call_one(impl, "startup", {"kernel": self}, propagate=(ConfigurationError,))
            if not ok:
                self._drop_plugin(impl.plugin, "startup failed (see the log)")
        self._started = True

    def _collect_provider(self, provider: Provider) -> None:
        if provider.name in self.providers:
            log.warning("provider %r registered twice; keeping the first", provider.name)
            return
        self.providers[provider.name] = provider

    def _choose_default_model(self) -> None:
        spec = self.catalog.get(self.default_model)
        if spec is None:
            raise ConfigurationError(
                f"default model {self.default_model!r} is not in the model catalog", key="llm.default_model"
            )
        if spec.provider not in self.providers:
            notice = (
                f"no credentials for provider {spec.provider!r} (model {spec.name!r}): "
                f"answering with the offline {OFFLINE_MODEL!r} model"
            )
            # shown once: open_kernel prints the notices, health() lists them (logging it too printed it twice)
            self.notices.append(notice)
            self.default_model = OFFLINE_MODEL

    def _drop_plugin(self, name: str, reason: str) -> None:
        plugin = self.manager.get_plugin(name)
        if plugin is not None:
            self.manager.unregister(plugin)
            self.dispatch.invalidate()
        for info in self.plugins:
            if info.name == name:
                info.loaded = False
                info.error = reason
        log.error("plugin %r disabled: %s", name, reason)

    async def stop(self) -> None:
        """Run ``shutdown`` hooks, write the ledger, close providers and the database."""
        if not self._running:
            return
        self._running = False
        self._started = False
        await self.dispatch.call_all("shutdown", kernel=self)
        await self._close_resources()

    async def _close_resources(self) -> None:
        """Write the ledger, close providers and the engine; each step runs even if one before failed."""
        if self._switch_refresher is not None:
            self._switch_refresher.cancel()
            await asyncio.gather(self._switch_refresher, return_exceptions=True)
        try:
            await self.ledger.close()
        except Exception as error:  # noqa: BLE001 - keep closing the rest
            log.error("writing the usage ledger at stop failed: %s", type(error).__name__)
        for provider in self.providers.values():
            try:
                await provider.aclose()
            except Exception as error:  # noqa: BLE001
                log.warning("closing provider %r failed: %s", provider.name, type(error).__name__)
        await self.database.dispose()

    @property
    def running(self) -> bool:
        """True from the end of :meth:`start`'s set-up until :meth:`stop` begins."""
        return self._running

    @property
    def started(self) -> bool:
        """True once every plugin's ``startup`` hook has returned, until :meth:`stop` begins (readiness)."""
        return self._started

    async def __aenter__(self) -> Kernel:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- settings ----------------------------------------------------------------------------

    @overload
    def plugin(self, name: str) -> object | None: ...

    @overload
    def plugin(self, name: str, kind: type[PluginT]) -> PluginT | None: ...

    def plugin(self, name: str, kind: type[Any] | None = None) -> Any:
        """The plugin instance (or module) registered in this kernel as ``name``, or None when not loaded.

        With ``kind``, the instance typed as ``kind``; a plugin of that name that is not
        a ``kind`` raises TypeError. CLI and Discord commands reach their plugin this way.
        """
        found = self.manager.get_plugin(name)
        if found is None or kind is None:
            return found
        if not isinstance(found, kind):
            raise TypeError(f"plugin {name!r} is a {type(found).__qualname__}, not a {kind.__qualname__}")
        return found

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """The ``[default.plugins.<name>]`` table as a plain dict (without case concerns)."""
        return plugin_table(self.settings, name)

    def model(self, name: str) -> ModelSpec:
        """The catalog entry for ``name``; ConfigurationError naming the key when unknown."""
        spec = self.catalog.get(name)
        if spec is None:
            raise ConfigurationError(f"unknown model {name!r}", key=f"models.{name}")
        return spec

    # -- turns ---------------------------------------------------------------------------------

    async def ask(
        self,
        question: str,
        ctx: TurnContext,
        *,
        model: str | None = None,
        tier: str | None = None,
        system: str | None = None,
        cacheable: bool = True,
    ) -> LLMResponse:
        """Answer one question: build the request, run :meth:`complete`, log the turn.

        A ``model`` given here is the caller's choice: the request is marked
        ``model_pinned`` so a router leaves it alone.
        """
        request = LLMRequest(
            messages=[Message("user", question)],
            model=model or self.default_model,
            model_pinned=model is not None,
            system=system if system is not None else self.system_prompt,
            tier=tier,
            max_tokens=self.max_tokens,
            cacheable=cacheable,
        )
        response = await self.complete(request, ctx)
        self.ledger.record_turn(question, response, ctx)
        self.instruments.turns.labels(response.source.value).inc()
        return response

    async def complete(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse:
        """Run one request through the pipeline and return the response.

        ``before_llm_call`` (may answer) -> provider -> on failure ``on_error`` decides
        (retry, fall back, give up) -> usage ledger -> ``after_llm_call``. Raises
        :class:`IntelbotError` when no attempt succeeds. A ``local_fault`` (a bug on our
        side) or ``deadline_exceeded`` is shown to ``on_error`` but never retried.
        """
        if not self._running:
            raise ConfigurationError("the kernel is not running")
        if ctx.deadline is None:
            ctx.deadline = time.monotonic() + self.turn_timeout
        while True:
            ctx.attempt += 1
            request, response = await self._before(request, ctx)
            if response is None:
                try:
                    response = await self._call_provider(request, ctx)
                except IntelbotError as error:
                    self.instruments.errors.labels(error.category.value).inc()
                    if isinstance(error, CallRejected):
                        raise
                    retry = await self._recover(error, request, ctx)
                    if retry is None:
                        raise
                    if retry.model:
                        request.model = self.model(retry.model).name
                    if retry.delay > 0:
                        await asyncio.sleep(retry.delay)
                    continue
            # Recorded before the hooks run: a turn cancelled while they await (embedding, database,
            # Redis) must not lose a call that was paid for.
            self.ledger.record_call(response, ctx)
            await self.dispatch.call_all("after_llm_call", ctx, request=request, response=response, ctx=ctx)
            return response

    async def _before(self, request: LLMRequest, ctx: TurnContext) -> tuple[LLMRequest, LLMResponse | None]:
        kwargs: dict[str, Any] = {"request": request, "ctx": ctx}
        for impl in self.dispatch.active("before_llm_call", ctx):
            ok, result = await self.dispatch.call_one(impl, "before_llm_call", kwargs)
            if not ok or result is None:
                continue
            if isinstance(result, LLMResponse):
                if not result.served_by:
                    result.served_by = impl.plugin
                return kwargs["request"], result
            if isinstance(result, LLMRequest):
                kwargs["request"] = result
        return kwargs["request"], None

    async def _call_provider(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse:
        spec = self.model(request.model)
        provider = self.providers.get(spec.provider)
        if provider is None:
            raise ProviderError(
                f"provider {spec.provider!r} of model {spec.name!r} is not configured",
                category=ErrorCategory.CONFIGURATION,
                provider=spec.provider,
                model=spec.name,
            )
        remaining = ctx.remaining()
        timeout = self.call_timeout if remaining is None else min(self.call_timeout, remaining)
        # A provider is blamed for a timeout only when it had at least half a full slice (its
        # timeout, or the whole turn when that is shorter); with less, the turn's deadline ran out.
        full_slice = self.call_timeout
        if ctx.deadline is not None:
            full_slice = min(full_slice, ctx.deadline - ctx.started_at)
        cut_by_deadline = timeout < full_slice * DEADLINE_SHARE
        if timeout <= 0:
            # No call is made: nothing to count against the provider.
            raise ProviderError(
                "turn deadline passed before the call",
                category=ErrorCategory.DEADLINE_EXCEEDED,
                provider=spec.provider,
                model=spec.name,
            )
        started = time.perf_counter()
        try:
            # Providers enforce ``timeout`` themselves (and categorise what happens in it,
            # such as a Retry-After that outlasts it); this is only a backstop for one that does not.
            async with asyncio.timeout(timeout + BACKSTOP_SECONDS):
                response = await provider.complete(request, spec, timeout=timeout)
        except IntelbotError as error:
            error.provider = error.provider or spec.provider
            error.model = error.model or spec.name
            if error.category is ErrorCategory.TIMEOUT and cut_by_deadline:
                # The provider had under half its time because the turn was running out: that is
                # the turn's deadline passing, not the provider failing to answer in time.
                error.category = ErrorCategory.DEADLINE_EXCEEDED
            self.instruments.calls.labels(spec.provider, spec.name, error.category.value).inc()
            raise
        except TimeoutError:
            category = ErrorCategory.DEADLINE_EXCEEDED if cut_by_deadline else ErrorCategory.TIMEOUT
            self.instruments.calls.labels(spec.provider, spec.name, category.value).inc()
            raise ProviderError(
                f"no answer within {timeout:.1f}s", category=category, provider=spec.provider, model=spec.name
            ) from None
        except Exception as error:
            # An adapter must translate what its SDK raises into a ProviderError; anything else
            # (a TypeError from a bad argument, a bug in the adapter) is our fault, not the provider's.
            self.instruments.calls.labels(spec.provider, spec.name, ErrorCategory.LOCAL_FAULT.value).inc()
            log.error(
                "provider adapter %r raised %s: a local fault, not counted against the provider",
                spec.provider,
                type(error).__name__,
                exc_info=error,
            )
            raise ProviderError(
                f"local fault calling provider {spec.provider!r}: {type(error).__name__}",
                category=ErrorCategory.LOCAL_FAULT,
                provider=spec.provider,
                model=spec.name,
            ) from error
        elapsed = time.perf_counter() - started
        response.latency_ms = elapsed * 1000
        response.cost_usd = spec.cost(response.usage)
        response.source = Source.PROVIDER
        if not response.served_by:
            response.served_by = spec.provider
        owner = self.instruments
        owner.calls.labels(spec.provider, spec.name, "ok").inc()
        owner.latency.labels(spec.provider).observe(elapsed)
        owner.tokens.labels("input").inc(response.usage.input_tokens)
        owner.tokens.labels("output").inc(response.usage.output_tokens)
        owner.cost.inc(response.cost_usd)
        return response

    async def _recover(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> Retry | None:
        """Ask ``on_error`` what to do; return the retry to make, or None to raise ``error``."""
        decided = await self.dispatch.call_first("on_error", ctx, error=error, request=request, ctx=ctx)
        decision = decided[1] if decided else None
        if isinstance(decision, GiveUp):
            if decision.message:
                error.user_message = decision.message
            return None
        if not isinstance(decision, Retry):
            return None
        if error.category in NEVER_RETRIED:
            log.info("turn %s: %s is never retried", ctx.request_id, error.category.value)
            return None
        refusal = self.retry_refusal(ctx, decision.delay)
        if refusal is not None:
            log.info("turn %s: not retrying: %s", ctx.request_id, refusal)
            return None
        return decision

    def retry_refusal(self, ctx: TurnContext, delay: float) -> str | None:
        """Why the kernel would not make another attempt after ``delay`` s, or None when it would.

        The one place that says it: ``llm.max_attempts`` spent, or the turn's deadline
        coming before the attempt could start. Plugins deciding recovery (the circuit
        breaker) ask here instead of repeating the rule.
        """
        if ctx.attempt >= self.max_attempts:
            return f"llm.max_attempts ({self.max_attempts}) is spent"
        remaining = ctx.remaining()
        if remaining is not None and delay >= remaining:
            return "the turn's deadline comes first"
        return None

    # -- feedback ----------------------------------------------------------------------------------

    async def vote(self, request_id: str, voter_id: int, vote: str, *, at: float) -> tuple[VoteOutcome, Vote | None]:
        """Record ``voter_id``'s 👍 / 👎 on ``request_id``'s answer (the rules of :class:`FeedbackStore`).

        Returns the outcome and, when the vote counted, the recorded :class:`Vote`, to
        hand to :meth:`announce_vote` once the voter has been answered (a front end
        answers first: Discord gives a click 3 seconds).
        """
        outcome = await self.feedback.vote(request_id, voter_id, vote, at=at)
        if outcome is not VoteOutcome.RECORDED:
            return outcome, None
        return outcome, await self.feedback.vote_on(request_id)

    async def announce_vote(self, vote: Vote) -> None:
        """Call every plugin's ``answer_voted`` with a vote :meth:`vote` recorded (a failing plugin is isolated)."""
        ctx = TurnContext(guild_id=vote.guild_id, user_id=vote.asker_id, request_id=vote.request_id)
        await self.dispatch.call_all("answer_voted", ctx, vote=vote)

    # -- memory ----------------------------------------------------------------------------------

    @property
    def has_memory(self) -> bool:
        """True when some plugin implements long-term memory."""
        return bool(self.dispatch.implementations("store")) and bool(self.dispatch.implementations("query"))

    async def store(self, record: MemoryRecord, ctx: TurnContext) -> list[str]:
        """Store ``record`` in every memory plugin; return the ids they gave it."""
        return [str(result) for _plugin, result in await self.dispatch.call_all("store", ctx, record=record, ctx=ctx)]

    async def query(self, query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit]:
        """Search every memory plugin; merge, keep each record's best score, rank, cut to ``query.limit``.

        Whatever a plugin returns, only records of the query's guild are kept; outside a
        guild (a DM, the console) only the asking user's own records (``user_id`` equal,
        None for the operator), so one user's DM memories never reach another.
        """
        best: dict[str, MemoryHit] = {}
        for _plugin, hits in await self.dispatch.call_all("query", ctx, query=query, ctx=ctx):
            for hit in hits:
                if hit.record.guild_id != query.guild_id:  # None (a DM) only matches None
                    continue
                if query.guild_id is None and hit.record.user_id != query.user_id:
                    continue
                kept = best.get(hit.record.id)
                if kept is None or hit.score > kept.score:
                    best[hit.record.id] = hit
        return sorted(best.values(), key=lambda hit: hit.score, reverse=True)[: query.limit]

    async def forget(self, guild_id: int | None, user_id: int | None, ctx: TurnContext) -> int:
        """Delete memories of a guild (and user); return how many were deleted."""
        results = await self.dispatch.call_all("forget", ctx, guild_id=guild_id, user_id=user_id, ctx=ctx)
        return sum(int(count) for _plugin, count in results)

    # -- status ----------------------------------------------------------------------------------

    async def stats(self) -> dict[str, dict[str, Any]]:
        """Figures from the kernel and from every plugin's ``collect_stats``."""
        failures: dict[str, int] = {}
        for (plugin, _hook), count in self.dispatch.failures.items():
            failures[plugin] = failures.get(plugin, 0) + count
        figures: dict[str, dict[str, Any]] = {
            "kernel": {
                "default_model": self.default_model,
                "providers": sorted(self.providers),
                "plugins_loaded": sum(1 for info in self.plugins if info.loaded and not info.builtin),
                "plugin_failures": failures,
            }
        }
        for plugin, result in await self.dispatch.call_all("collect_stats"):
            figures[plugin] = dict(result)
        return figures

    async def usage_lines(self, guild_id: int | None, since: float) -> list[str]:
        """Every plugin's ``usage_lines`` for ``guild_id`` (None: direct messages) from ``since``, in plugin order."""
        lines: list[str] = []
        for _plugin, result in await self.dispatch.call_all("usage_lines", guild_id=guild_id, since=since):
            lines.extend(str(line) for line in result)
        return lines

    async def health(self) -> list[str]:
        """Short status lines: the kernel's, then each plugin's ``health_lines``."""
        lines = [f"model: {self.default_model} (providers: {', '.join(sorted(self.providers)) or 'none'})"]
        lines.extend(self.notices)
        lines.extend(self.ledger.health_lines())
        for info in self.plugins:
            if info.error:
                lines.append(f"plugin {info.name}: NOT LOADED ({info.error})")
        for _plugin, result in await self.dispatch.call_all("health_lines"):
            lines.extend(str(line) for line in result)
        return lines

    async def alert(self, message: str, *, channel_id: int | None = None) -> int:
        """Deliver an operator alert to every sender in ``alert_senders``; return how many delivered it.

        Plugins raise alerts (a provider failing, say); front ends deliver them (the Discord
        front end posts to ``channel_id``, with no mentions). A failing sender is logged.
        """
        delivered = 0
        for sender in list(self.alert_senders):
            try:
                await sender(message, channel_id)
            except Exception as error:  # noqa: BLE001 - an alert must never break the caller
                log.error("alert sender failed: %s", type(error).__name__)
                continue
            delivered += 1
        return delivered

    # -- per-guild plugin switches ---------------------------------------------------------------

    def plugin_info(self, name: str) -> PluginInfo | None:
        """What is known about plugin ``name`` (matched without regard to case), or None."""
        lowered = name.lower()
        return next((info for info in self.plugins if info.name.lower() == lowered), None)

    async def set_guild_plugin(self, guild_id: int, name: str, enabled: bool) -> None:
        """Switch a loaded plugin on or off for one guild, persisted, effective at once here.

        Other kernels on the same database (replicas) follow within
        ``guild_switch_refresh_seconds``.

        Raises ConfigurationError when ``name`` is not a loaded, switchable plugin.
        """
        info = self.plugin_info(name)
        if info is None or info.builtin or not info.loaded:
            raise ConfigurationError(f"no loaded plugin named {name!r}", key=f"plugins.{name}")
        async with self._switching:
            async with self.database.write_lock, self.database.session.begin() as session:
                await session.execute(
                    delete(GuildPluginSwitch).where(
                        GuildPluginSwitch.guild_id == guild_id, GuildPluginSwitch.plugin == info.name
                    )
                )
                session.add(GuildPluginSwitch(guild_id=guild_id, plugin=info.name, enabled=enabled))
            disabled = self.dispatch.disabled_for_guild.setdefault(guild_id, set())
            if enabled:
                disabled.discard(info.name)
            else:
                disabled.add(info.name)

    def plugin_enabled_for(self, guild_id: int | None, name: str) -> bool:
        """Whether plugin ``name`` runs for turns of ``guild_id``."""
        info = self.plugin_info(name)
        if info is None or not info.loaded:
            return False
        return guild_id is None or info.name not in self.dispatch.disabled_for_guild.get(guild_id, set())

    async def _load_guild_switches(self) -> None:
        """Replace the dispatcher's per-guild switches with what the database says now.

        Holds the switch lock from the read to the replacement, so a switch made here
        meanwhile is applied after it (never overwritten by the older read).
        """
        async with self._switching:
            async with self.database.session() as session:
                rows = (await session.execute(select(GuildPluginSwitch))).scalars().all()
            disabled: dict[int, set[str]] = {}
            for row in rows:
                if not row.enabled:
                    disabled.setdefault(row.guild_id, set()).add(row.plugin)
            self.dispatch.disabled_for_guild = disabled

    async def _refresh_guild_switches(self) -> None:
        """Re-read switches every ``guild_switch_refresh_seconds``, so replicas follow each other's changes."""
        while True:
            await asyncio.sleep(self.switch_refresh_seconds)
            try:
                await self._load_guild_switches()
            except Exception as error:  # noqa: BLE001 - keep the last known switches and try again
                log.warning("reloading per-guild plugin switches failed: %s", type(error).__name__)
