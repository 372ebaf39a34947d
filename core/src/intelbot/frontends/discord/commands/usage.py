"""``/usage``: tokens and cost for this guild and for the caller, today and this month (UTC), from the ledger.

Then the plugins' ``usage_lines`` for this guild (None in DMs) since the start of the UTC day.
"""

from __future__ import annotations

from datetime import UTC, datetime

import lightbulb

from intelbot.frontends.discord import replies
from intelbot.frontends.discord.services import DiscordServices

loader = lightbulb.Loader()


@loader.command
class UsageCommand(lightbulb.SlashCommand, name="usage", description="Tokens and cost for this server and for you"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        periods = (("today", day), ("this month", day.replace(day=1)))
        user_id = int(ctx.user.id)
        scopes: list[tuple[str, int | None, int | None]]
        if ctx.guild_id is None:
            scopes = [("You (all servers and DMs)", None, user_id)]
        else:
            scopes = [("This server", int(ctx.guild_id), None), ("You in this server", int(ctx.guild_id), user_id)]
        lines = []
        for label, guild_id, scope_user in scopes:
            for period, since in periods:
                summary = await services.kernel.ledger.summary(guild_id=guild_id, user_id=scope_user, since=since)
                calls = f"{summary.calls} call{'' if summary.calls == 1 else 's'}"
                lines.append(f"{label}, {period}: {summary.tokens:,} tokens, ${summary.cost_usd:.4f} ({calls})")
        guild_id = None if ctx.guild_id is None else int(ctx.guild_id)
        lines.extend(await services.kernel.usage_lines(guild_id, day.timestamp()))
        await replies.tell(ctx, "\n".join(lines))
