"""The Discord front end: a hikari app and a lightbulb client wired to the kernel.

``mode = "gateway"`` runs a :class:`hikari.GatewayBot` (a long-lived websocket);
``mode = "interactions"`` runs a :class:`hikari.RESTBot`, an HTTP interaction
server that checks Discord's Ed25519 signatures and keeps no session state in
the process (only the per-user rate-limit windows and the spending reservations of
the calls it is running, unless they are in Redis), so replicas can run behind a
load balancer. Both register the same
commands: the built-in ones (:mod:`intelbot.frontends.discord.commands`) and those that
enabled plugins return from the ``discord_loaders`` hook.

:func:`run_discord` is the entry point used by ``intelbot run``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import hikari
import lightbulb
from prometheus_client import Gauge

from intelbot.frontends.discord import replies
from intelbot.frontends.discord.commands import LOADERS
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.frontends.discord.feedback import listen_for_clicks
from intelbot.frontends.discord.guards import (
    FailoverSlidingWindowLimit,
    Guards,
    RateWindow,
    RedisSlidingWindowLimit,
    SlidingWindowLimit,
)
from intelbot.frontends.discord.services import DiscordServices
from intelbot.frontends.discord.tracker import CommandTracker
from intelbot.kernel import Kernel
from intelbot.redis_failover import RedisFailover
from intelbot.spending import SpendingCap, SpendingSettings, ledger_spent, reservations_from_settings

log = logging.getLogger("intelbot.frontends.discord")

FAILURE_MESSAGE = "Sorry, something went wrong while running this command. It has been logged."
SWITCHED_OFF_MESSAGE = "`{plugin}` is turned off in this server, so its commands are too (see `/plugins list`)."
SHUTDOWN_GRACE_SECONDS = 10.0


class PluginSwitchedOff(Exception):
    """Raised by the check that stops a plugin's command in a guild where the plugin is switched off."""


def command_root(ctx: lightbulb.Context) -> object:
    """The registered object a command belongs to: its command class, or the group at the top of its path."""
    parent: Any = ctx.command_data.parent
    while parent is not None and getattr(parent, "parent", None) is not None:
        parent = parent.parent
    return parent if parent is not None else type(ctx.command)


def plugin_loaders(kernel: Kernel) -> list[tuple[str, lightbulb.Loader]]:
    """The lightbulb Loaders that loaded plugins return from ``discord_loaders`` (a Loader or a list of them)."""
    found: list[tuple[str, lightbulb.Loader]] = []
    for plugin, result in kernel.dispatch.call_all_sync("discord_loaders"):
        candidates = result if isinstance(result, list | tuple) else [result]
        for candidate in candidates:
            if isinstance(candidate, lightbulb.Loader):
                found.append((plugin, candidate))
            else:
                log.error("plugin %r returned %s from discord_loaders, not a lightbulb.Loader", plugin, type(candidate))
    return found


