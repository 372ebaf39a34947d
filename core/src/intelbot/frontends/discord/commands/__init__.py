"""The built-in slash commands, one lightbulb Loader per module (``LOADERS`` lists them in order)."""

from __future__ import annotations

import lightbulb

from intelbot.frontends.discord.commands import ask, health, memory, plugins, usage

LOADERS: tuple[lightbulb.Loader, ...] = (ask.loader, memory.loader, plugins.loader, usage.loader, health.loader)
