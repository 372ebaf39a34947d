"""``/remember text``, ``/recall query``, ``/forget``: long-term memory through the kernel's memory hooks.

Memories belong to the guild and the user who stored them. ``/forget`` forgets
the caller's own; the bot's owners and members with Manage Server may also forget
another member's (``member``) or, after confirming with a one-time code, the whole
guild's (``everyone``). With no memory plugin enabled, each command says so,
ephemerally, and how to turn one on.
"""

from __future__ import annotations

import logging

import lightbulb

from intelbot.contract import MemoryQuery, MemoryRecord
from intelbot.frontends.discord import replies
from intelbot.frontends.discord.permissions import can_manage_guild
from intelbot.frontends.discord.services import DiscordServices

log = logging.getLogger(__name__)
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


FORGET_EVERYONE = "forget everyone"
NOT_A_MANAGER = (
    "Only the bot's owners and members with the Manage Server permission can forget "
    "another member's memories or the whole server's."
)
ONLY_YOURS_IN_DMS = "In direct messages /forget forgets only your own memories; run it without options."


def memories(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


@loader.command
class Forget(lightbulb.SlashCommand, name="forget", description="Forget what you asked intelbot to remember here"):
    member = lightbulb.user("member", "Forget this member's memories here (others': managers only)", default=None)
    everyone = lightbulb.boolean(
        "everyone", "Forget every member's memories in this server (managers only; asks to confirm)", default=False
    )
    confirm = lightbulb.string("confirm", "The code /forget everyone gave you, to go ahead", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        """Forget the caller's memories here; a manager's ``member`` or ``everyone`` (after a code) reach further.

        Permission is checked here, from the permissions Discord computed for the
        member (:func:`can_manage_guild`), not only by hiding the options.
        """
        if not services.kernel.has_memory:
            await replies.tell(ctx, MEMORY_OFF)
            return
        turn = services.turn(ctx)
        caller = int(ctx.user.id)
        target = int(self.member.id) if self.member is not None else caller
        if self.everyone:
            if self.member is not None:
                await replies.tell(ctx, "Choose either `member` or `everyone`, not both.")
                return
            if turn.guild_id is None:
                await replies.tell(ctx, ONLY_YOURS_IN_DMS)
                return
            if not can_manage_guild(ctx.interaction, services.owner_ids):
                await replies.tell(ctx, NOT_A_MANAGER)
                return
            code = self.confirm
            if code is None or not services.confirmations.redeem(FORGET_EVERYONE, turn.guild_id, caller, code):
                fresh = services.confirmations.issue(FORGET_EVERYONE, turn.guild_id, caller)
                lead = "That code is wrong or has expired. " if code is not None else ""
                minutes = round(services.confirmations.ttl_seconds / 60)
                await replies.tell(
                    ctx,
                    f"{lead}This forgets every member's memories in this server and cannot be undone. "
                    f"To go ahead, run `/forget everyone:True confirm:{fresh}` within {minutes} minutes.",
                )
                return
            await ctx.defer(ephemeral=True)
            count = await services.kernel.forget(turn.guild_id, None, turn)
            log.info("discord: user %s forgot all %s of guild %s", caller, memories(count), turn.guild_id)
            await replies.show_in_deferral(ctx, f"Forgot {memories(count)} of this server.")
            return
        if target != caller:
            if turn.guild_id is None:
                await replies.tell(ctx, ONLY_YOURS_IN_DMS)
                return
            if not can_manage_guild(ctx.interaction, services.owner_ids):
                await replies.tell(ctx, NOT_A_MANAGER)
                return
        await ctx.defer(ephemeral=True)
        count = await services.kernel.forget(turn.guild_id, target, turn)
        if target == caller:
            await replies.show_in_deferral(ctx, f"Forgot {memories(count)}.")
            return
        log.info("discord: user %s forgot %s of user %s in guild %s", caller, memories(count), target, turn.guild_id)
        await replies.show_in_deferral(ctx, f"Forgot {memories(count)} of <@{target}>.")
