"""The circuit-breaker plugin (entry point ``circuit_breaker``): guard attempts, record outcomes, decide recovery.

The kernel makes one :class:`CircuitBreakerPlugin` per kernel. Per attempt:

- ``before_llm_call`` walks the turn's candidate chain (the requested model, then its
  fallbacks) and takes a permit from the first breaker that admits a call, moving
  ``request.model`` there; when every candidate is open it raises
  :class:`intelbot.errors.CallRejected` at once (the kernel gives it to the user);
- ``after_llm_call`` records a success (slow when over the slow-call duration);
- ``on_error`` records a failure (only ``failure_categories`` count; the others are
  ignored), feeds the error trends, and returns ``Retry`` or ``GiveUp`` (:mod:`recovery`).

Per-turn state is a :class:`BreakerTurn` (``ctx.state(BreakerTurn)``). A half-open probe whose
turn ends without an outcome (the task running the turn was cancelled) releases its
permit: a cancelled call says nothing about the provider's health.

With ``redis_url`` the breakers live in Redis; when Redis cannot be reached (at start-up
or later), they move to this process's memory and the plugin says so (a log line, a
``/health`` line, the ``intelbot_breaker_store_degraded`` gauge and the ``store`` stat)
instead of failing every hook.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import CollectorRegistry

from intelbot.catalog import ModelCatalog
from intelbot.contract import GiveUp, LLMRequest, LLMResponse, RecoveryDecision, Retry, Source, TurnContext
from intelbot.errors import CallRejected, ErrorCategory, IntelbotError
from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot_circuit_breaker.breakers import Breakers, breaker_name
from intelbot_circuit_breaker.metrics import BreakerMetrics
from intelbot_circuit_breaker.recovery import FailureFacts, decide
from intelbot_circuit_breaker.settings import CircuitBreakerSettings
from intelbot_circuit_breaker.state_machine import BreakerState, Outcome, Permit, Transition
from intelbot_circuit_breaker.store import (
    BreakerStore,
    FailoverBreakerStore,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from intelbot_circuit_breaker.trends import Alert, ErrorTrends

if TYPE_CHECKING:
    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot.circuit_breaker")

NAME = "circuit_breaker"


@dataclass(slots=True)
class BreakerTurn:
    """The breaker's state for one turn (``ctx.state(BreakerTurn)``), across its attempts.

    ``chain`` is the requested model and its fallbacks, fixed at the first attempt;
    ``permit`` and ``breaker`` are the permit taken for the attempt under way and the
    breaker that gave it; ``started`` is when that attempt began (``clock`` time);
    ``waited_out_hold`` names a model whose Retry-After the next retry has waited out;
    ``release_watch`` gives a probe permit back if the turn's task ends without an outcome.
    """

    chain: list[str] | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    permit: Permit | None = None
    breaker: str | None = None
    started: float | None = None
    waited_out_hold: str | None = None
    release_watch: tuple[asyncio.Task[Any], Callable[[asyncio.Future[Any]], None]] | None = None

    def candidates_after(self, model: str) -> list[str]:
        """The models of the chain after ``model`` (the whole chain after the first when ``model`` is not in it)."""
        chain = self.chain or []
        position = chain.index(model) if model in chain else -1
        return chain[position + 1 :]


class CircuitBreakerPlugin(Plugin[CircuitBreakerSettings]):
    """The circuit-breaker plugin for one kernel.

    ``clock`` (wall time, shared with other processes through Redis) and ``rng``
    (backoff jitter) are injectable for tests; ``store`` replaces the breaker store the
    settings choose. Alerts are delivered with
    ``kernel.alert(message, channel_id=trends.alert_channel_id)`` (front ends register
    senders on ``kernel.alert_senders``; the Discord front end posts to the channel);
    the kernel is the one given to ``startup`` and is dropped at ``shutdown``.
    """

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PluginSettings]] = CircuitBreakerSettings
    intelbot_order: ClassVar[int] = 100
    """Last among ``trylast`` implementations: the breaker has the last word on the model, after any router."""

    def __init__(
        self,
        settings: CircuitBreakerSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        store: BreakerStore | None = None,
    ) -> None:
        super().__init__(settings)
        self.given_store = store
        self.config: CircuitBreakerSettings | None = None
        self.clock = clock
        self.rng = rng or random.Random()
        self._store: BreakerStore | None = None
        self.catalog: ModelCatalog = ModelCatalog({})
        self.providers: set[str] | None = None
        self.breakers: Breakers | None = None
        self.trends: ErrorTrends | None = None
        self.metrics: BreakerMetrics | None = None
        self.kernel: Kernel | None = None
        self.alerts: list[Alert] = []
        self.store_problem: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._gauged: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def configure(
        self,
        config: CircuitBreakerSettings,
        catalog: ModelCatalog,
        registry: CollectorRegistry,
        *,
        providers: set[str] | None = None,
    ) -> None:
        """Build the breakers, trends and metrics (``startup`` calls this with the kernel's).

        ``providers`` names the providers that are configured; fallbacks served by
        another provider are skipped (None: all are assumed available).
        """
        self.config = config
        self.catalog = catalog
        self.providers = providers
        store = self.given_store
        if store is None:
            if config.redis_url:
                store = RedisBreakerStore(config.redis_url, prefix=config.redis_prefix)
            else:
                store = MemoryBreakerStore()
        if isinstance(store, RedisBreakerStore):
            store = FailoverBreakerStore(store)
        if isinstance(store, FailoverBreakerStore):
            store.listeners.append(self._on_store_failover)
        self._store = store
        self.store_problem = None
        self.breakers = Breakers(config.breaker, store, clock=self.clock)
        self.breakers.listeners.append(self._on_transition)
        self.trends = ErrorTrends(config.trends)
        self.metrics = BreakerMetrics(registry)
        self.metrics.store_degraded.set(0)
        self._gauged = set()
        missing = [
            model
            for chain in (*config.fallbacks.values(), *config.tier_fallbacks.values())
            for model in chain
            if model not in catalog
        ]
        for model in sorted(set(missing)):
            log.warning("circuit_breaker: fallback model %r is not in the model catalog; it will be skipped", model)

    async def check_store(self) -> bool:
        """Ping Redis when the breakers live there; unreachable: move them to memory and report it.

        True when the breakers are shared through Redis, False when they are in this process.
        """
        if isinstance(self._store, FailoverBreakerStore):
            return await self._store.check()
        return False

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        config = self.settings
        self.kernel = kernel
        self.configure(config, kernel.catalog, kernel.metrics, providers=set(kernel.providers))
        await self.check_store()
        if config.set_provider_max_retries:
            for provider in kernel.providers.values():
                provider.disable_sdk_retries()

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        await self.drain()
        if self._store is not None and self._store is not self.given_store:
            await self._store.aclose()
        self._store = None
        self.breakers = None
        self.kernel = None

    async def drain(self) -> None:
        """Wait for the work started in the background: alert deliveries and released probe permits."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the chain ---------------------------------------------------------------------------

    def chain_for(self, model: str) -> list[str]:
        """``model`` then its fallbacks: the model's own chain, else its tier's, without repeats."""
        assert self.config is not None
        chain = self.config.fallbacks.get(model)
        if chain is None:
            spec = self.catalog.get(model)
            chain = self.config.tier_fallbacks.get(spec.tier, ()) if spec is not None else ()
        result = [model]
        for item in chain:
            spec = self.catalog.get(item)
            if item in result or spec is None:
                continue
            if self.providers is not None and spec.provider not in self.providers:
                continue
            result.append(item)
        return result

    @hookimpl
    def reachable_models(self, model: str) -> list[str] | None:
        """The fallback chain of ``model``: spending caps price a turn at its dearest model."""
        if self.config is None:
            return None
        return self.chain_for(model)[1:]

    def _breaker_for(self, model: str) -> str:
        spec = self.catalog.get(model)
        return breaker_name(spec.provider if spec is not None else "unknown", model)

    def _turn(self, ctx: TurnContext, model: str) -> BreakerTurn:
        """This turn's state, with its candidate chain fixed at the first attempt (on ``model``)."""
        turn = ctx.state(BreakerTurn)
        if turn.chain is None:
            turn.chain = self.chain_for(model)
        return turn

    async def _first_admitting(self, models: list[str], *, larger_than: int | None = None) -> str | None:
        """The first of ``models`` whose breaker admits calls (and with a larger window, when asked)."""
        assert self.breakers is not None
        for model in models:
            spec = self.catalog.get(model)
            if spec is None or (larger_than is not None and spec.context_window <= larger_than):
                continue
            if not await self.breakers.is_rejecting(self._breaker_for(model)):
                return model
        return None

    # -- hooks -------------------------------------------------------------------------------

    @hookimpl(trylast=True)
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        """Take a permit for ``request.model`` or the first fallback that admits calls; else refuse the call."""
        if self.breakers is None or self.metrics is None:
            return
        turn = self._turn(ctx, request.model)
        requested = request.model
        if requested not in self.catalog:
            return  # not a catalog model: the kernel reports it
        candidates = [requested, *turn.candidates_after(requested)]
        refused: list[str] = []
        for model in candidates:
            if model not in self.catalog:
                continue
            name = self._breaker_for(model)
            past_hold = turn.waited_out_hold == model
            turn.waited_out_hold = None
            permit = await self.breakers.acquire(name, past_hold=past_hold)
            if name not in self._gauged:
                self._gauged.add(name)
                self.metrics.state.labels(name).set((await self.breakers.view(name)).state.gauge_value)
            if not permit.granted:
                self.metrics.rejected.labels(name).inc()
                refused.append(model)
                continue
            if model != requested:
                self.metrics.fallbacks.labels(requested, model).inc()
                log.info("turn %s: breaker of %s is open, using fallback %s", ctx.request_id, requested, model)
                request.model = model
            turn.permit = permit
            turn.breaker = name
            turn.started = self.clock()
            turn.attempts[model] = turn.attempts.get(model, 0) + 1
            if permit.probe:
                self._release_if_abandoned(turn, name, permit)
            return
        await self._refuse(refused, ctx)

    def _release_if_abandoned(self, turn: BreakerTurn, name: str, permit: Permit) -> None:
        """Release the probe ``permit`` when the task running the turn ends before its outcome is recorded.

        That happens when the turn is cancelled (``asyncio.CancelledError`` passes through the
        kernel without ``on_error``): the probe is given back instead of holding the half-open
        slot until ``max_wait_in_half_open_seconds`` reopens the breaker with a longer wait.
        """
        task = asyncio.current_task()
        if task is None:
            return

        def release(_task: asyncio.Future[Any]) -> None:
            if turn.permit is not permit or self.breakers is None:
                return
            turn.permit = None
            turn.release_watch = None
            log.info("a probe of breaker %s ended without an outcome (cancelled): permit released", name)
            self._in_background(self.breakers.record(name, permit, Outcome.IGNORED), "releasing a probe permit")

        task.add_done_callback(release)
        turn.release_watch = (task, release)

    async def _refuse(self, refused: list[str], ctx: TurnContext) -> None:
        assert self.breakers is not None
        views = [await self.breakers.view(self._breaker_for(model)) for model in refused]
        ends = [max(view.open_until if view.state is BreakerState.OPEN else 0.0, view.hold_until) for view in views]
        soonest = min((end for end in ends if end > 0), default=None)
        wait = f" Please try again in about {max(1, round(soonest - self.clock()))} s." if soonest is not None else ""
        names = ", ".join(refused) or "none"
        raise CallRejected(
            f"every candidate model has an open circuit breaker ({names})",
            category=ErrorCategory.CIRCUIT_OPEN,
            user_message=f"The AI models are unavailable right now (circuit open for: {names}).{wait}",
        )

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        """Record a success for the breaker that admitted this attempt."""
        if self.breakers is None or self.trends is None:
            return
        if not ctx.has_state(BreakerTurn) or ctx.state(BreakerTurn).permit is None:
            return
        turn = ctx.state(BreakerTurn)
        permit, name = await self._settle_permit(turn, request)
        if response.source is not Source.PROVIDER:
            await self.breakers.record(name, permit, Outcome.IGNORED)  # answered elsewhere: release the permit
            return
        assert self.config is not None
        started = turn.started if turn.started is not None else self.clock()
        elapsed = response.latency_ms / 1000 if response.latency_ms else self.clock() - started
        slow = elapsed >= self.config.breaker.slow_call_duration_seconds
        await self.breakers.record(name, permit, Outcome.SUCCESS, slow=slow)
        provider = name.split("/", 1)[0]
        self._raise_alerts(self.trends.record(provider, None, self.clock()))

    @hookimpl
    async def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> RecoveryDecision | None:
        """Record the failure, then decide: retry here, move to a fallback, or give up."""
        if self.breakers is None or self.trends is None or self.metrics is None or self.config is None:
            return None
        turn = self._turn(ctx, request.model)
        permit, name = await self._settle_permit(turn, request)
        model = request.model
        category = error.category
        started = turn.started if turn.started is not None else self.clock()
        slow = self.clock() - started >= self.config.breaker.slow_call_duration_seconds
        outcome = Outcome.FAILURE if category in self.config.breaker.failure_categories else Outcome.IGNORED
        await self.breakers.record(name, permit, outcome, slow=slow)
        if error.retry_after is not None and category in self.config.retry.honour_retry_after:
            await self.breakers.hold(name, error.retry_after)
        if category in self.config.retry.fallback_only_on:  # a revoked key or no quota does not heal in seconds
            await self.breakers.hold(name, self.config.retry.provider_hold_seconds)
            log.warning("breaker %s: %s, held for %.0fs", name, category.value, self.config.retry.provider_hold_seconds)
        provider = name.split("/", 1)[0]
        self.metrics.errors.labels(provider, category.value).inc()
        self._raise_alerts(self.trends.record(provider, category, self.clock()))

        later = turn.candidates_after(model)
        spec = self.catalog.get(model)
        view = await self.breakers.view(name)
        facts = FailureFacts(
            category=category,
            retry_after=error.retry_after,
            attempts_on_model=turn.attempts.get(model, 1),
            breaker_open=view.state is not BreakerState.CLOSED and view.rejecting,
            remaining=ctx.remaining(),
            fallback=await self._first_admitting(later),
            larger_fallback=(
                await self._first_admitting(later, larger_than=spec.context_window)
                if category is ErrorCategory.CONTEXT_LENGTH_EXCEEDED and spec is not None
                else None
            ),
        )
        decision = decide(facts, self.config.retry, self.rng)
        if isinstance(decision, Retry):
            refusal = self.kernel.retry_refusal(ctx, decision.delay) if self.kernel is not None else None
            if refusal is not None:
                return GiveUp(reason=f"{decision.reason}, but {refusal}")
            if decision.model is None and facts.retry_after is not None and decision.delay >= facts.retry_after:
                turn.waited_out_hold = model  # this retry waited the Retry-After: it may pass the hold
            self.metrics.retries.labels(category.value).inc()
            log.info("turn %s: %s", ctx.request_id, decision.reason)
        elif facts.breaker_open and facts.fallback is None:
            return GiveUp(
                reason=decision.reason,
                message=f"The AI models are unavailable right now (circuit open for {model}, no fallback available).",
            )
        return decision

    async def _settle_permit(self, turn: BreakerTurn, request: LLMRequest) -> tuple[Permit, str]:
        """The permit and breaker to record this attempt's outcome on.

        When a plugin called after this one changed ``request.model``, the permit taken
        for the earlier model is released and the outcome goes to the model actually called.
        """
        assert self.breakers is not None
        if turn.release_watch is not None:
            task, release = turn.release_watch
            task.remove_done_callback(release)
            turn.release_watch = None
        permit, turn.permit = turn.permit, None
        name = self._breaker_for(request.model)
        if permit is not None and turn.breaker is not None and turn.breaker != name:
            await self.breakers.record(turn.breaker, permit, Outcome.IGNORED)
            permit = None
        if permit is None:
            turn.attempts[request.model] = turn.attempts.get(request.model, 0) + 1
            if turn.started is None:
                turn.started = self.clock()
        return permit or Permit(granted=True), name

    # -- reporting ---------------------------------------------------------------------------

    @hookimpl
    async def collect_stats(self) -> dict[str, Any] | None:
        """Each breaker's state, trips and window figures, and the plugin's counters."""
        if self.breakers is None or self.metrics is None:
            return None
        stats: dict[str, Any] = {}
        for view in await self.breakers.views():
            self.metrics.state.labels(view.name).set(view.state.gauge_value)  # replicas may have changed it
            stats[f"{view.name}.state"] = view.state.value
            stats[f"{view.name}.trips"] = view.trips
            stats[f"{view.name}.calls"] = view.totals.calls
            stats[f"{view.name}.failure_rate"] = round(view.totals.failure_rate, 4)
            stats[f"{view.name}.rejected"] = self.metrics.value(
                "intelbot_breaker_rejected_calls_total", {"breaker": view.name}
            )
        stats["alerts"] = len(self.alerts)
        stats["store"] = self._store_kind()
        return stats

    def _store_kind(self) -> str:
        """``redis``, ``memory``, or ``memory (redis unreachable)`` when Redis failed."""
        if isinstance(self._store, FailoverBreakerStore):
            return "memory (redis unreachable)" if self._store.degraded else "redis"
        return "redis" if isinstance(self._store, RedisBreakerStore) else "memory"

    @hookimpl
    async def health_lines(self) -> list[str] | None:
        """One line per breaker (state, window figures) and per provider (recent error trend)."""
        if self.breakers is None or self.trends is None:
            return None
        now = self.clock()
        lines: list[str] = []
        if isinstance(self._store, FailoverBreakerStore):  # the Redis location is for managers only
            lines.append(f"breaker store: {self._store.failover.status()}")
        for view in await self.breakers.views():
            if view.state is BreakerState.OPEN:
                left = view.open_until - now
                status = f"OPEN, probe in {left:.0f}s" if left > 0 else "OPEN, probe due"
            else:
                status = view.state.value.upper().replace("_", "-")
            if view.hold_until > now:
                status += f", on hold (Retry-After) for {view.hold_until - now:.0f}s"
            lines.append(
                f"breaker {view.name}: {status}; {view.totals.calls} recent calls, "
                f"failure rate {view.totals.failure_rate:.0%}, trips {view.trips}"
            )
        lines.extend(f"errors {self.trends.trend_line(provider, now)}" for provider in self.trends.providers())
        return lines

    # -- events ------------------------------------------------------------------------------

    def _on_transition(self, name: str, transition: Transition) -> None:
        assert self.metrics is not None
        self.metrics.state.labels(name).set(transition.after.gauge_value)
        self.metrics.transitions.labels(name, transition.before.value, transition.after.value).inc()
        level = logging.WARNING if transition.after is BreakerState.OPEN else logging.INFO
        log.log(
            level, "breaker %s: %s -> %s (%s)", name, transition.before.value, transition.after.value, transition.reason
        )

    def _on_store_failover(self, reason: str | None) -> None:
        """Redis left (``reason``) or came back (None); the failover logs the one line about it."""
        self.store_problem = reason
        if self.metrics is not None:
            self.metrics.store_degraded.set(0 if reason is None else 1)

    def _raise_alerts(self, alerts: list[Alert]) -> None:
        """Log, count and deliver ``alerts`` (through ``kernel.alert``, in the background: never in a turn's way)."""
        assert self.metrics is not None and self.config is not None
        for alert in alerts:
            self.alerts.append(alert)
            del self.alerts[:-100]
            self.metrics.alerts.labels(alert.provider, alert.category.value, alert.kind).inc()
            log.warning("alert: %s", alert.message)
            if self.kernel is not None:
                channel_id = self.config.trends.alert_channel_id
                self._in_background(self.kernel.alert(alert.message, channel_id=channel_id), "alert delivery")

    def _in_background(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``work`` without waiting for it (:meth:`drain` does); a failure is logged, never raised."""
        task = asyncio.ensure_future(_logged(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _logged(work: Coroutine[Any, Any, Any], what: str) -> None:
    try:
        await work
    except Exception as error:  # noqa: BLE001 - background work must never break a turn
        log.error("circuit_breaker: %s failed: %s", what, type(error).__name__)
