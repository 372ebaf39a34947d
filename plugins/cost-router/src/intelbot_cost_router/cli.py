"""``intelbot router train|evaluate``: fit the router on outcome files (and live feedback), score the saved router.

Neither command needs the bot running: they read the settings (for ``data_dir``,
the plugin's table and the shared embedder), the outcome files and the router file.
A bad outcome file is reported with its file and line, exit status 2.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from intelbot.data.database import Database, database_url
from intelbot.data.feedback import FEEDBACK_SCHEMA, FeedbackStore
from intelbot.embedding import Embedder, embedder_from_settings
from intelbot.embedding.prompt import embedding_text
from intelbot.errors import ConfigurationError
from intelbot.settings import load_settings
from intelbot_cost_router.calibration import (
    delivered,
    oracle_strong_share_at_target,
    random_strong_share_at_target,
    strong_share_at_target,
)
from intelbot_cost_router.feedback_outcomes import FeedbackOutcomes, feedback_outcomes
from intelbot_cost_router.outcomes import OutcomeFileError, OutcomeRow, read_many, read_outcomes
from intelbot_cost_router.plugin import NAME, CostRouterPlugin, router_path
from intelbot_cost_router.router_file import RouterFileError, load_router, save_router
from intelbot_cost_router.settings import RouterSettings
from intelbot_cost_router.store import SCHEMA, DecisionStore
from intelbot_cost_router.training import estimates_of, thresholds_of, train_router, training_data

EXIT_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INPUT)


def _settings() -> tuple[Any, RouterSettings]:
    try:
        settings = load_settings()
        return settings, CostRouterPlugin.read_settings(settings)
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(EXIT_INPUT)


def _embedder(settings: Any, router_settings: RouterSettings) -> Embedder | None:
    try:
        return embedder_from_settings(settings, router_settings.embedding)
    except ConfigurationError as error:
        click.echo(f"configuration error: {error}", err=True)
        sys.exit(EXIT_INPUT)


def _embed(embedder: Embedder, rows: Sequence[OutcomeRow]) -> np.ndarray:
    return np.asarray(asyncio.run(embedder.embed([embedding_text(row.prompt) for row in rows])), dtype=np.float64)


@click.group("router")
def router_group() -> None:
    """The cost router: train it on outcome data, evaluate the saved router."""


async def _read_feedback(settings: Any, router_settings: RouterSettings) -> FeedbackOutcomes:
    """Outcome rows from the bot's database: votes joined with routing decisions (:mod:`.feedback_outcomes`)."""
    database = Database(database_url(settings))
    try:
        await database.migrate("feedback", FEEDBACK_SCHEMA)
        await database.migrate(NAME, SCHEMA)
        store = DecisionStore(database.engine, database.write_lock, strong_tier=router_settings.strong_tier)
        decisions = await store.decisions()
        votes = await FeedbackStore(database).votes()
    finally:
        await database.dispose()
    return feedback_outcomes(decisions, votes, strong_tier=router_settings.strong_tier)


