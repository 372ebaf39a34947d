"""The usage ledger and conversation log, written behind the turn.

``record`` is synchronous and cheap: rows go to an in-memory buffer that a
background task writes in batches (every ``flush_interval`` seconds, or at once
past ``batch_size`` rows) and that ``flush()``/``close()`` drain. Sums read from
the ledger include rows still in the buffer, so a spending cap never misses a
call made by this process; other replicas see them after the next flush.

What the database may refuse never blocks the rows behind it:

- text is sanitised when a row is queued: U+0000 (which PostgreSQL refuses in
  text) and unpaired surrogates become U+FFFD, strings are cut to their column's length;
- a batch the database refuses for its data (SQLSTATE class 22 or 23, or a value the
  driver cannot encode) is bisected until each refused row is alone; that row goes
  to ``ledger_dead_letters`` as JSON with the reason, is counted in
  ``intelbot_ledger_dead_letters_total`` and logged; every other row is written;
- each transaction that writes rows also adds them to ``ledger_rollups``
  (:mod:`intelbot.data.rollups`), which summaries read instead of the rows;
- any other failure (the database unreachable, a missing table) keeps the rows
  buffered and retries; the buffer holds at most ``max_buffered`` rows per table,
  after which new rows are dropped, counted in ``intelbot_ledger_dropped_rows_total``,
  logged once and reported by :meth:`health_lines` until it drains.

A dead-lettered usage row was still a paid call: :meth:`summary` (and so every
spending cap, on every replica) counts it from its JSON payload, beside the
written rows and the buffered ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, Table, func, insert, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from intelbot.contract import LLMResponse, TurnContext
from intelbot.data.database import Database
from intelbot.data.rollups import BACKFILL, add_rollups
from intelbot.data.tables import KernelTable, LedgerDeadLetter, LedgerTable, TurnRecord, UsageEntry
from intelbot.metrics import KernelMetrics

log = logging.getLogger("intelbot.ledger")

REPLACEMENT = "\ufffd"
MAX_BUFFERED = 50_000
MAX_REASON = 500
_ROW_SQLSTATE_CLASSES = ("22", "23")  # data exception, integrity constraint violation
_ROW_CAUSES = (UnicodeError, OverflowError, ValueError, TypeError)  # the driver could not encode a value
LEDGER_SCHEMA = (lambda connection: LedgerTable.metadata.create_all(connection), BACKFILL)
"""Migration steps of the ``ledger`` component: its tables (dead letters, rollups), then the rollups' backfill."""


