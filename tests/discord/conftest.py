"""Discord fixtures of the test kit (see intelbot.testing.discord.fixtures)."""

from intelbot.testing.discord.fixtures import discord, discord_mode, loopback_discord, make_discord

__all__ = ["discord", "discord_mode", "loopback_discord", "make_discord"]
