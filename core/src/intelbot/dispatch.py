"""Calling hooks: ordering, awaiting, first-result semantics and failure isolation.

pluggy holds the registrations and the ``tryfirst``/``trylast`` marks; this module
does the calling, because pluggy cannot await (its ``firstresult`` stops at the
first coroutine object) and lets one raising implementation abort the others.
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from intelbot.contract import TurnContext
from intelbot.errors import CallRejected, ConfigurationError

log = logging.getLogger("intelbot.hooks")

FailureListener = Callable[[str, str], None]
ORDER_ATTRIBUTE = "intelbot_order"
"""A plugin may set ``intelbot_order = N`` (module or object attribute) to run later (higher)
or earlier (lower) than others of the same mark; the default is 0."""


@dataclass(frozen=True, slots=True)
class Implementation:
    """One plugin's implementation of one hook, ready to call."""

    plugin: str
    function: Callable[..., Any]
    argnames: tuple[str, ...]


class HookDispatcher:
    """Calls hook implementations in order, awaits results, isolates failures.

    Call order: ``tryfirst`` implementations, then unmarked ones, then ``trylast``;
    within a mark, by the plugin's ``intelbot_order`` (default 0, lower first), then in
    registration order (objects given directly, then installed plugins alphabetically,
    then built-ins). A plugin disabled for a guild
    (``disabled_for_guild``) is skipped for turns of that guild.
    """

    def __init__(self, manager: pluggy.PluginManager, *, trace: bool = False) -> None:
        self.manager = manager
        self.trace = trace
        self.failures: Counter[tuple[str, str]] = Counter()
        self.failure_listeners: list[FailureListener] = []
        self.disabled_for_guild: dict[int, set[str]] = {}
        self._cache: dict[str, tuple[Implementation, ...]] = {}

    def invalidate(self) -> None:
        """Forget the cached call order; call after registering or unregistering a plugin."""
        self._cache.clear()

    def implementations(self, hook: str) -> tuple[Implementation, ...]:
        """The implementations of ``hook`` in call order."""
        cached = self._cache.get(hook)
        if cached is not None:
            return cached
        caller = getattr(self.manager.hook, hook, None)
        if caller is None or not caller.has_spec():
            raise ValueError(f"no hook named {hook!r} (see intelbot.hookspecs)")
        ranked: list[tuple[int, int, Implementation]] = []
        for impl in reversed(caller.get_hookimpls()):
            mark = 0 if impl.tryfirst else 2 if impl.trylast else 1
            order = int(getattr(impl.plugin, ORDER_ATTRIBUTE, 0))
            ranked.append((mark, order, Implementation(impl.plugin_name, impl.function, tuple(impl.argnames))))
        ranked.sort(key=lambda item: (item[0], item[1]))  # stable: registration order breaks ties
        result = tuple(item[2] for item in ranked)
        self._cache[hook] = result
        return result

    def active(self, hook: str, ctx: TurnContext | None) -> Iterable[Implementation]:
        """The implementations of ``hook`` that run for ``ctx``: without those switched off for its guild."""
        impls = self.implementations(hook)
        if ctx is None or ctx.guild_id is None or not self.disabled_for_guild:
            return impls
        disabled = self.disabled_for_guild.get(ctx.guild_id)
        if not disabled:
            return impls
        return [impl for impl in impls if impl.plugin not in disabled]

    def _failed(self, impl: Implementation, hook: str, error: BaseException) -> None:
        self.failures[(impl.plugin, hook)] += 1
        log.error(
            "plugin %r failed in hook %s: %s: %s",
            impl.plugin,
            hook,
            type(error).__name__,
            error,
            exc_info=error if log.isEnabledFor(logging.DEBUG) else None,
        )
        for listener in self.failure_listeners:
            listener(impl.plugin, hook)

    def _trace(self, hook: str, impl: Implementation, started: float, result: Any) -> None:
        elapsed_us = (time.perf_counter() - started) * 1e6
        kind = "None" if result is None else type(result).__name__
        if isinstance(result, BaseException):
            kind = f"raised {kind}"
        print(f"[intelbot trace] {hook} plugin={impl.plugin} {elapsed_us:.1f}us -> {kind}", file=sys.stderr)

    async def call_one(
        self,
        impl: Implementation,
        hook: str,
        kwargs: dict[str, Any],
        *,
        propagate: tuple[type[Exception], ...] = (),
    ) -> tuple[bool, Any]:
        """Call one implementation; returns (ok, result).

        ``CallRejected`` and the exception types in ``propagate`` reach the caller; any
        other exception is logged, counted and reported as ``(False, None)``.
        """
        started = time.perf_counter() if self.trace else 0.0
        try:
            result = impl.function(*[kwargs[name] for name in impl.argnames])
            if inspect.isawaitable(result):
                result = await result
        except CallRejected:
            raise
        except Exception as error:
            if propagate and isinstance(error, propagate):
                raise
            if self.trace:
                self._trace(hook, impl, started, error)
            self._failed(impl, hook, error)
            return False, None
        if self.trace:
            self._trace(hook, impl, started, result)
        return True, result

    async def call_all(self, hook: str, ctx: TurnContext | None = None, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation; return ``(plugin, result)`` for each non-None result."""
        results: list[tuple[str, Any]] = []
        for impl in self.active(hook, ctx):
            ok, result = await self.call_one(impl, hook, kwargs)
            if ok and result is not None:
                results.append((impl.plugin, result))
        return results

    async def call_first(self, hook: str, ctx: TurnContext | None = None, /, **kwargs: Any) -> tuple[str, Any] | None:
        """Call implementations in order until one returns non-None; return ``(plugin, result)``."""
        for impl in self.active(hook, ctx):
            ok, result = await self.call_one(impl, hook, kwargs)
            if ok and result is not None:
                return impl.plugin, result
        return None

    def call_all_sync(
        self, hook: str, /, *, problems: list[tuple[str, Exception]] | None = None, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call a registration hook synchronously; an implementation that returns an awaitable is a failure.

        A ``ConfigurationError`` is not isolated: bad settings must stop start-up with
        a message naming the key, not leave a provider silently unregistered. With
        ``problems`` given (``intelbot config check``), every exception is appended there
        as ``(plugin, error)`` instead, and the other implementations still run.
        """
        results: list[tuple[str, Any]] = []
        for impl in self.implementations(hook):
            started = time.perf_counter()
            try:
                result = impl.function(*[kwargs[name] for name in impl.argnames])
                if inspect.isawaitable(result):
                    if inspect.iscoroutine(result):
                        result.close()
                    raise TypeError(f"hook {hook} must not be async")
            except ConfigurationError as error:
                if problems is None:
                    raise
                problems.append((impl.plugin, error))
                continue
            except Exception as error:  # noqa: BLE001
                self._failed(impl, hook, error)
                if problems is not None:
                    problems.append((impl.plugin, error))
                continue
            if self.trace:
                self._trace(hook, impl, started, result)
            if result is not None:
                results.append((impl.plugin, result))
        return results
