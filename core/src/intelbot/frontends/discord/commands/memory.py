"""``/remember text``, ``/recall query``, ``/forget``: long-term memory through the kernel's memory hooks.

Memories belong to the guild and the user who stored them. With no memory
plugin enabled, each command says so, ephemerally, and how to turn one on.
"""

from __future__ import annotations

import lightbulb

from intelbot.contract import MemoryQuery, MemoryRecord
from intelbot.frontends.discord import replies
from intelbot.frontends.discord.services import DiscordServices

loader = lightbulb.Loader()

MEMORY_OFF = (
    "Memory is off: no memory plugin is enabled. To turn it on, install `intelbot-memory` "
    "(`pip install -e plugins/memory`), "
    "set `enabled = true` in `[default.plugins.memory]` of settings.toml "
    "(or run `intelbot plugins enable memory`), then restart the bot."
)


@loader.command
class Remember(lightbulb.SlashCommand, name="remember", description="Ask intelbot to remember something"):
    text = lightbulb.string("text", "What to remember")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        if not services.kernel.has_memory:
            await replies.tell(ctx, MEMORY_OFF)
            return
        refusal = services.guards.check_question(self.text)
        if refusal is not None:
            await replies.tell(ctx, refusal)
            return
        await ctx.defer(ephemeral=True)
        turn = services.turn(ctx)
        record = MemoryRecord(self.text, guild_id=turn.guild_id, user_id=turn.user_id)
        ids = await services.kernel.store(record, turn)
        text = "Remembered." if ids else "No memory plugin accepted that; nothing was stored."
        await replies.show_in_deferral(ctx, text)


@loader.command
class Recall(lightbulb.SlashCommand, name="recall", description="Search what intelbot remembers"):
    query = lightbulb.string("query", "What to look for")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        if not services.kernel.has_memory:
            await replies.tell(ctx, MEMORY_OFF)
            return
        refusal = services.guards.check_question(self.query)
        if refusal is not None:
            await replies.tell(ctx, refusal)
            return
        await ctx.defer(ephemeral=True)
        turn = services.turn(ctx)
        hits = await services.kernel.query(MemoryQuery(self.query, guild_id=turn.guild_id, user_id=turn.user_id), turn)
        if not hits:
            await replies.show_in_deferral(ctx, "Nothing remembered matches that.")
            return
        lines = [f"{index}. {hit.record.text} ({hit.score:.2f})" for index, hit in enumerate(hits, 1)]
        await replies.show_in_deferral(ctx, replies.split_text("\n".join(lines))[0])


@loader.command
class Forget(lightbulb.SlashCommand, name="forget", description="Forget what you asked intelbot to remember here"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        if not services.kernel.has_memory:
            await replies.tell(ctx, MEMORY_OFF)
            return
        await ctx.defer(ephemeral=True)
        turn = services.turn(ctx)
        count = await services.kernel.forget(turn.guild_id, turn.user_id, turn)
        await replies.show_in_deferral(ctx, f"Forgot {count} memor{'y' if count == 1 else 'ies'}.")
