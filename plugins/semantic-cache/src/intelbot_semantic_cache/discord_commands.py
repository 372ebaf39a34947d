"""``/cache stats`` (anyone) and ``/cache clear`` (Manage Server or bot owner, this guild only).

The permission check is made here, on the server side, from the permissions
Discord computed for the member; every reply is ephemeral and mentions nobody.
"""

from __future__ import annotations

import lightbulb

from intelbot.frontends.discord import replies
from intelbot.frontends.discord.permissions import can_manage_guild
from intelbot.frontends.discord.services import DiscordServices
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.plugin import running_cache

NOT_ALLOWED = "Only the bot's owners and members with the Manage Server permission can clear the cache."
NOT_LOADED = "The semantic cache is not running."


def stats_text(cache: SemanticCache, guild_id: int | None) -> str:
    """The lines ``/cache stats`` shows: this guild's entries, then the bot-wide figures."""
    figures = cache.stats()
    mine = sum(1 for entry in cache.entries.values() if entry.guild_id == guild_id)
    latency = (
        f", lookup p50 {figures['lookup_ms_p50']} ms / p99 {figures['lookup_ms_p99']} ms"
        if "lookup_ms_p50" in figures
        else ""
    )
    return (
        f"**Semantic cache**: {mine} entries for this server ({figures['entries']} in all)\n"
        f"hits: {figures['hits_exact']} exact, {figures['hits_semantic']} semantic; misses {figures['misses']}; "
        f"hit rate {figures['hit_rate']:.1%}{latency}\n"
        f"saved: {figures['tokens_saved']} tokens, ${figures['usd_saved']:.4f}"
    )


def loader() -> lightbulb.Loader:
    """A fresh Loader with the ``/cache`` group (a new one per call: a Loader belongs to one client)."""
    commands = lightbulb.Loader()
    group = lightbulb.Group("cache", "The semantic cache")

    @group.register
    class CacheStats(lightbulb.SlashCommand, name="stats", description="Cache entries, hits and savings"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
            cache = running_cache(services.kernel)
            if cache is None:
                await replies.tell(ctx, NOT_LOADED)
                return
            await replies.tell(ctx, stats_text(cache, int(ctx.guild_id) if ctx.guild_id is not None else None))

    @group.register
    class CacheClear(lightbulb.SlashCommand, name="clear", description="Remove this server's cached answers"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
            if ctx.guild_id is None:
                await replies.tell(ctx, "The cache is cleared per server: use this command in a server.")
                return
            if not can_manage_guild(ctx.interaction, services.owner_ids):
                await replies.tell(ctx, NOT_ALLOWED)
                return
            cache = running_cache(services.kernel)
            if cache is None:
                await replies.tell(ctx, NOT_LOADED)
                return
            removed = await cache.clear(int(ctx.guild_id))
            await replies.tell(ctx, f"Removed {removed} cached answers of this server.")

    commands.command(group)
    return commands
