"""``/plugins list|enable|disable``: per-guild plugin switches, reported outcome by outcome.

``list`` is open to anyone (ephemeral); why a plugin failed to load is shown only
to those who may switch plugins, and an import failure only by its exception type
(:mod:`intelbot.frontends.discord.plugin_failures`). ``enable`` and ``disable`` take one or
more plugin names (separated by spaces or commas) and are allowed to the bot's
owners and to members with Manage Server, for their own guild only; the check
is made here, on the server side. Switches are stored by the kernel and take
effect at once. Global switches stay in settings.toml.
"""

from __future__ import annotations

import logging
import re

import lightbulb

from intelbot.errors import IntelbotError
from intelbot.frontends.discord import replies
from intelbot.frontends.discord.permissions import can_manage_guild
from intelbot.frontends.discord.plugin_failures import describe_failure, failure_reason
from intelbot.frontends.discord.services import DiscordServices
from intelbot.kernel import Kernel

log = logging.getLogger("intelbot.frontends.discord.plugins")
loader = lightbulb.Loader()
group = lightbulb.Group("plugins", "Plugins of intelbot in this server")

NOT_ALLOWED = "Only the bot's owners and members with the Manage Server permission can switch plugins here."


def plugin_names(text: str) -> list[str]:
    """Names from ``text`` (spaces or commas between them), in order, without repeats."""
    return list(dict.fromkeys(name for name in re.split(r"[\s,]+", text) if name))


async def switch(kernel: Kernel, guild_id: int, name: str, enabled: bool) -> str:
    """Switch ``name`` for ``guild_id``; return the outcome line (enabled, already enabled, unknown, failed: why)."""
    verb = "enabled" if enabled else "disabled"
    info = kernel.plugin_info(name)
    if info is None or info.builtin:
        return f"`{name}`: unknown plugin"
    if not info.loaded:
        reason = failure_reason(info.error) if info.error else "not enabled in settings.toml"
        return f"`{info.name}`: failed: it is not loaded ({reason})"
    if kernel.plugin_enabled_for(guild_id, info.name) == enabled:
        return f"`{info.name}`: already {verb}"
    try:
        await kernel.set_guild_plugin(guild_id, info.name, enabled)
    except IntelbotError as error:
        return f"`{info.name}`: failed: {error.message}"
    except Exception as error:
        log.exception("switching plugin %r for guild %s failed", info.name, guild_id)
        return f"`{info.name}`: failed: {type(error).__name__}"
    return f"`{info.name}`: {verb}"


async def _switch_command(ctx: lightbulb.Context, services: DiscordServices, names: str, enabled: bool) -> None:
    if ctx.guild_id is None:
        await replies.tell(ctx, "Plugins are switched per server: use this command in a server.")
        return
    if not can_manage_guild(ctx.interaction, services.owner_ids):
        await replies.tell(ctx, NOT_ALLOWED)
        return
    wanted = plugin_names(names)
    if not wanted:
        await replies.tell(ctx, "Name at least one plugin (see `/plugins list`).")
        return
    await ctx.defer(ephemeral=True)
    lines = [await switch(services.kernel, int(ctx.guild_id), name, enabled) for name in wanted]
    await replies.show_in_deferral(ctx, "\n".join(lines))


@group.register
class ListPlugins(lightbulb.SlashCommand, name="list", description="List plugins and whether they run in this server"):
    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        guild_id = int(ctx.guild_id) if ctx.guild_id is not None else None
        with_reason = can_manage_guild(ctx.interaction, services.owner_ids)
        lines = []
        for info in services.kernel.plugins:
            if info.builtin:
                continue
            if info.error:
                state = f"not loaded ({describe_failure(info, with_reason=with_reason)})"
            elif not info.loaded:
                state = "not loaded (disabled in settings.toml)"
            elif guild_id is not None and not services.kernel.plugin_enabled_for(guild_id, info.name):
                state = "off in this server"
            else:
                state = "on"
            version = f" {info.version}" if info.version else ""
            lines.append(f"- `{info.name}`{version}: {state}")
        await replies.tell(ctx, "\n".join(lines) if lines else "No plugins are installed.")


@group.register
class EnablePlugins(lightbulb.SlashCommand, name="enable", description="Turn plugins on in this server"):
    names = lightbulb.string("name", "Plugin name(s), separated by spaces or commas")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        await _switch_command(ctx, services, self.names, True)


@group.register
class DisablePlugins(lightbulb.SlashCommand, name="disable", description="Turn plugins off in this server"):
    names = lightbulb.string("name", "Plugin name(s), separated by spaces or commas")

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        await _switch_command(ctx, services, self.names, False)


loader.command(group)
