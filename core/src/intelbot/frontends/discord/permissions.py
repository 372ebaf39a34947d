"""Who may change per-guild settings, decided on the server side for every command.

Discord's ``default_member_permissions`` only hides a command, and guild admins
can change it; the bot therefore checks again, from the permissions Discord
computed for the member in the interaction: the bot's owners may always, members
with Manage Server (or Administrator) may for their own guild, nobody else may.
"""

from __future__ import annotations

from collections.abc import Collection

import hikari

MANAGE_GUILD_PERMISSIONS = hikari.Permissions.MANAGE_GUILD | hikari.Permissions.ADMINISTRATOR


def is_owner(user_id: int, owner_ids: Collection[int]) -> bool:
    return user_id in owner_ids


def can_manage_guild(interaction: hikari.CommandInteraction, owner_ids: Collection[int]) -> bool:
    """True for a bot owner, or for a member of the interaction's guild with Manage Server or Administrator."""
    if is_owner(int(interaction.user.id), owner_ids):
        return True
    member = interaction.member
    if interaction.guild_id is None or member is None:
        return False
    return bool(member.permissions & MANAGE_GUILD_PERMISSIONS)