def sanitised_text(value: str, max_length: int | None = None) -> str:
    """``value`` that any database stores: no U+0000, no unpaired surrogate, at most ``max_length`` characters."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(REPLACEMENT if "\ud800" <= char <= "\udfff" else char for char in value)
    if max_length is not None and len(value) > max_length:
        value = value[:max_length]
    return value


def _string_lengths(table: type[KernelTable]) -> dict[str, int | None]:
    """Column name -> maximum length (None: unlimited) for the text columns of ``table``."""
    lengths: dict[str, int | None] = {}
    columns: Table = table.__table__  # type: ignore[assignment]
    for column in columns.columns:
        if isinstance(column.type, String):
            lengths[column.name] = column.type.length
    return lengths


_USAGE_TEXT = _string_lengths(UsageEntry)
_TURN_TEXT = _string_lengths(TurnRecord)


def _sanitised(row: dict[str, Any], text_columns: dict[str, int | None]) -> dict[str, Any]:
    for name, max_length in text_columns.items():
        value = row.get(name)
        if isinstance(value, str):
            row[name] = sanitised_text(value, max_length)
    return row


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps (SQLAlchemy's ``orig``, then ``__cause__``/``__context__``)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__ or current.__context__
    return chain


def refused_for_its_data(error: BaseException) -> bool:
    """True when the database (or its driver) refused the rows themselves, not the connection or the schema."""
    for cause in _causes(error):
        if isinstance(cause, DataError | IntegrityError):
            return True
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _ROW_SQLSTATE_CLASSES:
            return True
        if isinstance(cause, OSError | TimeoutError):
            return False
        if isinstance(cause, _ROW_CAUSES):
            return True
    return False


def _reason(error: BaseException) -> str:
    """The innermost cause's type and first line: what the database said, without the SQL statement."""
    causes = _causes(error)
    inner = causes[-1]
    for cause in reversed(causes):
        if str(cause).strip():
            inner = cause
            break
    first_line = (str(inner).strip().splitlines() or [""])[0]
    return sanitised_text(f"{type(inner).__name__}: {first_line}", MAX_REASON)


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals over a set of ledger rows."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class UsageLedger:
    """Records every LLM call and answered turn; answers usage and spending questions."""

    def __init__(
        self,
        database: Database,
        *,
        flush_interval: float = 0.05,
        batch_size: int = 500,
        max_buffered: int = MAX_BUFFERED,
        metrics: KernelMetrics | None = None,
    ) -> None:
        self.database = database
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_buffered = max_buffered
        self.metrics = metrics or KernelMetrics()
        self.dead_letters = 0
        self.dropped = 0
        self._usage: list[dict[str, Any]] = []
        self._turns: list[dict[str, Any]] = []
        self._full: set[str] = set()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._closed = False
        self._failing = False

    def start(self) -> None:
        """Start the background writer (idempotent)."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="intelbot-ledger-writer")

    def record_call(self, response: LLMResponse, ctx: TurnContext) -> None:
        """Queue one ledger row for ``response``."""
        row = {
            "request_id": ctx.request_id,
            "guild_id": ctx.guild_id,
            "user_id": ctx.user_id,
            **response.usage_record(),
            "created_at": datetime.now(UTC),
        }
        self._queue(UsageEntry.__tablename__, self._usage, _sanitised(row, _USAGE_TEXT))

    def record_turn(self, question: str, response: LLMResponse, ctx: TurnContext) -> None:
        """Queue one conversation-log row."""
        row = {
            "request_id": ctx.request_id,
            "guild_id": ctx.guild_id,
            "channel_id": ctx.channel_id,
            "user_id": ctx.user_id,
            "frontend": ctx.frontend,
            "question": question,
            "answer": response.text,
            "model": response.model,
            "source": response.source.value,
            "created_at": datetime.now(UTC),
        }
        self._queue(TurnRecord.__tablename__, self._turns, _sanitised(row, _TURN_TEXT))

    def _queue(self, table: str, buffer: list[dict[str, Any]], row: dict[str, Any]) -> None:
        if len(buffer) >= self.max_buffered:
            self.dropped += 1
            self.metrics.ledger_dropped.labels(table).inc()
            if table not in self._full:
                self._full.add(table)
                log.error(
                    "usage ledger: %d %s rows wait for the database; dropping new rows until it takes them",
                    len(buffer),
                    table,
                )
            return
        buffer.append(row)
        self.metrics.ledger_buffered.labels(table).set(len(buffer))
        if len(self._usage) + len(self._turns) >= self.batch_size:
            self._wakeup.set()

    def health_lines(self) -> list[str]:
        """Status lines for ``/health`` when something is wrong (nothing when all is written)."""
        lines: list[str] = []
        if self._full:
            lines.append(
                f"usage ledger: buffer FULL ({len(self._usage)} calls, {len(self._turns)} turns waiting for "
                f"the database); {self.dropped} rows dropped"
            )
        elif self._failing:
            lines.append(f"usage ledger: database writes failing; {len(self._usage) + len(self._turns)} rows waiting")
        if self.dead_letters:
            lines.append(f"usage ledger: {self.dead_letters} rows refused by the database, kept in ledger_dead_letters")
        return lines

    async def _write_forever(self) -> None:
        while not self._closed:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.flush_interval)
            except TimeoutError:
                pass
            self._wakeup.clear()
            try:
                await self.flush()
            except Exception as error:  # noqa: BLE001 - keep writing; rows stay buffered
                if not self._failing:
                    log.error("usage ledger write failed, will retry: %s", type(error).__name__)
                self._failing = True
                await asyncio.sleep(min(1.0, self.flush_interval * 10))
            else:
                if self._failing:
                    log.info("usage ledger: writing again")
                self._failing = False

    async def flush(self) -> None:
        """Write every buffered row now; rows the database refuses go to ``ledger_dead_letters``.

        Raises (keeping the rows not yet written in the buffer) when the database
        cannot be written at all.
        """
        async with self._flushing:
            usage, turns = self._usage[:], self._turns[:]
            if not usage and not turns:
                return
            done: set[int] = set()
            try:
                try:
                    async with self.database.write_lock, self.database.engine.begin() as connection:
                        if usage:
                            await connection.execute(insert(UsageEntry), usage)
                        if turns:
                            await connection.execute(insert(TurnRecord), turns)
                        await add_rollups(connection, usage, turns)
                    done.update(id(row) for row in (*usage, *turns))
                except Exception as error:
                    if not refused_for_its_data(error):
                        raise
                    await self._isolate(UsageEntry, usage, done)
                    await self._isolate(TurnRecord, turns, done)
            finally:
                self._drop_written(done)

    async def _isolate(self, table: type[KernelTable], rows: Sequence[dict[str, Any]], done: set[int]) -> None:
        """Write ``rows``, bisecting around the ones the database refuses (each refused row is dead-lettered)."""
        if not rows:
            return
        try:
            async with self.database.write_lock, self.database.engine.begin() as connection:
                await connection.execute(insert(table), list(rows))
                await add_rollups(connection, rows if table is UsageEntry else (), rows if table is TurnRecord else ())
        except Exception as error:
            if not refused_for_its_data(error):
                raise
            if len(rows) == 1:
                await self._dead_letter(table, rows[0], error)
                done.add(id(rows[0]))
                return
            middle = len(rows) // 2
            await self._isolate(table, rows[:middle], done)
            await self._isolate(table, rows[middle:], done)
            return
        done.update(id(row) for row in rows)

    async def _dead_letter(self, table: type[KernelTable], row: dict[str, Any], error: BaseException) -> None:
        kind = str(table.__tablename__)
        reason = _reason(error)
        payload = json.dumps(row, default=str, ensure_ascii=True, sort_keys=True)
        request_id = sanitised_text(str(row.get("request_id", "")), 64)
        async with self.database.write_lock, self.database.engine.begin() as connection:
            await connection.execute(
                insert(LedgerDeadLetter).values(kind=kind, request_id=request_id, reason=reason, payload=payload)
            )
        self.dead_letters += 1
        self.metrics.ledger_dead_letters.labels(kind).inc()
        log.error(
            "usage ledger: the database refused a %s row (request %s): %s; kept in ledger_dead_letters",
            kind,
            request_id,
            reason,
        )

    def _drop_written(self, done: set[int]) -> None:
        if done:
            self._usage[:] = [row for row in self._usage if id(row) not in done]
            self._turns[:] = [row for row in self._turns if id(row) not in done]
        for table, buffer in ((UsageEntry.__tablename__, self._usage), (TurnRecord.__tablename__, self._turns)):
            self.metrics.ledger_buffered.labels(table).set(len(buffer))
            if table in self._full and len(buffer) < self.max_buffered:
                self._full.discard(table)
                log.warning("usage ledger: the %s buffer has room again", table)

    async def close(self) -> None:
        """Stop the writer and write what is left."""
        self._closed = True
        self._wakeup.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.flush()

    async def summary(
        self, *, guild_id: int | None = None, user_id: int | None = None, since: datetime | None = None
    ) -> UsageSummary:
        """Totals of ledger rows matching every given filter, including rows not yet written."""
        statement = select(
            func.count(UsageEntry.id),
            func.coalesce(func.sum(UsageEntry.input_tokens), 0),
            func.coalesce(func.sum(UsageEntry.output_tokens), 0),
            func.coalesce(func.sum(UsageEntry.cost_usd), 0.0),
        )
        if guild_id is not None:
            statement = statement.where(UsageEntry.guild_id == guild_id)
        if user_id is not None:
            statement = statement.where(UsageEntry.user_id == user_id)
        if since is not None:
            statement = statement.where(UsageEntry.created_at >= since)
        async with self._flushing:
            pending = [
                row
                for row in self._usage
                if (guild_id is None or row["guild_id"] == guild_id)
                and (user_id is None or row["user_id"] == user_id)
                and (since is None or row["created_at"] >= since)
            ]
            async with self.database.session() as session:
                calls, input_tokens, output_tokens, cost = (await session.execute(statement)).one()
                refused = await self._refused_usage(session, guild_id=guild_id, user_id=user_id, since=since)
        return UsageSummary(
            calls=int(calls) + len(pending) + len(refused),
            input_tokens=int(input_tokens) + sum(row["input_tokens"] for row in (*pending, *refused)),
            output_tokens=int(output_tokens) + sum(row["output_tokens"] for row in (*pending, *refused)),
            cost_usd=float(cost) + sum(row["cost_usd"] for row in (*pending, *refused)),
        )

    @staticmethod
    async def _refused_usage(
        session: AsyncSession, *, guild_id: int | None, user_id: int | None, since: datetime | None
    ) -> list[dict[str, Any]]:
        """Dead-lettered usage rows matching the filters, as ``{input_tokens, output_tokens, cost_usd}``.

        A row is dead-lettered after it was made, so ``since`` first narrows by the
        letter's own time, then by the row's ``created_at`` in the payload. Numbers
        that are missing, not numbers or not finite count as 0 (the call is still
        counted); a payload that is not a JSON object is skipped.
        """
        statement = select(LedgerDeadLetter.payload).where(LedgerDeadLetter.kind == UsageEntry.__tablename__)
        if since is not None:
            statement = statement.where(LedgerDeadLetter.created_at >= since)
        refused: list[dict[str, Any]] = []
        for (payload,) in await session.execute(statement):
            try:
                row = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            if guild_id is not None and row.get("guild_id") != guild_id:
                continue
            if user_id is not None and row.get("user_id") != user_id:
                continue
            if since is not None and not _made_since(row.get("created_at"), since):
                continue
            refused.append(
                {
                    "input_tokens": int(_finite(row.get("input_tokens"))),
                    "output_tokens": int(_finite(row.get("output_tokens"))),
                    "cost_usd": _finite(row.get("cost_usd")),
                }
            )
        return refused

    async def spent_usd(self, *, guild_id: int | None, since: datetime) -> float:
        """USD spent by ``guild_id`` since ``since``."""
        return (await self.summary(guild_id=guild_id, since=since)).cost_usd


def _finite(value: object) -> float:
    """``value`` as a finite float, or 0.0 when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0


def _made_since(created_at: object, since: datetime) -> bool:
    """True when a payload's ``created_at`` (ISO text) is at or after ``since``; True when it cannot be read."""
    try:
        made = datetime.fromisoformat(str(created_at))
    except ValueError:
        return True
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return made >= since
