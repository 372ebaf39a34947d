"""The loopback Discord: Discord's REST API, gateway and interaction signing on 127.0.0.1, for tests.

``LoopbackDiscord`` is the server; ``DiscordHarness`` boots intelbot's real Discord
front end (hikari + lightbulb) against it and sends slash commands; the pytest
fixtures live in :mod:`intelbot.testing.discord.fixtures` (``loopback_discord``,
``discord_mode``, ``make_discord``, ``discord``).
"""

from intelbot.testing.clock import ManualClock
from intelbot.testing.discord.harness import DiscordHarness, DiscordUser, SlashResult
from intelbot.testing.discord.interactions import InteractionReply, InteractionSender, Signature
from intelbot.testing.discord.records import InteractionRecord, Pings, RestCall, SentMessage
from intelbot.testing.discord.server import LoopbackDiscord

__all__ = [
    "DiscordHarness",
    "DiscordUser",
    "InteractionRecord",
    "InteractionReply",
    "InteractionSender",
    "LoopbackDiscord",
    "ManualClock",
    "Pings",
    "RestCall",
    "SentMessage",
    "Signature",
    "SlashResult",
]
