"""The usage ledger and conversation log, written behind the turn.

``record`` is synchronous and cheap: rows go to an in-memory buffer that a
background task writes in batches (every ``flush_interval`` seconds, or at once
past ``batch_size`` rows) and that ``flush()``/``close()`` drain. Sums read from
the ledger include rows still in the buffer, so a spending cap never misses a
call made by this process; other replicas see them after the next flush.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select

from intelbot.contract import LLMResponse, TurnContext
from intelbot.data.database import Database
from intelbot.data.tables import TurnRecord, UsageEntry

log = logging.getLogger("intelbot.ledger")


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

    def __init__(self, database: Database, *, flush_interval: float = 0.05, batch_size: int = 500) -> None:
        self.database = database
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self._usage: list[dict[str, Any]] = []
        self._turns: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self._closed = False

    def start(self) -> None:
        """Start the background writer (idempotent)."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="intelbot-ledger-writer")

    def record_call(self, response: LLMResponse, ctx: TurnContext) -> None:
        """Queue one ledger row for ``response``."""
        self._usage.append(
            {
                "request_id": ctx.request_id,
                "guild_id": ctx.guild_id,
                "user_id": ctx.user_id,
                **response.usage_record(),
                "created_at": datetime.now(UTC),
            }
        )
        self._nudge()

    def record_turn(self, question: str, response: LLMResponse, ctx: TurnContext) -> None:
        """Queue one conversation-log row."""
        self._turns.append(
            {
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
        )
        self._nudge()

    def _nudge(self) -> None:
        if len(self._usage) + len(self._turns) >= self.batch_size:
            self._wakeup.set()

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
                log.error("usage ledger write failed, will retry: %s", type(error).__name__)
                await asyncio.sleep(min(1.0, self.flush_interval * 10))

    async def flush(self) -> None:
        """Write every buffered row now. Rows are kept in the buffer if the write fails."""
        async with self._flushing:
            usage, turns = self._usage[:], self._turns[:]
            if not usage and not turns:
                return
            async with self.database.write_lock, self.database.engine.begin() as connection:
                if usage:
                    await connection.execute(insert(UsageEntry), usage)
                if turns:
                    await connection.execute(insert(TurnRecord), turns)
            del self._usage[: len(usage)]
            del self._turns[: len(turns)]

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
        return UsageSummary(
            calls=int(calls) + len(pending),
            input_tokens=int(input_tokens) + sum(row["input_tokens"] for row in pending),
            output_tokens=int(output_tokens) + sum(row["output_tokens"] for row in pending),
            cost_usd=float(cost) + sum(row["cost_usd"] for row in pending),
        )

    async def spent_usd(self, *, guild_id: int | None, since: datetime) -> float:
        """USD spent by ``guild_id`` since ``since``."""
        return (await self.summary(guild_id=guild_id, since=since)).cost_usd
