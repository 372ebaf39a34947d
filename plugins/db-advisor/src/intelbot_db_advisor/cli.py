"""``intelbot db report | advise | apply``.

``advise`` analyses any database against a file of ``;``-separated statements; a
statement that does not parse is reported with its line and the others go on.
Suggestions are stored in the kernel's database so ``apply`` can create one by id;
nothing creates an index but ``apply``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from intelbot.errors import ConfigurationError
from intelbot.frontends.cli import configure_logging, open_kernel, run_async
from intelbot.kernel import Kernel
from intelbot_db_advisor.advisor import analyse, apply_index, target_of
from intelbot_db_advisor.plugin import DbAdvisorPlugin
from intelbot_db_advisor.report_text import analysis_lines, report_lines
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.workload import statements_from_file

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
NOT_LOADED = "the db_advisor plugin is not loaded (enable it: intelbot plugins enable db_advisor)"


def advisor_of(kernel: Kernel) -> DbAdvisorPlugin | None:
    """The kernel's advisor instance, or None when the plugin is not loaded."""
    for plugin in kernel.manager.get_plugins():
        if isinstance(plugin, DbAdvisorPlugin):
            return plugin
    return None


def async_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; plain ``sqlite://`` and ``postgresql://`` get the async drivers."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError("not a database URL", key="--database-url") from None
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise ConfigurationError(f"no SQLite database at {parsed.database}", key="--database-url")
    return create_async_engine(parsed)


@click.group("db")
def db_group() -> None:
    """The database advisor: slow statements, verified index suggestions, health and pool advice."""


@db_group.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def report_command(as_json: bool) -> None:
    """Slow statements, index suggestions (verified), health and pool advice for the kernel's database."""

    async def work() -> int:
        async with open_kernel() as kernel:
            advisor = advisor_of(kernel)
            if advisor is None:
                click.echo(NOT_LOADED, err=True)
                return 1
            report = await advisor.report()
        if as_json:
            click.echo(json.dumps(report.as_dict(), indent=2, default=str))
        else:
            click.echo("\n".join(report_lines(report)))
        return 0

    configure_logging()
    sys.exit(run_async(work))


@db_group.command("advise")
@click.option("--database-url", required=True, help="The database to analyse (any SQLAlchemy URL).")
@click.option(
    "--statements",
    "statements_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of ;-separated statements.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def advise_command(database_url: str, statements_file: Path, as_json: bool) -> None:
    """Analyse the database at --database-url against the statements in --statements."""

    text = statements_file.read_text(encoding="utf-8")

    async def work() -> int:
        engine = async_engine(database_url)
        try:
            statements, problems = statements_from_file(text, engine.dialect.name)
            async with open_kernel() as kernel:
                advisor = advisor_of(kernel)
                settings = advisor.settings if advisor is not None else DbAdvisorSettings()
                analysis = await analyse(engine, statements, settings)
                analysis.problems = sorted([*problems, *analysis.problems], key=lambda problem: problem.index)
                if advisor is not None and advisor.store is not None:
                    await advisor.store.save_suggestions(target_of(engine), analysis.suggestions)
                else:
                    analysis.notes.append(f"suggestions not stored for apply: {NOT_LOADED}")
        finally:
            await engine.dispose()
        if as_json:
            click.echo(json.dumps(analysis.as_dict(), indent=2, default=str))
        else:
            click.echo("\n".join(analysis_lines(analysis)))
        for problem in analysis.problems:
            click.echo(f"{statements_file}: {problem}", err=True)
        return 0

    configure_logging()
    sys.exit(run_async(work))


@db_group.command("apply")
@click.argument("suggestion_id")
@click.option("--database-url", default=None, help="The database the suggestion is for (default: the kernel's).")
def apply_command(suggestion_id: str, database_url: str | None) -> None:
    """Create the index of suggestion SUGGESTION_ID (CREATE INDEX CONCURRENTLY on PostgreSQL)."""

    async def work() -> int:
        async with open_kernel() as kernel:
            advisor = advisor_of(kernel)
            if advisor is None or advisor.store is None:
                click.echo(NOT_LOADED, err=True)
                return 1
            engine = async_engine(database_url) if database_url else kernel.database.engine
            try:
                target = target_of(engine)
                stored = {s.id: s for s in await advisor.store.suggestions()}
                suggestion = stored.get(suggestion_id)
                if suggestion is None:
                    known = ", ".join(sorted(stored)) or "none (run intelbot db report or advise first)"
                    click.echo(f"no suggestion {suggestion_id!r}; known: {known}", err=True)
                    return 1
                if suggestion.target != target:
                    click.echo(
                        f"suggestion {suggestion_id} is for {suggestion.target}, not {target} (pass --database-url)",
                        err=True,
                    )
                    return 1
                await apply_index(engine, suggestion.sql)
                await advisor.store.mark_applied(suggestion_id)
            finally:
                if database_url:
                    await engine.dispose()
        click.echo(f"created: {suggestion.sql}")
        return 0

    configure_logging()
    sys.exit(run_async(work))
