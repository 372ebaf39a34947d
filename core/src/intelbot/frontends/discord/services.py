"""What commands get by dependency injection: the kernel and the front end's settings and checks.

Commands declare a ``services: DiscordServices`` parameter on their
``@lightbulb.invoke`` method; plugins' commands may do the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightbulb

from intelbot.contract import TurnContext
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.frontends.discord.confirmations import Confirmations
from intelbot.frontends.discord.guards import Guards
from intelbot.frontends.discord.tracker import CommandTracker
from intelbot.kernel import Kernel


@dataclass(slots=True)
class DiscordServices:
    """The kernel and the Discord front end's configuration, checks and bookkeeping (and pending confirmations)."""

    kernel: Kernel
    config: DiscordSettings
    guards: Guards
    tracker: CommandTracker
    owner_ids: set[int] = field(default_factory=set)
    confirmations: Confirmations = field(default_factory=Confirmations)

    def turn(self, ctx: lightbulb.Context) -> TurnContext:
        """A new turn context for the interaction behind ``ctx``."""
        return TurnContext(
            guild_id=int(ctx.guild_id) if ctx.guild_id is not None else None,
            channel_id=int(ctx.channel_id),
            user_id=int(ctx.user.id),
            frontend="discord",
        )
