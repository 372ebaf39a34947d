"""The bot's summary: one JSON-able object for ``intelbot stats``, Discord ``/stats`` and ``/api/summary``.

:func:`build_summary` is the only place these figures are computed. Two kinds of figure:

- durable, from the usage ledger and the conversation log in the database (so a fresh
  ``intelbot stats`` process sees them): turns by source, calls, tokens and cost (in
  total and since midnight UTC), the cache hit rate (turns answered from the cache over
  all turns), spend per guild, and per-minute / per-hour series;
- of this process since it started, from ``kernel.metrics`` and the plugins'
  ``collect_stats``: failed attempts by error category, breaker states, savings
  reported by plugins (``usd_saved``), every plugin's own figures.

No user, channel, prompt or answer text is ever included; guilds appear by id only,
as strings (JavaScript cannot hold a Discord snowflake in a number).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, desc, func, select
from sqlalchemy.exc import SQLAlchemyError

from intelbot.data.ledger import UsageSummary
from intelbot.data.rollups import NO_GUILD, bucket_start
from intelbot.data.tables import LedgerRollup, TurnRecord, UsageEntry

if TYPE_CHECKING:
    from intelbot.kernel import Kernel

log = logging.getLogger("intelbot.summary")

BREAKER_STATES = {0: "closed", 1: "open", 2: "half_open"}
"""Values of the ``intelbot_breaker_state`` gauge."""
SERIES_MINUTES = 60
SERIES_HOURS = 24


async def build_summary(kernel: Kernel, *, now: datetime | None = None, top_guilds: int = 10) -> dict[str, Any]:
    """The summary of ``kernel``'s bot (see the module docstring for what each figure means).

    ``now`` (UTC) fixes "today" and the series' end; ``top_guilds`` bounds the
    spend-per-guild list. A database that cannot be read gives ``database.ok = false``
    and null durable figures instead of an exception.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    registry_figures = _registry_figures(kernel)
    plugin_figures = {name: figures for name, figures in (await kernel.stats()).items() if name != "kernel"}
    summary: dict[str, Any] = {
        "generated_at": now.isoformat(timespec="seconds"),
        "kernel": {
            "running": kernel.running,
            "default_model": kernel.default_model,
            "providers": sorted(kernel.providers),
        },
        "errors": registry_figures["errors"],
        "breakers": registry_figures["breakers"],
        "savings_usd": {
            name: round(float(figures["usd_saved"]), 6)
            for name, figures in sorted(plugin_figures.items())
            if isinstance(figures.get("usd_saved"), int | float)
        },
        "plugins": _plugin_status(kernel),
        "plugin_figures": plugin_figures,
    }
    try:
        summary.update(await ledger_figures(kernel, now, midnight, top_guilds))
        summary["database"] = {"ok": True, "dialect": kernel.database.dialect}
    except (SQLAlchemyError, OSError) as error:
        log.warning("summary: reading the ledger failed: %s", type(error).__name__)
        summary.update({key: None for key in ("turns", "calls", "tokens", "cost_usd", "cache", "guilds", "series")})
        summary["database"] = {"ok": False, "dialect": kernel.database.dialect, "error": type(error).__name__}
    return summary


def _plugin_status(kernel: Kernel) -> list[dict[str, str]]:
    """``loaded``, ``failed`` (why: only in ``/health`` for managers) or ``disabled``, one row per plugin name."""
    status: dict[str, str] = {}
    for info in kernel.plugins:
        if info.builtin:
            continue
        state = "loaded" if info.loaded else ("failed" if info.error else "disabled")
        if status.get(info.name) != "loaded":  # an instance given directly wins over its disabled entry point
            status[info.name] = state
    return [{"name": name, "status": state} for name, state in sorted(status.items())]


def _registry_figures(kernel: Kernel) -> dict[str, Any]:
    """Errors by category and breaker states, read from ``kernel.metrics`` (this process since start)."""
    errors: dict[str, float] = {}
    attempts = 0.0
    breakers: dict[str, str] = {}
    for family in kernel.metrics.collect():
        for sample in family.samples:
            if sample.name == "intelbot_llm_errors_total":
                errors[sample.labels["category"]] = errors.get(sample.labels["category"], 0.0) + sample.value
            elif sample.name == "intelbot_llm_calls_total":
                attempts += sample.value
            elif sample.name == "intelbot_breaker_state":
                breakers[sample.labels["breaker"]] = BREAKER_STATES.get(int(sample.value), "unknown")
    return {
        "errors": {
            "attempts": int(attempts),
            "by_category": {category: int(count) for category, count in sorted(errors.items())},
            "rate_by_category": {
                category: round(count / attempts, 4) if attempts else 0.0 for category, count in sorted(errors.items())
            },
        },
        "breakers": dict(sorted(breakers.items())),
    }


