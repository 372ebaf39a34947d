"""``intelbot cache stats|clear|calibrate|evaluate``: the cache from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from intelbot.embedding import Embedder, embedder_from_settings
from intelbot.errors import ConfigurationError
from intelbot.settings import load_settings
from intelbot_semantic_cache.calibration import LabelledPair, calibrate, evaluate, read_pairs
from intelbot_semantic_cache.index import INDEX_KINDS
from intelbot_semantic_cache.plugin import SemanticCachePlugin, cache_paths, match_rule, running_cache
from intelbot_semantic_cache.settings import CacheSettings

NOT_LOADED = "the semantic cache is not loaded (is [default.plugins.semantic_cache] enabled = false?)"
CURVE_COLUMNS = (
    "threshold",
    "hit_rate",
    "precision",
    "precision_conservative",
    "false_hit_rate",
    "unlabelled_hit_share",
)


@click.group("cache")
def cache_group() -> None:
    """The semantic cache: figures, clearing, threshold calibration."""


@cache_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(as_json: bool) -> None:
    """Print entries and the hits they have had (durable), and this process's hits, hit rate and savings.

    A fresh process has served nothing yet: its per-process figures (listed under
    ``per_process``) start at 0, and lookup latency appears once it has looked anything up.
    """
    from intelbot.frontends.cli import open_kernel, print_figures, run_async

    async def work() -> dict[str, Any] | None:
        async with open_kernel() as kernel:
            cache = running_cache(kernel)
            return None if cache is None else cache.stats()

    print_figures(run_async(work), as_json=as_json, not_loaded=NOT_LOADED)


@cache_group.command("clear")
@click.option("--guild", "guild_id", type=int, default=None, help="Clear only this guild's entries.")
def clear(guild_id: int | None) -> None:
    """Remove cached answers (all of them, or one guild's)."""
    from intelbot.frontends.cli import open_kernel, run_async

    async def work() -> int | None:
        async with open_kernel() as kernel:
            cache = running_cache(kernel)
            if cache is None:
                return None
            return await cache.clear(guild_id, everything=guild_id is None)

    removed = run_async(work)
    if removed is None:
        click.echo(NOT_LOADED, err=True)
        sys.exit(1)
    where = f" of guild {guild_id}" if guild_id is not None else ""
    click.echo(f"removed {removed} entries{where}")


@cache_group.command("calibrate")
@click.argument("pairs_file", metavar="PAIRS.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target-precision", default=0.95, show_default=True, type=click.FloatRange(0.0, 1.0))
@click.option(
    "--threshold", type=float, default=None, help="Report the figures at this threshold instead of picking one."
)
@click.option("--rule", "rule_kind", type=click.Choice(["learned", "cosine"]), default="learned", show_default=True)
@click.option(
    "--holdout",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0.0, 0.9),
    help="Share of the pairs (the last rows) kept for reporting; 0 fits and reports on the same rows.",
)
@click.option(
    "--stage",
    type=click.Choice(["logistic", "adapter"]),
    default="logistic",
    show_default=True,
    help="The learned rule's first stage: the logistic model, or a linear adapter on the embeddings "
    "(measured: it did not win on Quora pairs).",
)
@click.option(
    "--trees/--no-trees",
    default=False,
    show_default=True,
    help="Add the tree stage over text features to the learned rule (measured: it lost on Quora pairs).",
)
@click.option("--index", type=click.Choice(INDEX_KINDS), default="exact", show_default=True)
@click.option("--save", is_flag=True, help="Write the rule to the calibration file the plugin reads at start-up.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def calibrate_command(
    pairs_file: Path,
    target_precision: float,
    threshold: float | None,
    rule_kind: str,
    holdout: float,
    stage: str,
    trees: bool,
    index: str,
    save: bool,
    as_json: bool,
) -> None:
    """Fit and check the match rule on labelled pairs (JSON lines: q1, q2, duplicate 0|1).

    Every q1 goes into a fresh cache, every q2 is looked up; the rule is fitted and
    its threshold picked on the first rows, the figures come from the held-out rows.
    """
    pairs, settings, cache_settings, embedder = _pairs_and_embedder(pairs_file)
    say = _progress(as_json)
    try:
        result = asyncio.run(
            calibrate(
                pairs,
                embedder,
                rule_kind=rule_kind,
                target_precision=target_precision,
                threshold=threshold,
                holdout=holdout,
                index=index,
                stage=stage,
                trees=trees,
                progress=say,
            )
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    report = result.report
    report["rule_from"] = f"fitted now on {pairs_file}"
    if save:
        _, calibration_path = cache_paths(settings, cache_settings)
        result.rule.save(calibration_path)
        report["saved_to"] = str(calibration_path)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(format_report(report))


@cache_group.command("evaluate")
@click.argument("pairs_file", metavar="PAIRS.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--index", type=click.Choice(INDEX_KINDS), default="exact", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate_command(pairs_file: Path, index: str, as_json: bool) -> None:
    """Score the rule the plugin would use now on every pair of PAIRS.jsonl (nothing is fitted).

    The rule is the saved calibration when there is one, else plain cosine at
    ``similarity_threshold``. Plain cosine runs beside it on the same rows, at the
    threshold calibration picked for it (or ``similarity_threshold``). Same
    figures and JSON keys as ``calibrate``.
    """
    pairs, settings, cache_settings, embedder = _pairs_and_embedder(pairs_file)
    _, calibration_path = cache_paths(settings, cache_settings)
    try:
        rule = match_rule(cache_settings, calibration_path, embedder)
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    cosine_threshold = float(rule.notes.get("baseline_cosine_threshold", cache_settings.similarity_threshold))
    report = asyncio.run(
        evaluate(pairs, embedder, rule, cosine_threshold=cosine_threshold, index=index, progress=_progress(as_json))
    )
    from_file = rule.kind != "cosine" or calibration_path.exists()
    report["rule_from"] = str(calibration_path) if from_file else "settings (similarity_threshold)"
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(format_report(report))


def _pairs_and_embedder(pairs_file: Path) -> tuple[list[LabelledPair], Any, CacheSettings, Embedder]:
    """The pairs, the settings, the plugin's settings and its embedder; exits with a clear message when one fails."""
    try:
        pairs = read_pairs(pairs_file)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="PAIRS.jsonl") from None
    settings = load_settings()
    try:
        cache_settings = SemanticCachePlugin.read_settings(settings)
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(2)
    embedder = embedder_from_settings(settings, cache_settings.embedding)
    if embedder is None:
        click.echo("no embedder is available (see the warning above); this command needs one", err=True)
        sys.exit(2)
    return pairs, settings, cache_settings, embedder


def _progress(quiet: bool) -> Any:
    return (lambda _message: None) if quiet else (lambda message: click.echo(f"... {message}", err=True))


def format_report(report: dict[str, Any]) -> str:
    """The curve as a table, then the chosen operating point and the cosine baseline."""
    lines = ["  ".join(f"{column:>22}" for column in CURVE_COLUMNS)]
    for row in report["curve"]:
        lines.append("  ".join(f"{row[column]:>22.4f}" for column in CURVE_COLUMNS))
    start, end = report["reported_on_rows"]
    if report["fitted_on_rows"] is None:
        sample = f"all {end} pairs (rule from {report.get('rule_from', '?')}, nothing fitted on them)"
    elif report["in_sample"]:
        sample = "same rows as fitted (in-sample)"
    else:
        sample = f"held-out rows {start}..{end - 1}"
    lines.append("")
    if not report.get("threshold_found", True):
        lines.append(
            f"no threshold reaches precision {report['target_precision']} on the fitting rows "
            "(or too few labelled hits there): only exact matches are served"
        )
    lines.append(
        f"rule {report['rule']} at threshold {report['threshold']:.4f} on {sample}: hit rate {report['hit_rate']:.4f}, "
        f"precision {report['precision']:.4f} (conservative {report['precision_conservative']:.4f}), "
        f"false hits {report['false_hit_rate']:.4f}, unlabelled share {report['unlabelled_hit_share']:.4f}"
    )
    baseline = report.get("baseline_cosine")
    if baseline and report["rule"] != "cosine":
        lines.append(
            f"plain cosine at threshold {baseline['threshold']:.4f} on the same rows: "
            f"hit rate {baseline['hit_rate']:.4f}, precision {baseline['precision']:.4f}"
            + (f" (the rule has {report['hit_rate_vs_cosine']:.2f}x its hits)" if report["hit_rate_vs_cosine"] else "")
        )
    if "saved_to" in report:
        lines.append(f"saved to {report['saved_to']}")
    return "\n".join(lines)
