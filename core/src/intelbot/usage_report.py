"""The ``/usage`` report, one text for every front end: tokens and cost from the ledger, then the plugins' lines.

For a guild: the guild's totals and the caller's in it; without one (direct messages,
the console): the caller's totals everywhere. Each for today and this month (UTC), then
every plugin's ``usage_lines`` for the guild (None: direct messages and the console)
since the start of the UTC day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from intelbot.kernel import Kernel


async def usage_report(kernel: Kernel, *, guild_id: int | None, user_id: int, now: datetime | None = None) -> list[str]:
    """The report's lines for ``user_id`` asking in ``guild_id`` (None: outside any guild)."""
    day = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    periods = (("today", day), ("this month", day.replace(day=1)))
    scopes: list[tuple[str, int | None, int | None]]
    if guild_id is None:
        scopes = [("You (all servers and DMs)", None, user_id)]
    else:
        scopes = [("This server", guild_id, None), ("You in this server", guild_id, user_id)]
    lines = []
    for label, scope_guild, scope_user in scopes:
        for period, since in periods:
            summary = await kernel.ledger.summary(guild_id=scope_guild, user_id=scope_user, since=since)
            calls = f"{summary.calls} call{'' if summary.calls == 1 else 's'}"
            lines.append(f"{label}, {period}: {summary.tokens:,} tokens, ${summary.cost_usd:.4f} ({calls})")
    lines.extend(await kernel.usage_lines(guild_id, day.timestamp()))
    return lines
