"""``/db report`` for the bot's owners: a summary (counts, heaviest fingerprints, suggestions, health).

Only owners may run it (the check is made here, server side); the reply is ephemeral and
shows fingerprint ids, statement kinds and tables, never statement text.
"""

from __future__ import annotations

import lightbulb

from intelbot.frontends.discord import replies
from intelbot.frontends.discord.services import DiscordServices
from intelbot_db_advisor.advisor import Report
from intelbot_db_advisor.cli import advisor_of

NOT_ALLOWED = "Only the bot's owners can see the database report."
NOT_LOADED = "The database advisor is not running."


def summary_text(report: Report) -> str:
    """The ``/db report`` reply: at most a few lines, no statement text."""
    heaviest = sorted(report.figures, key=lambda item: item.total_seconds, reverse=True)[:3]
    lines = [
        f"**Database** ({report.analysis.dialect}): {len(report.figures)} statement fingerprints, "
        f"{report.total_seconds * 1000:.0f} ms captured"
    ]
    for item in heaviest:
        share = item.total_seconds / report.total_seconds if report.total_seconds else 0.0
        lines.append(
            f"- `{item.fingerprint}` {item.kind} on {', '.join(item.tables) or '-'}: {item.calls} calls, "
            f"{share:.0%} of time"
        )
    for suggestion in report.analysis.suggestions[:3]:
        lines.append(
            f"- suggest `{suggestion.id}`: index on {suggestion.table}({', '.join(suggestion.columns)}), "
            f"{suggestion.speedup:.1f}x faster ({suggestion.share:.0%} of time); `intelbot db apply {suggestion.id}`"
        )
    warnings = [finding for finding in report.findings if finding.level == "warn"]
    lines.append(f"health: {len(warnings)} warning(s)" + (f", first: {warnings[0].check}" if warnings else ""))
    lines.append(f"pool: {report.pool.recommendation}")
    return "\n".join(lines)


def loader() -> lightbulb.Loader:
    """A fresh Loader with the ``/db`` group (a new one per call: a Loader belongs to one client)."""
    commands = lightbulb.Loader()
    group = lightbulb.Group("db", "The database advisor")

    @group.register
    class DbReport(lightbulb.SlashCommand, name="report", description="Database summary: slow statements, indexes"):
        @lightbulb.invoke
        async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
            if int(ctx.user.id) not in services.owner_ids:
                await replies.tell(ctx, NOT_ALLOWED)
                return
            advisor = advisor_of(services.kernel)
            if advisor is None:
                await replies.tell(ctx, NOT_LOADED)
                return
            await replies.tell(ctx, summary_text(await advisor.report()))

    commands.command(group)
    return commands
