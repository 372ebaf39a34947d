"""The ``intelbot`` command line: ask, chat, run, config check, plugins (and plugins' own commands)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click

from intelbot.catalog import ModelCatalog
from intelbot.config_check import (
    ConfigProblem,
    find_plugin_problems,
    find_problems,
    find_provider_problems,
    unknown_model_providers,
    unknown_plugin_message,
)
from intelbot.contract import TurnContext
from intelbot.dispatch import HookDispatcher
from intelbot.errors import ConfigurationError, IntelbotError
from intelbot.frontends.footer import describe
from intelbot.kernel import Kernel
from intelbot.loading import PluginInfo, new_plugin_manager, register_plugins
from intelbot.redaction import redacted
from intelbot.settings import load_settings, lookup, origin_of, settings_dir
from intelbot.shutdown import DEFAULT_GRACE_SECONDS, StopSignals
from intelbot.spending import CONSOLE_USER_ID, ask_within_cap, operator_spending_cap

T = TypeVar("T")
EXIT_CONFIG = 2
EXIT_FAILURE = 1


def configure_logging(settings: Any = None) -> None:
    level = str(lookup(settings, "log_level", "INFO") if settings is not None else "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "openai", "anthropic", "aiosqlite", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@asynccontextmanager
async def open_kernel() -> AsyncIterator[Kernel]:
    """Start a kernel from the settings directory, print its notices, stop it on exit (plugins' commands use it too)."""
    settings = load_settings()
    kernel = await Kernel.start(settings)
    for notice in kernel.notices:
        click.echo(f"note: {notice}", err=True)
    try:
        yield kernel
    finally:
        await kernel.stop()


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` and turn configuration errors into a message and exit code 2, never a traceback."""
    try:
        return asyncio.run(_awaited(work))
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(EXIT_CONFIG)
    except IntelbotError as error:
        click.echo(f"error ({error.category.value}): {error.user_message or error.message}", err=True)
        sys.exit(EXIT_FAILURE)
    except OSError as error:
        click.echo(f"error: {error.strerror or type(error).__name__}: {error.filename or ''}".rstrip(": "), err=True)
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(130)


def print_figures(figures: dict[str, Any] | None, *, as_json: bool, not_loaded: str) -> None:
    """Print a plugin's flat figures: one JSON object, or aligned ``key  value`` lines.

    ``None`` (the plugin is not loaded) prints ``not_loaded`` and exits 1. Plugins' own
    ``stats`` commands (``intelbot cache stats``, ``intelbot memory stats``) use this.
    """
    if figures is None:
        click.echo(not_loaded, err=True)
        sys.exit(EXIT_FAILURE)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True, default=str))
        return
    width = max((len(key) for key in figures), default=0)
    for key, value in figures.items():
        click.echo(f"{key:<{width}}  {value}")


async def _awaited(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


@click.group()
@click.version_option(package_name="intelbot")
def cli() -> None:
    """intelbot: LLM-powered Discord bots, built from plugins."""


@cli.command()
@click.argument("question")
@click.option("--model", default=None, help="A model from the catalog (default: llm.default_model).")
@click.option("--json", "as_json", is_flag=True, help="Print the response as JSON.")
def ask(question: str, model: str | None, as_json: bool) -> None:
    """Answer one QUESTION and print the answer with a footer.

    The answer is printed as soon as the turn ends; the kernel then stops (plugins'
    shutdown, the ledger's last write) before the command exits.
    """

    async def work() -> int:
        async with open_kernel() as kernel:
            cap = operator_spending_cap(kernel)
            try:
                ctx = TurnContext(user_id=CONSOLE_USER_ID, frontend="cli")
                response = await ask_within_cap(kernel, cap, question, ctx, model=model)
            except IntelbotError as error:
                click.echo(f"error ({error.category.value}): {error.user_message or error.message}", err=True)
                return 1
            finally:
                await cap.aclose()
            if as_json:
                click.echo(json.dumps({"text": response.text, **response.usage_record()}))
            else:
                click.echo(response.text)
                click.echo(f"  [{describe(response)}]")
        return 0

    configure_logging()
    sys.exit(run_async(work))


@cli.command()
def chat() -> None:
    """A console chat on the same path as Discord (one question per line when not a terminal)."""
    from intelbot.frontends.console import run_console

    async def work() -> None:
        async with open_kernel() as kernel:
            await run_console(kernel)

    configure_logging()
    run_async(work)


@cli.command()
def run() -> None:
    """The main job: Discord when a token is configured, else the console. Never needs a key.

    SIGTERM and SIGINT stop it the same way: no new turns, the turns in flight get
    ``shutdown_grace_seconds``, then the kernel stops (plugins' shutdown, the ledger's last write).
    """

    async def work() -> None:
        async with StopSignals() as signals, open_kernel() as kernel:
            grace = float(lookup(kernel.settings, "shutdown_grace_seconds", DEFAULT_GRACE_SECONDS))
            token = lookup(kernel.settings, "discord.token")
            if token:
                from intelbot.frontends.discord.bot import run_discord

                mode = lookup(kernel.settings, "discord.mode", "gateway")
                click.echo(f"intelbot: starting Discord ({mode} mode): a token is configured", err=True)
                await run_discord(kernel, stop=signals.requested, grace=grace)
                return
            from intelbot.frontends.console import run_console

            click.echo(
                "intelbot: starting the console: no Discord token configured "
                "(set INTELBOT_DISCORD__TOKEN or [default.discord] token in .secrets.toml)",
                err=True,
            )
            await run_console(kernel, stop=signals.requested, grace=grace)

    configure_logging()
    run_async(work)


@cli.group()
def config() -> None:
    """Inspect and validate settings."""


@config.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
def config_check(as_json: bool) -> None:
    """Validate settings and print the effective configuration with secrets redacted."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(EXIT_CONFIG)
    problems = find_problems(settings, extra_providers=None)
    manager = new_plugin_manager()
    infos = register_plugins(manager, settings)
    dispatch = HookDispatcher(manager)
    providers, provider_problems = find_provider_problems(settings, dispatch)
    problems += provider_problems
    catalog_problems = [
        ConfigProblem(key, origin_of(settings, key), message)
        for key, message in unknown_model_providers(settings, _catalog_or_empty(settings), providers)
    ]
    problems += catalog_problems + find_plugin_problems(settings, dispatch, infos)
    effective = redacted({str(key).lower(): value for key, value in settings.as_dict().items()})
    if as_json:
        click.echo(
            json.dumps(
                {"valid": not problems, "problems": [str(p) for p in problems], "settings": effective},
                indent=2,
                default=str,
            )
        )
    else:
        click.echo(f"environment: {settings.current_env} (settings directory {settings_dir()})")
        for key, value in sorted(effective.items()):
            click.echo(f"{key} = {json.dumps(value, indent=2, default=str)}")
        for item in problems:
            click.echo(f"error: {item}", err=True)
        if not problems:
            click.echo("configuration is valid")
    sys.exit(EXIT_CONFIG if problems else 0)


def _catalog_or_empty(settings: Any) -> ModelCatalog:
    try:
        return ModelCatalog.from_settings(settings.get("models") or {})
    except ConfigurationError:
        return ModelCatalog({})  # the catalog's own problem is reported by find_problems


@cli.command()
def stats() -> None:
    """Print the bot's summary as JSON: the same object as Discord ``/stats`` and the dashboard's ``/api/summary``."""
    from intelbot.summary import build_summary

    async def work() -> None:
        async with open_kernel() as kernel:
            click.echo(json.dumps(await build_summary(kernel), indent=2, default=str))

    configure_logging()
    run_async(work)


def _plugin_infos() -> list[PluginInfo]:
    settings = load_settings()
    return register_plugins(new_plugin_manager(), settings)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List plugins: name, distribution and version, enabled, hooks."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        settings = load_settings()
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(EXIT_CONFIG)
    manager = new_plugin_manager()
    infos = register_plugins(manager, settings)
    problems = find_problems(settings, extra_providers=None) + find_plugin_problems(
        settings, HookDispatcher(manager), infos
    )
    for item in problems:
        click.echo(f"error: {item}", err=True)
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos], indent=2))
        sys.exit(EXIT_CONFIG if problems else 0)
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        if info.error:
            state = f"FAILED: {info.error}"
        origin = f"{info.distribution} {info.version}" if info.distribution else "(registered object)"
        click.echo(f"{info.name:<24} {origin:<36} {state}")
        if info.hooks:
            click.echo(f"{'':<24} hooks: {', '.join(info.hooks)}")
    if problems:
        sys.exit(EXIT_CONFIG)


def _set_flag(name: str, enabled: bool) -> None:
    from intelbot.local_overrides import write_plugin_flag  # tomlkit: only these two commands need it

    infos = {info.name.lower(): info for info in _plugin_infos() if not info.builtin}
    info = infos.get(name.lower())
    if info is None:
        click.echo(unknown_plugin_message(name, infos), err=True)
        sys.exit(1)
    path, written = write_plugin_flag(settings_dir(), info.name, enabled)
    where = f"written to {path}" if written else f"the local override in {path} removed: that is the default"
    click.echo(f"{info.name}: {'enabled' if enabled else 'disabled'} ({where})")


@plugins.command("enable")
@click.argument("name")
def plugins_enable(name: str) -> None:
    """Enable plugin NAME in the local override file."""
    _set_flag(name, True)


@plugins.command("disable")
@click.argument("name")
def plugins_disable(name: str) -> None:
    """Disable plugin NAME in the local override file."""
    _set_flag(name, False)


def build_cli() -> click.Group:
    """The CLI with every loaded plugin's commands added through ``register_commands``."""
    quiet = logging.getLogger("intelbot.plugins")
    previous = quiet.level
    quiet.setLevel(logging.CRITICAL)  # failures are reported when the command starts the kernel
    try:
        settings = load_settings()
        manager = new_plugin_manager()
        register_plugins(manager, settings)
    except ConfigurationError:
        return cli
    finally:
        quiet.setLevel(previous)
    HookDispatcher(manager).call_all_sync("register_commands", cli=cli)
    return cli


def main() -> None:
    """The ``intelbot`` console script.

    A built-in command that is not a group (``ask``, ``chat``, ``run``, ``stats``) runs
    without loading the plugins' commands: that would import every plugin and its CLI
    module only to build a menu the command does not show (its kernel loads the plugins
    it runs with). Anything else, ``--help`` included, gets the full CLI from :func:`build_cli`.
    """
    arguments = sys.argv[1:]
    builtin = cli.commands.get(arguments[0]) if arguments else None
    if builtin is not None and not isinstance(builtin, click.Group):
        cli(prog_name="intelbot")
        return
    build_cli()(prog_name="intelbot")