async def ledger_figures(kernel: Kernel, now: datetime, midnight: datetime, top_guilds: int) -> dict[str, Any]:
    """The durable figures from ``ledger_rollups``, after writing the ledger's buffered rows.

    Every range read starts on a minute or hour boundary, so these equal
    :func:`recomputed_ledger_figures` while a few hundred rollup rows are read instead of
    every ledger row.
    """
    await kernel.ledger.flush()
    hourly = LedgerRollup.grain == "hour"
    counters = (
        func.coalesce(func.sum(LedgerRollup.calls), 0),
        func.coalesce(func.sum(LedgerRollup.input_tokens), 0),
        func.coalesce(func.sum(LedgerRollup.output_tokens), 0),
        func.coalesce(func.sum(LedgerRollup.cost_usd), 0.0),
        func.coalesce(func.sum(LedgerRollup.turns), 0),
    )
    async with kernel.database.session() as session:
        calls, input_tokens, output_tokens, cost, _turns = (
            await session.execute(select(*counters).where(hourly))
        ).one()
        calls_today, input_today, output_today, cost_today, turns_today = (
            await session.execute(select(*counters).where(hourly, LedgerRollup.bucket >= midnight))
        ).one()
        source_turns = func.sum(LedgerRollup.turns)
        by_source = {
            str(source): int(count)
            for source, count in (
                await session.execute(
                    select(LedgerRollup.source, source_turns)
                    .where(hourly)
                    .group_by(LedgerRollup.source)
                    .having(source_turns > 0)
                )
            ).all()
        }
        guild_rows = await _rollup_guild_spend(session, midnight, top_guilds)
        series = {
            "hour": await _rollup_series(session, now, minutes=True),
            "day": await _rollup_series(session, now, minutes=False),
        }
    return _durable_figures(
        by_source,
        int(turns_today or 0),
        UsageSummary(int(calls), int(input_tokens), int(output_tokens), float(cost)),
        UsageSummary(int(calls_today), int(input_today), int(output_today), float(cost_today)),
        guild_rows,
        series,
    )


