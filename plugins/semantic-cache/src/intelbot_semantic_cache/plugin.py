"""The semantic cache plugin (entry point ``semantic_cache``): one :class:`SemanticCachePlugin` per kernel.

- ``startup``: picks the embedder (``[default.embedding]`` plus this plugin's
  ``embedding`` overrides; with none available the cache keeps working on exact
  matches and says so), opens the tables in the kernel's database and the index file
  in the data directory.
- ``before_llm_call`` (``tryfirst``): exact match, then semantic match; a hit is
  returned as an ``LLMResponse`` with ``source=cache`` and ends the call.
- ``after_llm_call``: stores complete provider answers to cacheable requests.
- ``answer_voted``: the asker's 👍 / 👎 on a hit (or on an answer it stored) tunes
  that entry's own threshold or drops it (``learn_from_feedback``, :mod:`.outcomes`).
- the change feed: every ``change_poll_seconds`` a task applies the entries other
  replicas on the same database stored, cleared or expired (:mod:`.change_feed`).
- ``collect_stats`` / ``health_lines``: the figures of :meth:`SemanticCache.stats`.
- ``register_commands``: ``intelbot cache stats|clear|calibrate``.
- ``discord_loaders``: ``/cache stats`` and ``/cache clear``.

Commands reach the running cache through the kernel:
``kernel.plugin("semantic_cache", SemanticCachePlugin).cache``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from intelbot.contract import LLMRequest, LLMResponse, TurnContext
from intelbot.data.feedback import Vote
from intelbot.embedding import Embedder, embedder_from_settings
from intelbot.embedding.factory import check_embedding_config, embedding_config
from intelbot.errors import ConfigurationError
from intelbot.hookspecs import hookimpl
from intelbot.plugin import Plugin, PluginSettings
from intelbot.settings import data_directory
from intelbot_semantic_cache.cache import PLUGIN_NAME, SemanticCache
from intelbot_semantic_cache.change_feed import ChangeFollower
from intelbot_semantic_cache.matching import MatchRule
from intelbot_semantic_cache.metrics import CacheMetrics
from intelbot_semantic_cache.settings import CacheSettings
from intelbot_semantic_cache.store import CACHE_SCHEMA, CacheStore

if TYPE_CHECKING:
    import click

    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot_semantic_cache")
_UNSET: Any = object()


def cache_paths(settings: Any, cache_settings: CacheSettings) -> tuple[Path, Path]:
    """(index file, calibration file) for these settings."""
    base = data_directory(settings) / "semantic_cache"
    index = Path(cache_settings.index_file) if cache_settings.index_file else base / "index.npz"
    calibration = (
        Path(cache_settings.calibration_file) if cache_settings.calibration_file else base / "calibration.json"
    )
    return index, calibration


def match_rule(cache_settings: CacheSettings, calibration: Path, embedder: Embedder | None) -> MatchRule:
    """The calibration file's rule when there is one (an explicitly named file must exist), else plain cosine."""
    if embedder is None:
        return MatchRule(cache_settings.similarity_threshold)
    if calibration.exists():
        return MatchRule.load(calibration, embedder=embedder.name, dimensions=embedder.dimensions)
    if cache_settings.calibration_file:
        raise ConfigurationError(
            "the calibration file does not exist", key="plugins.semantic_cache.calibration_file", file=str(calibration)
        )
    return MatchRule(cache_settings.similarity_threshold, embedder=embedder.name)


class SemanticCachePlugin(Plugin[CacheSettings]):
    """One cache bound to one kernel between ``startup`` and ``shutdown``.

    ``clock`` is the wall clock the cache uses for lifetimes; ``embedder`` replaces
    the one from settings (None: no embedder, exact matches only).
    """

    name: ClassVar[str] = PLUGIN_NAME
    settings_model: ClassVar[type[PluginSettings]] = CacheSettings

    def __init__(
        self,
        settings: CacheSettings,
        *,
        clock: Callable[[], float] = time.time,
        embedder: Embedder | None = _UNSET,
    ) -> None:
        super().__init__(settings)
        self.clock = clock
        self.embedder_override = embedder
        self.cache: SemanticCache | None = None
        self.follower: ChangeFollower | None = None
        self.notices: list[str] = []

    @hookimpl
    def check_settings(self, settings: Any) -> None:
        """Validate the embedder settings this plugin would use, without loading a model."""
        check_embedding_config(embedding_config(settings, self.settings.embedding))

    @hookimpl
    async def startup(self, kernel: Kernel) -> None:
        settings = self.settings
        if self.embedder_override is _UNSET:
            embedder = await asyncio.to_thread(embedder_from_settings, kernel.settings, settings.embedding)
        else:
            embedder = self.embedder_override
        self.notices = []
        if embedder is None:
            self.notices.append("semantic cache: no embedder available, serving exact matches only")
            log.warning(self.notices[-1])
        index_path, calibration_path = cache_paths(kernel.settings, settings)
        await kernel.database.migrate(PLUGIN_NAME, CACHE_SCHEMA)
        cache = SemanticCache(
            settings,
            CacheStore(kernel.database.engine, kernel.database.write_lock),
            embedder,
            rule=match_rule(settings, calibration_path, embedder),
            metrics=CacheMetrics(kernel.metrics),
            clock=self.clock,
            index_path=index_path,
            catalog=kernel.catalog,
        )
        await cache.open()
        self.cache = cache
        if settings.change_poll_seconds > 0:
            self.follower = ChangeFollower(cache, settings.change_poll_seconds)
            self.follower.start()
        log.info(
            "semantic cache: %d entries, index %s (%s), rule %s at %.4f, embedder %s",
            len(cache.entries),
            settings.index,
            cache.index_status,
            cache.rule.kind,
            cache.rule.threshold,
            embedder.name if embedder else "none",
        )

    @hookimpl
    async def shutdown(self, kernel: Kernel) -> None:
        if self.follower is not None:
            await self.follower.stop()
            self.follower = None
        if self.cache is not None:
            await self.cache.close()
        self.cache = None

    @hookimpl(tryfirst=True)
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> LLMResponse | None:
        if self.cache is None:
            return None
        return await self.cache.lookup(request, ctx)

    @hookimpl
    async def after_llm_call(self, request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
        if self.cache is not None:
            await self.cache.store_response(request, response, ctx)

    @hookimpl
    async def answer_voted(self, vote: Vote) -> None:
        if self.cache is not None:
            await self.cache.learn_from_vote(vote)

    @hookimpl
    def collect_stats(self) -> dict[str, Any] | None:
        return None if self.cache is None else self.cache.stats()

    @hookimpl
    def health_lines(self) -> list[str] | None:
        if self.cache is None:
            return None
        figures = self.cache.stats()
        lines = [
            f"semantic cache: {figures['entries']} entries, hit rate {figures['hit_rate']:.1%}, "
            f"{figures['tokens_saved']} tokens / ${figures['usd_saved']:.4f} saved"
        ]
        return lines + self.notices

    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        from intelbot_semantic_cache.cli import cache_group

        cli.add_command(cache_group)

    @hookimpl
    def discord_loaders(self) -> Any:
        from intelbot_semantic_cache.discord_commands import loader

        return loader()


def running_cache(kernel: Kernel) -> SemanticCache | None:
    """The cache running in ``kernel`` (None when the plugin is not loaded or not started there)."""
    plugin = kernel.plugin(PLUGIN_NAME, SemanticCachePlugin)
    return None if plugin is None else plugin.cache
