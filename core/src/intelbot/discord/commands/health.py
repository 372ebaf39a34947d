"""``/health``: the bot's status lines; plugins add theirs through the ``health_lines`` hook."""

from __future__ import annotations

import lightbulb

from intelbot.discord import replies
from intelbot.discord.services import DiscordServices

loader = lightbulb.Loader()


@loader.command
class Health(lightbulb.SlashCommand, name="health", description="Show intelbot's status"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        lines = [f"discord: {services.config.mode} mode, {services.tracker.in_flight} command(s) running"]
        lines.extend(await services.kernel.health())
        await replies.tell(ctx, "\n".join(f"- {line}" for line in lines))
