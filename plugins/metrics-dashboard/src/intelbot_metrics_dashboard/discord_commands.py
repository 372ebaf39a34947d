"""Discord ``/stats``: the bot's summary as an embed (anyone), with spend per server for those allowed to see it.

Built from :func:`intelbot.summary.build_summary`, the same object as ``intelbot stats``
and ``/api/summary``. Members see bot-wide figures; members with Manage Server also see
their own server's spend today; the bot's owners see the servers that spent most today
(by id). Ephemeral, mentions nobody.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import hikari
import lightbulb

from intelbot.frontends.discord.permissions import can_manage_guild, is_owner
from intelbot.frontends.discord.replies import NO_MENTIONS
from intelbot.frontends.discord.services import DiscordServices
from intelbot.summary import build_summary

EMBED_COLOUR = 0x3B82F6


def _count(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else "n/a"


def summary_embed(summary: dict[str, Any]) -> hikari.Embed:
    """The fields everyone sees."""
    embed = hikari.Embed(title="intelbot stats", colour=EMBED_COLOUR, description=f"as of {summary['generated_at']}")
    turns, cost, tokens, cache = summary["turns"], summary["cost_usd"], summary["tokens"], summary["cache"]
    if turns is None:
        embed.add_field("Database", "unreachable: durable figures unavailable")
    else:
        sources = ", ".join(f"{source} {count:,}" for source, count in turns["by_source"].items()) or "none yet"
        embed.add_field("Turns", f"{turns['total']:,} in all, {turns['today']:,} today\n{sources}", inline=True)
        embed.add_field("Cost", f"${cost['today']:.4f} today\n${cost['total']:.4f} in all", inline=True)
        embed.add_field("Tokens", f"{_count(tokens['today'])} today\n{_count(tokens['total'])} in all", inline=True)
        embed.add_field("Cache", f"hit rate {cache['hit_rate']:.1%} ({cache['hits']:,} turns)", inline=True)
    savings = summary["savings_usd"]
    if savings:
        embed.add_field("Saved (since start)", "\n".join(f"{name}: ${usd:.4f}" for name, usd in savings.items()))
    breakers = summary["breakers"]
    if breakers:
        embed.add_field("Breakers", "\n".join(f"{name}: {state}" for name, state in breakers.items()))
    errors = summary["errors"]["by_category"]
    embed.add_field(
        "Errors (since start)", ", ".join(f"{category} {count}" for category, count in errors.items()) or "none"
    )
    return embed


def loader() -> lightbulb.Loader:
    """A fresh Loader with ``/stats`` (a new one per call: a Loader belongs to one client)."""
    commands = lightbulb.Loader()

    @commands.command
    class Stats(lightbulb.SlashCommand, name="stats", description="The bot's turns, cost, cache and breakers"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
            summary = await build_summary(services.kernel)
            embed = summary_embed(summary)
            guild_id = int(ctx.guild_id) if ctx.guild_id is not None else None
            if is_owner(int(ctx.user.id), services.owner_ids) and summary["guilds"] is not None:
                lines = [f"{row['guild_id']}: ${row['cost_usd_today']:.4f}" for row in summary["guilds"]]
                embed.add_field("Top servers by spend today", "\n".join(lines) or "none")
            elif guild_id is not None and can_manage_guild(ctx.interaction, services.owner_ids):
                spent = await services.kernel.ledger.summary(guild_id=guild_id, since=_midnight(summary))
                embed.add_field("This server today", f"${spent.cost_usd:.4f} ({spent.calls:,} calls)")
            await ctx.respond(embed=embed, ephemeral=True, **NO_MENTIONS)

    return commands


def _midnight(summary: dict[str, Any]) -> datetime:
    """Midnight UTC of the summary's day (its ``generated_at`` is UTC)."""
    return datetime.fromisoformat(summary["generated_at"]).replace(hour=0, minute=0, second=0, microsecond=0)
