"""The plugin contract: every hook the kernel calls, and what it does with the result.

Implementations may be plain functions or ``async def``; the kernel awaits what
needs awaiting. An implementation that raises is logged with its plugin's name,
counted in ``intelbot_plugin_failures_total`` and skipped: the turn goes on.

Order within a hook: implementations marked ``tryfirst=True`` run first, then the
unmarked ones, then those marked ``trylast=True``. Within a mark, a plugin's
``intelbot_order`` attribute (default 0) sorts it, lower first; ties keep registration
order: objects given directly, then installed plugins alphabetically, then built-ins.
By convention guards (moderation, policy) are ``tryfirst`` with ``intelbot_order =
GUARD_ORDER``, so they see every turn, cache hits included; caches are ``tryfirst``;
memory augmentation is unmarked; model routing is ``trylast`` (order below 100) and the
circuit breaker is ``trylast`` with ``intelbot_order = 100``, so it has the last word on
the model.

(The paragraph above is the one statement of the call order; docs/hooks.md quotes it
and tests/test_contract_docs.py keeps the two in step.)

The registration hooks (``register_providers``, ``register_commands``,
``discord_loaders``, ``check_settings``) are called synchronously and must not need
``startup`` to have run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from intelbot.contract import (
        LLMRequest,
        LLMResponse,
        MemoryHit,
        MemoryQuery,
        MemoryRecord,
        RecoveryDecision,
        TurnContext,
    )
    from intelbot.data.feedback import Vote
    from intelbot.errors import IntelbotError
    from intelbot.kernel import Kernel
    from intelbot.providers.base import Provider

PROJECT = "intelbot"
GUARD_ORDER = -1000
"""``intelbot_order`` of guard plugins: with ``tryfirst`` they run before caches (order 0)."""
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register: Callable[[Provider], None], settings: Any) -> None:
    """Called once at start-up; call ``register(provider)`` for each provider this plugin offers."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Called when the CLI is built (not for the built-in leaf commands ask/chat/run/stats); add click commands or
    groups to ``cli``."""


@hookspec
def discord_loaders() -> Any:
    """Called when the Discord front end starts; return a ``lightbulb.Loader`` (or a list) of this plugin's commands."""


@hookspec
def check_settings(settings: Any) -> None:
    """Called by ``intelbot config check`` and at start-up; raise ConfigurationError naming the first bad key.

    Read this plugin's own table (``intelbot.settings.plugin_table(settings, name)``)
    and validate it without opening anything. A raised ConfigurationError stops
    start-up with a message naming the key and the file.
    """


@hookspec
def startup(kernel: Kernel) -> None:
    """Called once after the database and providers are ready; open resources here.

    ``kernel.database.engine``, ``kernel.metrics`` and ``kernel.plugin_settings(name)``
    are available. A plugin whose ``startup`` raises is unregistered and reported.
    """


@hookspec
def shutdown(kernel: Kernel) -> None:
    """Called once when the kernel stops; release what ``startup`` opened."""


@hookspec
def before_llm_call(request: LLMRequest, ctx: TurnContext) -> LLMResponse | LLMRequest | None:
    """Called before each attempt to reach a model; may change the request or answer it.

    It may change ``request`` in place, return a new request, or return a response.

    A returned ``LLMResponse`` ends the call there (a cache hit): later implementations
    and the provider are skipped, and ``after_llm_call`` still sees it. A returned
    ``LLMRequest`` replaces the request for later implementations and the provider.
    """


@hookspec
def reachable_models(model: str) -> list[str] | None:
    """Called to price a turn before it runs (spending caps); return every model this plugin may move it to.

    A turn asking for ``model`` may be answered by another model (a fallback, a route):
    return their names so the turn is priced at the dearest. None: this plugin never
    changes the model.
    """


@hookspec
def after_llm_call(request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
    """Called with every successful response, from a provider or a plugin; return value ignored."""


@hookspec
def on_error(error: IntelbotError, request: LLMRequest, ctx: TurnContext) -> RecoveryDecision | None:
    """Called after every failed attempt; the first ``Retry`` or ``GiveUp`` returned decides, ``None`` passes.

    With no decision the error is raised to the caller. ``ctx.attempt`` counts
    attempts so far in this turn; the kernel stops at ``llm.max_attempts`` whatever the plugins say.
    """


@hookspec
def answer_voted(vote: Vote) -> None:
    """Called once after the asker's 👍 / 👎 on an answer is recorded (:meth:`Kernel.vote`); return value ignored.

    ``vote.request_id`` is the answered turn's ``TurnContext.request_id``. It runs on the
    process that recorded the vote, after the vote's transaction has committed and after
    the voter was answered, and is skipped for plugins switched off in ``vote.guild_id``.
    A plugin that keeps replicas in step tells them itself (through the database). A
    vote is announced at most once: if the process stops between recording and
    announcing it, the vote stays in ``answer_feedback`` but is not announced.
    """


@hookspec
def store(record: MemoryRecord, ctx: TurnContext) -> str | None:
    """Called to save a long-term memory; return the stored id, or None when this plugin did not store it."""


@hookspec
def query(query: MemoryQuery, ctx: TurnContext) -> list[MemoryHit] | None:
    """Called to search long-term memory; return hits.

    Results of all implementations are merged, de-duplicated by record id, limited to
    the query's guild (``guild_id`` None means direct messages, and matches only
    records with no guild), ranked by score and cut to ``query.limit``.
    """


@hookspec
def forget(guild_id: int | None, user_id: int | None, ctx: TurnContext) -> int | None:
    """Called to delete memories of a guild (and user when given); return how many were deleted.

    ``guild_id`` None means direct messages (records with no guild), never "every guild".
    """


@hookspec
def collect_stats() -> dict[str, Any] | None:
    """Called by ``intelbot stats``, the console's /stats and the metrics dashboard; return flat JSON-able figures."""


@hookspec
def usage_lines(guild_id: int | None, since: float) -> list[str] | None:
    """Called by /usage for a guild (None: direct messages) from ``since`` (epoch seconds); return short lines."""


@hookspec
def health_lines() -> list[str] | None:
    """Called by /health; return short human-readable status lines for this plugin."""