def _durable_figures(
    by_source: dict[str, int],
    turns_today: int,
    total: UsageSummary,
    today: UsageSummary,
    guild_rows: list[tuple[int, float, int]],
    series: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """The summary's durable keys, the same shape whichever way the figures were read."""
    turns_total = sum(by_source.values())
    cached = by_source.get("cache", 0)
    return {
        "turns": {"total": turns_total, "today": turns_today, "by_source": dict(sorted(by_source.items()))},
        "calls": {"total": total.calls, "today": today.calls},
        "tokens": {
            "input": total.input_tokens,
            "output": total.output_tokens,
            "total": total.tokens,
            "today": today.tokens,
        },
        "cost_usd": {"total": round(total.cost_usd, 6), "today": round(today.cost_usd, 6)},
        "cache": {"hits": cached, "hit_rate": round(cached / turns_total, 4) if turns_total else 0.0},
        "guilds": [
            {"guild_id": str(guild_id), "cost_usd_today": round(cost, 6), "calls_today": calls}
            for guild_id, cost, calls in guild_rows
        ],
        "series": series,
    }


def _series_window(now: datetime, *, minutes: bool) -> tuple[datetime, timedelta, int, str]:
    """First bucket, step, bucket count and label format of the last hour by minute or the last day by hour."""
    step = timedelta(minutes=1) if minutes else timedelta(hours=1)
    count = SERIES_MINUTES if minutes else SERIES_HOURS
    end = now.replace(second=0, microsecond=0) if minutes else now.replace(minute=0, second=0, microsecond=0)
    return end - step * (count - 1), step, count, "%Y-%m-%dT%H:%M" if minutes else "%Y-%m-%dT%H"


def _points(
    start: datetime, step: timedelta, count: int, label_format: str, turns: dict[str, Any], costs: dict[str, Any]
) -> list[dict[str, Any]]:
    points = []
    for index in range(count):
        label = (start + step * index).strftime(label_format)
        points.append(
            {"t": label, "turns": int(turns.get(label, 0)), "cost_usd": round(float(costs.get(label) or 0.0), 6)}
        )
    return points


async def _rollup_series(session: Any, now: datetime, *, minutes: bool) -> list[dict[str, Any]]:
    """Turns and cost per minute over the last hour, or per hour over the last day, from the rollups."""
    start, step, count, label_format = _series_window(now, minutes=minutes)
    rows = (
        await session.execute(
            select(LedgerRollup.bucket, func.sum(LedgerRollup.turns), func.sum(LedgerRollup.cost_usd))
            .where(LedgerRollup.grain == ("minute" if minutes else "hour"), LedgerRollup.bucket >= start)
            .group_by(LedgerRollup.bucket)
        )
    ).all()
    turns = {bucket.strftime(label_format): int(count or 0) for bucket, count, _cost in rows}
    costs = {bucket.strftime(label_format): cost for bucket, _count, cost in rows}
    return _points(start, step, count, label_format, turns, costs)


async def recomputed_ledger_figures(
    kernel: Kernel, now: datetime, midnight: datetime, top_guilds: int
) -> dict[str, Any]:
    """The durable figures recomputed from every ledger and log row: what the rollups must equal.

    Reads every row (seconds after 100k turns): for checking :func:`ledger_figures`, not for serving.
    """
    await kernel.ledger.flush()
    total = await kernel.ledger.summary()
    today = await kernel.ledger.summary(since=midnight)
    dialect = kernel.database.dialect
    async with kernel.database.session() as session:
        by_source = {
            str(source): int(count)
            for source, count in (
                await session.execute(select(TurnRecord.source, func.count(TurnRecord.id)).group_by(TurnRecord.source))
            ).all()
        }
        turns_today = int(
            (await session.execute(select(func.count(TurnRecord.id)).where(TurnRecord.created_at >= midnight))).scalar()
            or 0
        )
        guild_rows = await _guild_spend(session, midnight, top_guilds)
        series = {
            "hour": await _series(session, dialect, now, minutes=True),
            "day": await _series(session, dialect, now, minutes=False),
        }
    return _durable_figures(by_source, turns_today, total, today, guild_rows, series)


async def guild_spend(kernel: Kernel, since: datetime, limit: int | None = None) -> list[tuple[int, float, int]]:
    """``(guild_id, USD, calls)`` per guild since ``since``, highest spend first (buffered ledger rows included).

    From the hourly rollups when ``since`` starts an hour (midnight does), else from the rows.
    """
    await kernel.ledger.flush()
    async with kernel.database.session() as session:
        if bucket_start(since, "hour") == since:
            return await _rollup_guild_spend(session, since, limit)
        return await _guild_spend(session, since, limit)


async def _rollup_guild_spend(session: Any, since: datetime, limit: int | None) -> list[tuple[int, float, int]]:
    spend = func.sum(LedgerRollup.cost_usd).label("spend")
    calls = func.sum(LedgerRollup.calls)
    statement = (
        select(LedgerRollup.guild_key, spend, calls)
        .where(LedgerRollup.grain == "hour", LedgerRollup.bucket >= since, LedgerRollup.guild_key != NO_GUILD)
        .group_by(LedgerRollup.guild_key)
        .having(calls > 0)
        .order_by(desc(spend), LedgerRollup.guild_key)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        (int(guild), float(usd or 0.0), int(count)) for guild, usd, count in (await session.execute(statement)).all()
    ]


async def _guild_spend(session: Any, since: datetime, limit: int | None) -> list[tuple[int, float, int]]:
    spend = func.sum(UsageEntry.cost_usd).label("spend")
    statement = (
        select(UsageEntry.guild_id, spend, func.count(UsageEntry.id))
        .where(UsageEntry.created_at >= since, UsageEntry.guild_id.is_not(None))
        .group_by(UsageEntry.guild_id)
        .order_by(desc(spend), UsageEntry.guild_id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        (int(guild), float(cost or 0.0), int(calls)) for guild, cost, calls in (await session.execute(statement)).all()
    ]


def _bucket(column: Any, dialect: str, minutes: bool) -> ColumnElement[Any]:
    """``column`` (a UTC timestamp) truncated to the minute or the hour, as ``YYYY-MM-DDTHH[:MM]`` text."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI' if minutes else 'YYYY-MM-DD"T"HH24')
    return func.strftime("%Y-%m-%dT%H:%M" if minutes else "%Y-%m-%dT%H", column)


async def _series(session: Any, dialect: str, now: datetime, *, minutes: bool) -> list[dict[str, Any]]:
    """Turns and cost per minute over the last hour, or per hour over the last day, oldest first, gaps as zero."""
    start, step, count, label_format = _series_window(now, minutes=minutes)
    turn_bucket = _bucket(TurnRecord.created_at, dialect, minutes).label("bucket")
    turns = dict(
        (
            await session.execute(
                select(turn_bucket, func.count(TurnRecord.id)).where(TurnRecord.created_at >= start).group_by("bucket")
            )
        ).all()
    )
    cost_bucket = _bucket(UsageEntry.created_at, dialect, minutes).label("bucket")
    costs = dict(
        (
            await session.execute(
                select(cost_bucket, func.sum(UsageEntry.cost_usd))
                .where(UsageEntry.created_at >= start)
                .group_by("bucket")
            )
        ).all()
    )
    return _points(start, step, count, label_format, turns, costs)
