"""The cost router plugin (entry point ``cost_router``): one :class:`CostRouterPlugin` per kernel.

- ``startup``: reads the router file (``intelbot router train --save`` writes it);
  loads the shared embedder only when the router needs one; opens its table.
- ``before_llm_call`` (``trylast``, ``intelbot_order = 50``: after caches and memory,
  before the circuit breaker's 100, which keeps the last word on the model): once per
  turn, unless the caller pinned the model, estimates the strong tier's benefit,
  compares it with the threshold for the prompt's content type, and moves
  ``request.model`` to the cheapest model of the chosen tier whose provider is
  configured. A cache hit ends the turn before this hook; a retry or fallback in
  the same turn is never re-routed.
- ``on_error`` (returns None: recovery is the breaker's): counts the routed turn's
  failed attempts and keeps the last error's category for its decision record.
- ``after_llm_call``: records the decision (tier, model, estimate, threshold, cost,
  what the strong tier would have cost, money saved, provider errors) and counts the
  savings.
- Re-asks (in ``after_llm_call``, so a turn the cache answers counts too): every
  answered turn checks whether the same asker (user,
  channel, guild) asks again, within ``reask_window_seconds``, what the router's last
  answer to them was for (:func:`intelbot.reask.asks_again`: the same text, or cosine
  >= 0.8 between the turn's prompt vector, when the turn already has one from the
  router's embedder, and the earlier one); the earlier decision is then marked
  ``reasked``. The last answer per asker is kept in memory (one replica's view).
- ``collect_stats`` / ``health_lines``: decisions and savings; which rule routes.
- ``usage_lines``: ``/usage`` shows the guild's routed turns today and the money saved,
  and, with ``budget_lowering``, the spend against the cap and the target in force
  (:mod:`intelbot_cost_router.budget`).
- ``register_commands``: ``intelbot router train|evaluate``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from intelbot.catalog import ModelSpec
from intelbot.contract import LLMRequest, LLMResponse, PromptEmbedding, Source, TurnContext
from intelbot.embedding import Embedder, embedder_from_settings, prompt_vector
from intelbot.embedding.factory import check_embedding_config, embedding_config
from intelbot.embedding.prompt import embedding_text
from intelbot.errors import ConfigurationError, IntelbotError
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot.reask import asks_again
from intelbot.settings import data_directory
from intelbot_cost_router.budget import BudgetCurve
from intelbot_cost_router.metrics import RouterMetrics
from intelbot_cost_router.router_file import RouterFileError, load_router
from intelbot_cost_router.routing import Choice, RoutingRule, model_for_tier
from intelbot_cost_router.settings import PREFIX, RouterSettings
from intelbot_cost_router.store import SCHEMA, Decision, DecisionStore
from intelbot_cost_router.training import TrainedRouter

if TYPE_CHECKING:
    import click

    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot.cost_router")
NAME = "cost_router"
_UNSET: Any = object()


def router_path(settings: Any, router_settings: RouterSettings) -> Path:
    """The router file: ``router_file`` when set, else ``<data_dir>/cost_router/router.json``."""
    if router_settings.router_file:
        return Path(router_settings.router_file)
    return data_directory(settings) / "cost_router" / "router.json"


def conversation_depth(request: LLMRequest) -> int:
    """Earlier user turns in the request's conversation (0 for a first question)."""
    return max(0, sum(1 for message in request.messages if message.role == "user") - 1)


@dataclass(slots=True)
class RouterTurn:
    """This turn's routing (``ctx.state(RouterTurn)``): decided once, on the first attempt."""

    decided: bool = False
    choice: Choice | None = None
    tier: str | None = None
    strong_model: ModelSpec | None = None
    provider_errors: int = 0
    error_category: str | None = None


@dataclass(frozen=True, slots=True)
class RoutedAnswer:
    """The router's last recorded answer to one asker, kept to notice a re-ask of it."""

    request_id: str
    at: float
    prompt: str
    vector: Any
    embedder: str | None


Asker = tuple[int | None, int, int]
"""(guild, channel, user) of a turn."""


def asker_of(ctx: TurnContext) -> Asker | None:
    """The turn's asker, or None when the turn has no user or channel (nothing to compare with)."""
    if ctx.user_id is None or ctx.channel_id is None:
        return None
    return (ctx.guild_id, ctx.channel_id, ctx.user_id)


