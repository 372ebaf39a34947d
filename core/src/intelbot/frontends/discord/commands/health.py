"""``/health``: the bot's status lines; plugins add theirs through the ``health_lines`` hook.

A plugin that failed to load is shown as such; why it failed only to the bot's
owners and members with Manage Server (:mod:`intelbot.frontends.discord.plugin_failures`).
Infrastructure details (Redis locations, where shared state is kept) are for them
only too (:mod:`intelbot.health`).
"""

from __future__ import annotations

import lightbulb

from intelbot.frontends.discord import plugin_failures, replies
from intelbot.frontends.discord.permissions import can_manage_guild
from intelbot.frontends.discord.services import DiscordServices
from intelbot.health import for_managers, shown_lines

loader = lightbulb.Loader()


@loader.command
class Health(lightbulb.SlashCommand, name="health", description="Show intelbot's status"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        kernel = services.kernel
        lines = [f"discord: {services.config.mode} mode, {services.tracker.in_flight} command(s) running"]
        manager = can_manage_guild(ctx.interaction, services.owner_ids)
        lines.extend(plugin_failures.health_lines(await kernel.health(), kernel.plugins, with_reason=manager))
        lines.extend(for_managers(line) for line in services.guards.shared_state_lines())
        shown = shown_lines(lines, to_managers=manager)
        await replies.tell(ctx, "\n".join(f"- {line}" for line in shown))