@router_group.command("train")
@click.argument("outcomes", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--from-feedback",
    is_flag=True,
    help="Add outcome rows made from 👍/👎 feedback on routed turns in the bot's database (rule in the README).",
)
@click.option("--save", is_flag=True, help="Write the router file the plugin reads at start-up.")
@click.option(
    "--quality-target",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="Override plugins.cost_router.quality_target.",
)
@click.option("--text-only", is_flag=True, help="Use text features only (no embedding).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def train(
    outcomes: tuple[Path, ...],
    from_feedback: bool,
    save: bool,
    quality_target: float | None,
    text_only: bool,
    as_json: bool,
) -> None:
    """Fit the router on OUTCOMES files (JSON lines: prompt, strong_correct, weak_correct) and calibrate it.

    With ``--from-feedback`` the rows made from live feedback are added (OUTCOMES may then be empty).
    """
    if not outcomes and not from_feedback:
        _fail("name at least one OUTCOMES file, or add --from-feedback")
    settings, router_settings = _settings()
    try:
        rows = read_many(outcomes)
    except OutcomeFileError as error:
        _fail(str(error))
    feedback: FeedbackOutcomes | None = None
    if from_feedback:
        try:
            feedback = asyncio.run(_read_feedback(settings, router_settings))
        except ConfigurationError as error:
            _fail(str(error))
        assert feedback is not None
        if not feedback.rows:
            _fail(f"no outcome rows from feedback ({feedback.votes} votes, {feedback.skipped_votes} not usable)")
        rows = [*rows, *feedback.rows]
    embedder = None if text_only or not router_settings.use_embedding else _embedder(settings, router_settings)
    data = training_data(rows, None if embedder is None else _embed(embedder, rows))
    target = quality_target if quality_target is not None else router_settings.quality_target
    try:
        router = train_router(
            data,
            embedder="" if embedder is None else embedder.name,
            quality_target=target,
            content_targets=router_settings.content_thresholds,
        )
    except ValueError as error:
        _fail(str(error))
    path = router_path(settings, router_settings)
    if save:
        sources = [str(item) for item in outcomes] + (["answer_feedback"] if feedback is not None else [])
        save_router(router, path, trained_on=sources)
    summary = {
        "rows": router.rows,
        "model": router.candidate,
        "embedder": router.model.embedder or None,
        "cv_strong_share_at_target": dict(router.cv_scores),
        "quality_target": router.quality_target,
        "threshold": router.threshold,
        "content_thresholds": {kind: value[1] for kind, value in router.content_thresholds.items()},
        "calibration_strong_share": round(router.calibration_share, 4),
        "saved_to": str(path) if save else None,
        "feedback_rows": None if feedback is None else len(feedback.rows),
        "feedback_votes": None if feedback is None else feedback.votes,
        "feedback_votes_skipped": None if feedback is None else feedback.skipped_votes,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(f"trained on {router.rows} rows: {router.candidate} (chosen by 5-fold cross-validation, 3 fold seeds)")
    click.echo(
        f"threshold {router.threshold:.4f} for quality target {router.quality_target} "
        f"(strong share {router.calibration_share:.3f} on held-out folds)"
    )
    click.echo(f"saved to {path}" if save else "not saved (add --save to write the router file)")


@router_group.command("evaluate")
@click.argument("outcomes", type=click.Path(path_type=Path))
@click.option(
    "--quality-target",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="The target for strong_share_at_target (default: the saved router's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(outcomes: Path, quality_target: float | None, as_json: bool) -> None:
    """Score the saved router on every row of OUTCOMES."""
    settings, router_settings = _settings()
    path = router_path(settings, router_settings)
    try:
        router = load_router(path)
    except RouterFileError as error:
        _fail(str(error))
    try:
        rows = read_outcomes(outcomes)
    except OutcomeFileError as error:
        _fail(str(error))
    vectors = None
    if router.model.uses_embedding:
        embedder = _embedder(settings, router_settings)
        if embedder is None or embedder.name != router.model.embedder:
            _fail(f"the router was trained with the embedder {router.model.embedder}, which is not available here")
        assert embedder is not None
        vectors = _embed(embedder, rows)
    data = training_data(rows, vectors)
    target = quality_target if quality_target is not None else router.quality_target
    estimates = estimates_of(router, data)
    quality, share = delivered(estimates, data.strong, data.weak, thresholds_of(router, data))
    figures = {
        "rows": len(rows),
        "quality_target": target,
        "strong_quality": float(data.strong.mean()),
        "weak_quality": float(data.weak.mean()),
        "strong_share_at_target": strong_share_at_target(estimates, data.strong, data.weak, target),
        "random_strong_share_at_target": random_strong_share_at_target(data.strong, data.weak, target),
        "oracle_strong_share_at_target": oracle_strong_share_at_target(data.strong, data.weak, target),
        "quality_at_threshold": quality,
        "strong_share_at_threshold": share,
        "model": router.candidate,
    }
    if as_json:
        click.echo(json.dumps(figures))
        return
    for key, value in figures.items():
        click.echo(f"{key:<32} {value:.4f}" if isinstance(value, float) else f"{key:<32} {value}")