def turn_vector(ctx: TurnContext, prompt: str) -> tuple[Any, str | None]:
    """The prompt vector this turn already has (from any plugin) and its embedder's name; never embeds."""
    if not ctx.has_state(PromptEmbedding):
        return None, None
    shared = ctx.state(PromptEmbedding)
    if shared.vector is None or shared.text != embedding_text(prompt):
        return None, None
    return shared.vector, shared.model


class CostRouterPlugin(Plugin[RouterSettings]):
    """Sends each turn to the weak or the strong tier by a learned (or default) estimate.

    ``embedder`` replaces the shared embedder from settings (None: no embedder);
    ``clock`` stamps decision records.
    """

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PluginSettings]] = RouterSettings
    intelbot_order: ClassVar[int] = 50

    def __init__(
        self,
        settings: RouterSettings,
        *,
        embedder: Embedder | None = _UNSET,
        clock: Any = time.time,
    ) -> None:
        super().__init__(settings)
        self.embedder_override = embedder
        self.clock = clock
        self.rule: RoutingRule | None = None
        self.embedder: Embedder | None = None
        self.store: DecisionStore | None = None
        self.metrics: RouterMetrics | None = None
        self.kernel: Kernel | None = None
        self.notices: list[str] = []
        self.router_file: Path | None = None
        self.budget: BudgetCurve | None = None
        self.daily_cap_usd = 0.0
        self.last_answers: dict[Asker, RoutedAnswer] = {}
        self.answers_pruned_at = float("-inf")

    # -- lifecycle -------------------------------------------------------------------------

    @hookimpl
    def check_settings(self, settings: Any) -> None:
        """Validate the embedder settings this plugin would use, without loading a model."""
        check_embedding_config(embedding_config(settings, self.settings.embedding))

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.notices = []
        self.router_file = router_path(kernel.settings, self.settings)
        router = self._read_router(self.router_file)
        if router is not None and router.model.uses_embedding:
            router = await self._with_embedder(kernel, router)
        self.rule = RoutingRule(router, default_threshold=self.settings.default_threshold)
        if router is not None and abs(router.quality_target - self.settings.quality_target) > 1e-9:
            self._notice(
                f"cost router: the router file was calibrated for quality_target {router.quality_target}, "
                f"settings say {self.settings.quality_target}: run `intelbot router train ... --save` again"
            )
        for tier in (self.settings.weak_tier, self.settings.strong_tier):
            if model_for_tier(kernel.catalog, kernel.providers, tier) is None:
                self._notice(f"cost router: no model of tier {tier!r} has a configured provider; such turns stay put")
        self._set_up_budget(kernel, router)
        await kernel.database.migrate(NAME, SCHEMA)
        self.store = DecisionStore(
            kernel.database.engine, kernel.database.write_lock, strong_tier=self.settings.strong_tier
        )
        self.metrics = RouterMetrics(kernel.metrics)
        log.info(
            "cost router: %s rule%s",
            self.rule.kind,
            f" from {self.router_file} ({router.candidate})" if router is not None else "",
        )

    def _set_up_budget(self, kernel: Kernel, router: TrainedRouter | None) -> None:
        """With ``budget_lowering``: the curve and the guilds' daily cap (notices when it cannot act)."""
        self.budget = None
        if not self.settings.budget_lowering:
            return
        self.daily_cap_usd = DiscordSettings.from_settings(kernel.settings, require_token=False).daily_guild_cap_usd
        if self.daily_cap_usd <= 0:
            self._notice("cost router: budget_lowering is on but discord.daily_guild_cap_usd is 0; nothing to lower")
            return
        if router is None or not router.target_thresholds:
            self._notice("cost router: budget_lowering needs a router file trained with target thresholds; off")
            return
        s = self.settings
        self.budget = BudgetCurve(s.quality_target, s.budget_start, s.budget_floor)

    async def budget_target(self, guild_id: int | None) -> tuple[float, float] | None:
        """``(spent today in USD, quality target)`` for ``guild_id`` when budget lowering applies, else None."""
        if self.budget is None or guild_id is None or self.kernel is None:
            return None
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        spent = (await self.kernel.ledger.summary(guild_id=guild_id, since=day)).cost_usd
        return spent, self.budget.target_at(spent / self.daily_cap_usd)

    def _notice(self, message: str) -> None:
        self.notices.append(message)
        log.warning(message)

    def _read_router(self, path: Path) -> TrainedRouter | None:
        if not path.exists() and not self.settings.router_file:
            return None
        try:
            return load_router(path)
        except RouterFileError as error:
            if self.settings.router_file:
                raise ConfigurationError(str(error), key=f"{PREFIX}.router_file", file=str(path)) from None
            self._notice(f"cost router: {error}; using the default rule")
            return None

    async def _with_embedder(self, kernel: Kernel, router: TrainedRouter) -> TrainedRouter | None:
        """``router`` when the embedder it was trained with is here, else None (with a notice)."""
        if not self.settings.use_embedding:
            self._notice("cost router: the router file needs an embedding but use_embedding = false; default rule")
            return None
        if self.embedder_override is _UNSET:
            embedder = await asyncio.to_thread(embedder_from_settings, kernel.settings, self.settings.embedding)
        else:
            embedder = self.embedder_override
        model = router.model
        if embedder is None or embedder.name != model.embedder or embedder.dimensions != model.dimensions:
            found = "none" if embedder is None else f"{embedder.name} ({embedder.dimensions} dimensions)"
            self._notice(
                f"cost router: the router file was trained with {model.embedder} ({model.dimensions} dimensions), "
                f"the embedder here is {found}; using the default rule"
            )
            return None
        self.embedder = embedder
        return router

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        self.rule = None
        self.store = None
        self.kernel = None

    # -- hooks -------------------------------------------------------------------------------

    @hookimpl(trylast=True)
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        """Route the turn's first attempt (unless the model is pinned); later attempts keep their model."""
        if self.rule is None or self.kernel is None or self.metrics is None:
            return
        turn = ctx.state(RouterTurn)
        if turn.decided:
            return
        turn.decided = True
        if request.model_pinned:
            return
        lowered = await self.budget_target(ctx.guild_id)
        threshold = None
        if lowered is not None and lowered[1] < self.settings.quality_target - 1e-9 and self.rule.router is not None:
            threshold = self.rule.router.threshold_at(lowered[1])
        vector = None
        if self.rule.needs_embedding and self.embedder is not None:
            vector = await prompt_vector(ctx, self.embedder, request.prompt)
        started = time.perf_counter()
        if request.tier:
            choice = None
            tier = request.tier
        else:
            choice = self.rule.decide(request.prompt, conversation_depth(request), vector, threshold=threshold)
            tier = self.settings.strong_tier if choice.strong else self.settings.weak_tier
        catalog, providers = self.kernel.catalog, self.kernel.providers
        spec = model_for_tier(catalog, providers, tier)
        self.metrics.latency.observe(time.perf_counter() - started)
        if spec is None:
            return
        request.model = spec.name
        turn.choice = choice
        turn.tier = tier
        turn.strong_model = model_for_tier(catalog, providers, self.settings.strong_tier)
        self.metrics.decisions.labels(tier).inc()

    async def _count_reask(self, prompt: str, ctx: TurnContext) -> bool:
        """Mark the router's last answer to this asker re-asked when this turn asks it again in the window."""
        asker = asker_of(ctx)
        window = self.settings.reask_window_seconds
        if asker is None or window <= 0 or self.store is None or self.metrics is None:
            return False
        earlier = self.last_answers.get(asker)
        if earlier is None or earlier.request_id == ctx.request_id or float(self.clock()) - earlier.at > window:
            return False
        vector, embedder = turn_vector(ctx, prompt)
        same_embedder = vector is not None and earlier.vector is not None and embedder == earlier.embedder
        if not asks_again(prompt, earlier.prompt, vector if same_embedder else None, earlier.vector):
            return False
        del self.last_answers[asker]
        if not await self.store.mark_reasked(earlier.request_id):
            return False
        self.metrics.evidence.labels("reask").inc()
        return True

    @hookimpl
    async def on_error(self, error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> None:
        """Count a failed attempt of a routed turn (its decision record carries it); never decides recovery."""
        if not ctx.has_state(RouterTurn):
            return
        turn = ctx.state(RouterTurn)
        if turn.tier is None:
            return
        turn.provider_errors += 1
        turn.error_category = error.category.value
        if self.metrics is not None:
            self.metrics.evidence.labels("error").inc()

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        """Count a re-ask of the router's last answer to this asker; record a routed turn's decision and cost."""
        if self.store is None or self.metrics is None:
            return
        await self._count_reask(request.prompt, ctx)
        if not ctx.has_state(RouterTurn):
            return
        turn = ctx.state(RouterTurn)
        if turn.tier is None or response.source is not Source.PROVIDER:
            return
        strong_cost = turn.strong_model.cost(response.usage) if turn.strong_model is not None else response.cost_usd
        saved = strong_cost - response.cost_usd
        if saved > 0:
            self.metrics.saved.inc(saved)
        choice = turn.choice
        await self.store.record(
            Decision(
                request_id=ctx.request_id,
                guild_id=ctx.guild_id,
                channel_id=ctx.channel_id,
                user_id=ctx.user_id,
                created_at=float(self.clock()),
                tier=turn.tier,
                model=response.model,
                rule="tier" if choice is None else choice.rule,
                content_type="" if choice is None else choice.content_type.value,
                estimate=0.0 if choice is None else choice.estimate,
                threshold=0.0 if choice is None else choice.threshold,
                cost_usd=response.cost_usd,
                strong_cost_usd=strong_cost,
                saved_usd=saved,
                complete=response.complete,
                prompt=request.prompt if self.settings.store_prompts else None,
                provider_errors=turn.provider_errors,
                error_category=turn.error_category,
            )
        )
        asker = asker_of(ctx)
        if asker is not None:
            now = float(self.clock())
            self._forget_answers_before(now - self.settings.reask_window_seconds)
            vector, embedder = turn_vector(ctx, request.prompt)
            self.last_answers[asker] = RoutedAnswer(ctx.request_id, now, request.prompt, vector, embedder)

    def _forget_answers_before(self, cutoff: float) -> None:
        """Drop the kept answers older than ``cutoff`` (they can no longer be re-asked), at most once a minute."""
        if cutoff - self.answers_pruned_at < 60.0:
            return
        self.answers_pruned_at = cutoff
        self.last_answers = {asker: answer for asker, answer in self.last_answers.items() if answer.at >= cutoff}

    # -- reporting ---------------------------------------------------------------------------

    @hookimpl
    async def collect_stats(self) -> dict[str, Any] | None:
        """Routed turns per tier and money saved, over every guild, from the decision records."""
        if self.store is None or self.rule is None:
            return None
        totals = await self.store.savings(every_guild=True)
        return {
            "rule": self.rule.kind,
            "decisions": totals.decisions,
            f"{self.settings.weak_tier}_turns": totals.weak,
            f"{self.settings.strong_tier}_turns": totals.strong,
            "cost_usd": round(totals.cost_usd, 6),
            "strong_tier_cost_usd": round(totals.strong_cost_usd, 6),
            "saved_usd": round(totals.saved_usd, 6),
        }

    @hookimpl
    async def usage_lines(self, guild_id: int | None, since: float) -> list[str] | None:
        """/usage: this guild's routed turns since ``since`` and the money routing saved against the strong tier."""
        if self.store is None:
            return None
        totals = await self.store.savings(guild_id=guild_id, since=since)
        weak, strong = self.settings.weak_tier, self.settings.strong_tier
        lines = [
            f"Routing today: {totals.decisions} turn{'' if totals.decisions == 1 else 's'} "
            f"({totals.weak} {weak}, {totals.strong} {strong}), ${totals.saved_usd:.4f} saved "
            f"(${totals.cost_usd:.4f} spent, ${totals.strong_cost_usd:.4f} on the {strong} tier)"
        ]
        lowered = await self.budget_target(guild_id)
        if lowered is not None:
            spent, target = lowered
            target_text = (
                f"quality target lowered from {self.settings.quality_target:.2f} to {target:.2f}"
                if target < self.settings.quality_target - 1e-9
                else f"quality target {target:.2f} (lowering starts at {self.settings.budget_start:.0%} of the cap)"
            )
            lines.append(f"Budget: ${spent:.4f} of ${self.daily_cap_usd:.4f} spent today; {target_text}")
        return lines

    @hookimpl
    def health_lines(self) -> list[str] | None:
        if self.rule is None:
            return None
        if self.rule.router is None:
            line = f"cost router: default text-only rule (threshold {self.settings.default_threshold})"
        else:
            router = self.rule.router
            line = (
                f"cost router: learned rule {router.candidate} from {self.router_file}, "
                f"quality target {router.quality_target}, threshold {router.threshold:.4f}"
            )
        return [line, *self.notices]

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        from intelbot_cost_router.cli import router_group

        cli.add_command(router_group)
