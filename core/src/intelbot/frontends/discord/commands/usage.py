"""``/usage``: the caller's tokens and cost, then the plugins' lines (:mod:`intelbot.usage_report`)."""

from __future__ import annotations

import lightbulb

from intelbot.frontends.discord import replies
from intelbot.frontends.discord.services import DiscordServices
from intelbot.usage_report import usage_report

loader = lightbulb.Loader()


@loader.command
class UsageCommand(lightbulb.SlashCommand, name="usage", description="Tokens and cost for this server and for you"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        guild_id = None if ctx.guild_id is None else int(ctx.guild_id)
        lines = await usage_report(services.kernel, guild_id=guild_id, user_id=int(ctx.user.id))
        await replies.tell(ctx, "\n".join(lines))
