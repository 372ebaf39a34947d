"""``intelbot memory stats|forget|reindex``: long-term memory from the command line."""

from __future__ import annotations

import sys
from typing import Any

import click

from intelbot.contract import TurnContext

NOT_LOADED = "long-term memory is not loaded (is [default.plugins.memory] enabled = false?)"


@click.group("memory")
def memory_group() -> None:
    """Long-term memory: figures, forgetting, rebuilding the index."""


@memory_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(as_json: bool) -> None:
    """Print how many memories there are and the backend's figures."""
    from intelbot.frontends.cli import open_kernel, print_figures, run_async
    from intelbot_memory.plugin import memory_of

    async def work() -> dict[str, Any] | None:
        async with open_kernel() as kernel:
            plugin = memory_of(kernel)
            return None if plugin is None else plugin.collect_stats()

    print_figures(run_async(work), as_json=as_json, not_loaded=NOT_LOADED)


@memory_group.command("forget")
@click.option("--guild", "guild_id", type=int, default=None, help="Forget this guild's memories.")
@click.option("--user", "user_id", type=int, default=None, help="Only this user's (without --guild: their DMs).")
def forget(guild_id: int | None, user_id: int | None) -> None:
    """Delete a guild's memories, one user's memories in a guild, or one user's DM memories."""
    from intelbot.frontends.cli import open_kernel, run_async
    from intelbot_memory.plugin import memory_of

    if guild_id is None and user_id is None:
        raise click.UsageError("give --guild, --user or both")

    async def work() -> int | None:
        async with open_kernel() as kernel:
            if memory_of(kernel) is None:
                return None
            return await kernel.forget(
                guild_id, user_id, TurnContext(guild_id=guild_id, user_id=user_id, frontend="cli")
            )

    removed = run_async(work)
    if removed is None:
        click.echo(NOT_LOADED, err=True)
        sys.exit(1)
    where = f"guild {guild_id}" if guild_id is not None else "direct messages"
    who = f", user {user_id}" if user_id is not None else ""
    click.echo(f"forgot {removed} memor{'y' if removed == 1 else 'ies'} ({where}{who})")


@memory_group.command("reindex")
def reindex() -> None:
    """Rebuild the search index from the stored memories (embedding again those of another embedder)."""
    from intelbot.frontends.cli import open_kernel, run_async
    from intelbot_memory.plugin import memory_of

    async def work() -> int | None:
        async with open_kernel() as kernel:
            plugin = memory_of(kernel)
            if plugin is None or plugin.memory is None:
                return None
            return await plugin.memory.reindex()

    count = run_async(work)
    if count is None:
        click.echo(NOT_LOADED, err=True)
        sys.exit(1)
    click.echo(f"indexed {count} memories")