class DiscordFrontEnd:
    """One kernel's Discord front end. ``await start()``, then ``await stop()`` (or ``await run()``).

    ``clock`` drives the rate-limit windows (tests pass a manual clock); ``listen_socket``
    is an already bound socket for the interaction server (else ``host``/``port`` are bound).
    """

    def __init__(
        self,
        kernel: Kernel,
        config: DiscordSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        listen_socket: socket.socket | None = None,
    ) -> None:
        self.kernel = kernel
        self.config = config
        self.tracker = CommandTracker()
        self.rate_failover: RedisFailover | None = None
        local = SlidingWindowLimit(config.rate_limit_requests, config.rate_limit_window_seconds, clock=clock)
        rate: RateWindow = local
        if config.rate_limit_redis_url:
            self.rate_failover = RedisFailover.from_url(config.rate_limit_redis_url, purpose="discord rate limits")
            shared = RedisSlidingWindowLimit(
                self.rate_failover.client, config.rate_limit_requests, config.rate_limit_window_seconds
            )
            rate = FailoverSlidingWindowLimit(shared, local, self.rate_failover)
            degraded = Gauge(
                "intelbot_discord_rate_limit_store_degraded",
                "1 when discord.rate_limit_redis_url is set but Redis is unreachable and windows are in this process",
                registry=kernel.metrics,
            )
            degraded.set(0)
            self.rate_failover.listeners.append(lambda reason: degraded.set(0 if reason is None else 1))
        spending = SpendingSettings.from_settings(kernel.settings)
        cap = SpendingCap(
            config.daily_guild_cap_usd,
            ledger_spent(kernel.ledger),
            user_cap_usd=spending.daily_user_cap_usd,
            reservations=reservations_from_settings(spending, registry=kernel.metrics),
            settle=kernel.ledger.flush,
        )
        self.guards = Guards(config, cap, clock=clock, rate=rate)
        self.services = DiscordServices(kernel, config, self.guards, self.tracker, set(config.owner_ids))
        self.app: hikari.GatewayBot | hikari.RESTBot = self._build_app()
        self.command_owners: dict[object, str] = {}
        self._switched_off: set[int] = set()
        self.client = lightbulb.client_from_app(
            self.app, default_enabled_guilds=config.dev_guilds, hooks=self._execution_hooks()
        )
        self.client.error_handler(self._silence_switched_off)
        if config.feedback_buttons:
            listen_for_clicks(self.app, kernel, self.tracker)
        registry = self.client.di.registry_for(lightbulb.di.Contexts.DEFAULT)
        registry.register_value(DiscordServices, self.services)
        registry.register_value(Kernel, kernel)
        self._socket = listen_socket
        self.interaction_url: str | None = None
        self.failed_plugins: dict[str, str] = {}

    # -- construction ------------------------------------------------------------------------
    def _build_app(self) -> hikari.GatewayBot | hikari.RESTBot:
        common: dict[str, Any] = {
            "banner": None,
            "logs": None,
            "suppress_optimization_warning": True,
            "rest_url": self.config.rest_url,
        }
        if self.config.mode == "interactions":
            return hikari.RESTBot(self.config.bot_token, "Bot", public_key=self.config.public_key, **common)
        # Interactions arrive whatever the intents: subscribe to nothing else (no guild or member data).
        return hikari.GatewayBot(self.config.bot_token, intents=hikari.Intents.NONE, **common)

    def _execution_hooks(self) -> list[lightbulb.ExecutionHook]:
        """Hooks run for every command: count it, refuse switched-off plugins' commands, report failures."""
        tracker = self.tracker

        async def command_started(_pipeline: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            tracker.start(int(ctx.interaction.id))

        async def plugin_switched_on(_pipeline: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            plugin = self.command_owners.get(command_root(ctx))
            if plugin is None or ctx.guild_id is None or self.kernel.plugin_enabled_for(int(ctx.guild_id), plugin):
                return
            self._switched_off.add(int(ctx.interaction.id))
            await replies.tell(ctx, SWITCHED_OFF_MESSAGE.format(plugin=plugin))
            raise PluginSwitchedOff(plugin)

        async def command_settled(pipeline: lightbulb.ExecutionPipeline, ctx: lightbulb.Context) -> None:
            interaction_id = int(ctx.interaction.id)
            refused = interaction_id in self._switched_off
            self._switched_off.discard(interaction_id)
            try:
                if pipeline.failed and not refused:
                    await _report_failure(ctx)
            finally:
                tracker.settle(interaction_id, failed=pipeline.failed and not refused)

        steps = lightbulb.ExecutionSteps
        return [
            lightbulb.ExecutionHook(steps.MAX_CONCURRENCY, False, "intelbot-started", command_started),
            lightbulb.ExecutionHook(steps.CHECKS, True, "intelbot-plugin-switched-on", plugin_switched_on),
            lightbulb.ExecutionHook(steps.POST_INVOKE, False, "intelbot-settled", command_settled),
        ]

    @staticmethod
    def _silence_switched_off(failure: lightbulb.exceptions.ExecutionPipelineFailedException) -> bool:
        """Handled: a switched-off plugin's command was refused on purpose (the user was told)."""
        return bool(failure.causes) and all(isinstance(cause, PluginSwitchedOff) for cause in failure.causes)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load commands, connect (gateway) or open the interaction server, and sync commands with Discord."""
        for loader in LOADERS:
            await loader.add_to_client(self.client)
        await self._add_plugin_loaders(plugin_loaders(self.kernel))
        if isinstance(self.app, hikari.GatewayBot):
            self.app.subscribe(hikari.StartedEvent, self._on_started)
            await self.app.start(check_for_updates=False)
            return
        self.app.add_startup_callback(self._on_started)
        sock = self._socket or _listening_socket(self.config.host, self.config.port)
        host, port = sock.getsockname()[:2]
        self.interaction_url = f"http://{host}:{port}/"
        await self.app.start(socket=sock, check_for_updates=False)
        log.info("interaction server listening on %s", self.interaction_url)

    async def _add_plugin_loaders(self, loaders: Iterable[tuple[str, lightbulb.Loader]]) -> None:
        for plugin, loader in loaders:
            before = set(self.client.registered_commands)
            try:
                await loader.add_to_client(self.client)
            except Exception as error:  # noqa: BLE001 - one plugin's commands must not stop the bot
                self.failed_plugins[plugin] = type(error).__name__
                log.error("commands of plugin %r not loaded: %s: %s", plugin, type(error).__name__, error)
                await loader.remove_from_client(self.client)
            for command in set(self.client.registered_commands) - before:
                self.command_owners[command] = plugin

    async def post_alert(self, message: str, channel_id: int | None) -> None:
        """Kernel alert sender: post ``message`` to ``channel_id`` (nothing without one), pinging nobody."""
        if channel_id is None:
            return
        await self.app.rest.create_message(channel_id, message[: replies.MESSAGE_LIMIT], **replies.NO_MENTIONS)

    async def _on_started(self, _event_or_app: object) -> None:
        await self.client.start()
        if self.post_alert not in self.kernel.alert_senders:
            self.kernel.alert_senders.append(self.post_alert)
        application = await self.app.rest.fetch_application()
        self.services.owner_ids.add(int(application.owner.id))
        if application.team is not None:
            self.services.owner_ids.update(int(member) for member in application.team.members)
        log.info("Discord front end ready (%s mode, application %s)", self.config.mode, application.id)

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Let running commands finish (up to ``grace`` seconds), then disconnect."""
        if self.post_alert in self.kernel.alert_senders:
            self.kernel.alert_senders.remove(self.post_alert)
        if not await self.tracker.wait_idle(grace):
            log.warning("stopping with %d command(s) still running", self.tracker.in_flight)
        await self.client.stop()
        if self.rate_failover is not None:
            await self.rate_failover.aclose()
        await self.guards.spending.aclose()
        if not self.app.is_alive:
            return
        try:
            await self.app.close()
        except hikari.ComponentStateConflictError:
            # Cancelled after the startup callbacks but before the interaction server opened:
            # hikari cannot close that state, so release its HTTP client ourselves.
            if self.app.rest.is_alive:
                await self.app.rest.close()

    async def run(self, *, stop: asyncio.Event | None = None, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Start, then serve until the app closes, ``stop`` is set or the task is cancelled.

        Always stops cleanly: commands still running get up to ``grace`` seconds.
        """
        try:
            await self.start()
            joined = asyncio.ensure_future(self.app.join())
            waiting: list[asyncio.Future[Any]] = [joined]
            if stop is not None:
                waiting.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waiting:
                    task.cancel()
                await asyncio.gather(*waiting, return_exceptions=True)
        finally:
            await self.stop(grace)


async def _report_failure(ctx: lightbulb.Context) -> None:
    """Tell the user a command failed, without details (they are logged, and may hold secrets)."""
    try:
        if ctx.initial_response_sent.is_set():
            await replies.show_in_deferral(ctx, FAILURE_MESSAGE)
        else:
            await replies.tell(ctx, FAILURE_MESSAGE)
    except hikari.HikariError as error:
        log.warning("could not report a command failure to Discord: %s", type(error).__name__)


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def run_discord(
    kernel: Kernel, *, stop: asyncio.Event | None = None, grace: float = SHUTDOWN_GRACE_SECONDS
) -> None:
    """Run the Discord front end configured in ``[default.discord]`` until ``stop`` or cancelled (``intelbot run``)."""
    config = DiscordSettings.from_settings(kernel.settings)
    await DiscordFrontEnd(kernel, config).run(stop=stop, grace=grace)
