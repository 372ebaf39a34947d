"""Driving the real Discord front end against the loopback Discord, one slash command at a time.

:class:`DiscordHarness` boots :class:`intelbot.frontends.discord.bot.DiscordFrontEnd` (real
hikari and lightbulb) in either mode against a :class:`LoopbackDiscord`, and
sends commands the way Discord would: signed HTTP requests to the interaction
server, or INTERACTION_CREATE events on the gateway. ``await harness.slash("ask",
question="hi")`` returns what the bot sent for that interaction once its command
has finished; ``await harness.click(message, custom_id)`` presses a button the bot
put on one of its messages (a MESSAGE_COMPONENT interaction) and returns what the
bot answered once it acknowledged the click.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import hikari

from intelbot.frontends.discord.bot import DiscordFrontEnd
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.kernel import Kernel
from intelbot.testing.clock import ManualClock
from intelbot.testing.discord import payloads
from intelbot.testing.discord.interactions import InteractionReply, InteractionSender, Signature
from intelbot.testing.discord.records import CALLBACK_DEFERRED_MESSAGE, Callback, InteractionRecord, SentMessage
from intelbot.testing.discord.server import LoopbackDiscord

Mode = Literal["gateway", "interactions"]
MakeDiscord = Callable[..., Awaitable["DiscordHarness"]]
"""The ``make_discord`` fixture: ``harness = await make_discord(kernel, mode=None, **settings)``."""
DEFAULT_GUILD = 200_000_000_000_000_001
DEFAULT_CHANNEL = 300_000_000_000_000_001


@dataclass(frozen=True, slots=True)
class DiscordUser:
    """Who sends a command: a user id, a name and the permissions Discord computed for them in the channel."""

    id: int
    name: str = "member"
    permissions: hikari.Permissions = hikari.Permissions.SEND_MESSAGES | hikari.Permissions.USE_APPLICATION_COMMANDS


@dataclass(slots=True)
class SlashResult:
    """What the bot did about one interaction: HTTP status (interactions mode), callbacks, messages."""

    interaction: InteractionRecord
    status: int | None
    reply: InteractionReply | None = None

    @property
    def callback(self) -> Callback | None:
        return self.interaction.acknowledged

    @property
    def deferred(self) -> bool:
        """True when the bot's accepted initial response was a deferral ("thinking...")."""
        return self.callback is not None and self.callback.type == CALLBACK_DEFERRED_MESSAGE

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from the interaction's creation to the bot's accepted initial response."""
        return None if self.callback is None else self.callback.at - self.interaction.created_at

    @property
    def messages(self) -> list[SentMessage]:
        return self.interaction.visible_messages

    @property
    def contents(self) -> list[str]:
        return [message.content for message in self.messages]

    @property
    def text(self) -> str:
        return "\n".join(self.contents)


@dataclass(slots=True)
class DiscordHarness:
    """A booted front end, the loopback it talks to, and ways to send it commands."""

    loopback: LoopbackDiscord
    frontend: DiscordFrontEnd
    mode: Mode
    clock: ManualClock
    sender: InteractionSender | None = None
    default_user: DiscordUser = field(default_factory=lambda: DiscordUser(400_000_000_000_000_001))

    @property
    def kernel(self) -> Kernel:
        return self.frontend.kernel

    @classmethod
    async def boot(cls, kernel: Kernel, loopback: LoopbackDiscord, mode: Mode, **config: Any) -> DiscordHarness:
        """Start the front end of ``kernel`` in ``mode`` against ``loopback``; ``config`` overrides DiscordSettings."""
        settings = DiscordSettings.model_validate(
            {
                "token": loopback.token,
                "mode": mode,
                "application_id": loopback.application_id,
                "public_key": loopback.public_key_hex,
                "host": "127.0.0.1",
                "port": 0,
                "rest_url": loopback.rest_url,
                **config,
            }
        )
        clock = ManualClock()
        frontend = DiscordFrontEnd(kernel, settings, clock=clock)
        await frontend.start()
        harness = cls(loopback, frontend, mode, clock)
        if mode == "interactions":
            assert frontend.interaction_url is not None
            harness.sender = InteractionSender(loopback.signing_key, frontend.interaction_url)
        return harness

    async def close(self) -> None:
        await self.frontend.stop(grace=5.0)
        if self.sender is not None:
            await self.sender.aclose()

    def member(
        self, user_id: int, *, permissions: hikari.Permissions | None = None, name: str = "member"
    ) -> DiscordUser:
        """A guild member with ``permissions`` (default: send messages and use commands only)."""
        if permissions is None:
            return DiscordUser(user_id, name)
        return DiscordUser(user_id, name, permissions)

    def interaction(
        self, *path: str, user: DiscordUser | None = None, guild_id: int | None = DEFAULT_GUILD, **options: Any
    ) -> tuple[InteractionRecord, dict[str, Any]]:
        """A new interaction for the registered command ``path`` (``"plugins", "disable"``) and its JSON body."""
        if not path:
            raise ValueError("name the command, e.g. slash('ask', question='hi')")
        user = user or self.default_user
        command, registered_guild = self.loopback.rest.find_command(path[0], guild_id)
        declared: list[dict[str, Any]] = command.get("options") or []
        nesting: list[tuple[str, int]] = []
        for name in path[1:]:
            sub = next((option for option in declared if option["name"] == name and option["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"/{' '.join(path)}: {name!r} is not a registered subcommand")
            nesting.append((name, int(sub["type"])))
            declared = sub.get("options") or []
        built = payloads.command_options(options, declared)
        for name, option_type in reversed(nesting):
            built = [{"name": name, "type": option_type, "options": built}]
        record = self.loopback.rest.open_interaction(" ".join(path))
        body = payloads.slash_interaction(
            application_id=self.loopback.application_id,
            command_id=int(command["id"]),
            command_name=path[0],
            options=built,
            guild_id=guild_id,
            registered_guild_id=registered_guild,
            channel_id=DEFAULT_CHANNEL,
            user_id=user.id,
            username=user.name,
            permissions=int(user.permissions),
            token=record.token,
            interaction_id=record.id,
        )
        return record, body

    async def deliver(
        self, record: InteractionRecord, body: dict[str, Any], signature: Signature = Signature.VALID
    ) -> InteractionReply | None:
        """Send the interaction as Discord would in this mode; the interaction server's reply in interactions mode."""
        if self.mode == "gateway":
            if signature is not Signature.VALID:
                raise ValueError("the gateway has no signatures; bad signatures are an interactions-mode test")
            await self.loopback.gateway.dispatch("INTERACTION_CREATE", body)
            return None
        assert self.sender is not None
        return await self.sender.send(body, signature)

    async def slash(
        self,
        *path: str,
        user: DiscordUser | None = None,
        guild_id: int | None = DEFAULT_GUILD,
        within: float = 15.0,
        **options: Any,
    ) -> SlashResult:
        """Run ``/path options...`` and return what the bot sent once the command has finished.

        ``user``, ``guild_id`` and ``within`` (seconds to wait) are reserved names (``guild_id=None``
        is a DM); every
        other keyword is a command option.
        """
        record, body = self.interaction(*path, user=user, guild_id=guild_id, **options)
        reply = await self.deliver(record, body)
        await self.frontend.tracker.wait_settled(record.id, within)
        return SlashResult(record, reply.status if reply else None, reply)

    async def click(
        self,
        message: SentMessage,
        custom_id: str,
        *,
        user: DiscordUser | None = None,
        guild_id: int | None = DEFAULT_GUILD,
        within: float = 15.0,
    ) -> SlashResult:
        """Press the button ``custom_id`` of ``message`` as ``user``; returns once the bot acknowledged the click.

        A click the front end tracks (a feedback button) is also waited for until its
        handling has finished: the vote has been announced to the plugins.

        Like Discord, only a component the bot put on the message can be pressed
        (LookupError otherwise). A click that is never acknowledged within ``within``
        seconds raises TimeoutError.
        """
        if custom_id not in message.custom_ids():
            raise LookupError(f"the message has no component {custom_id!r} (it has {message.custom_ids()})")
        user = user or self.default_user
        record = self.loopback.rest.open_interaction(f"component {custom_id}")
        body = payloads.component_interaction(
            custom_id=custom_id,
            message=self.loopback.rest.message_json(message),
            application_id=self.loopback.application_id,
            guild_id=guild_id,
            channel_id=DEFAULT_CHANNEL,
            user_id=user.id,
            username=user.name,
            permissions=int(user.permissions),
            token=record.token,
            interaction_id=record.id,
        )
        reply = await self.deliver(record, body)
        async with asyncio.timeout(within):
            while record.acknowledged is None:  # noqa: ASYNC110 - the loopback's records have no event to wait on
                await asyncio.sleep(0.01)
        if self.frontend.tracker.has_started(record.id):  # a feedback click: wait until the plugins heard the vote
            await self.frontend.tracker.wait_settled(record.id, within)
        return SlashResult(record, reply.status if reply else None, reply)
