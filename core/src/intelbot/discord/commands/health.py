"""``/health``: the bot's status lines; plugins add theirs through the ``health_lines`` hook.

A plugin that failed to load is shown as such; why it failed only to the bot's
owners and members with Manage Server (:mod:`intelbot.discord.plugin_failures`).
"""

from __future__ import annotations

import lightbulb

from intelbot.discord import plugin_failures, replies
from intelbot.discord.permissions import can_manage_guild
from intelbot.discord.services import DiscordServices

loader = lightbulb.Loader()


@loader.command
class Health(lightbulb.SlashCommand, name="health", description="Show intelbot's status"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        kernel = services.kernel
        lines = [f"discord: {services.config.mode} mode, {services.tracker.in_flight} command(s) running"]
        with_reason = can_manage_guild(ctx.interaction, services.owner_ids)
        lines.extend(plugin_failures.health_lines(await kernel.health(), kernel.plugins, with_reason=with_reason))
        await replies.tell(ctx, "\n".join(f"- {line}" for line in lines))
