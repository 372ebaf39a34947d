"""Answer feedback: the asker's 👍 / 👎 on an answer, one row per answered turn (table ``answer_feedback``).

A front end that shows feedback buttons first :meth:`FeedbackStore.offer` s the
answer (its ``request_id`` and who asked); a click then :meth:`FeedbackStore.vote` s.
The rules are checked here, on the server, in one conditional UPDATE so that two
clicks (or two replicas) can never both count:

- only the user who asked may vote on the answer (:attr:`VoteOutcome.NOT_ASKER`);
- one vote per answer, hence per user and answer (:attr:`VoteOutcome.ALREADY_VOTED`);
- an answer never offered cannot be voted on (:attr:`VoteOutcome.UNKNOWN_ANSWER`).

Plugins read the votes by ``request_id`` (the cost router joins them with its
routing decisions for ``intelbot router train --from-feedback``), or hear of each
one as it is recorded through the ``answer_voted`` hook (:meth:`intelbot.kernel.Kernel.vote`;
the semantic cache learns its per-entry thresholds that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import BigInteger, Connection, Float, Integer, Row, String, Table, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from intelbot.contract import LLMResponse, Source
from intelbot.data.database import Database
from intelbot.data.tables import KernelTable

UP: Final = "up"
DOWN: Final = "down"
VOTES: Final = (UP, DOWN)
FEEDBACK_WANTED: Final = "feedback_wanted"
"""``LLMResponse.metadata`` key: true when the plugin that served the answer wants votes on it."""


def wants_feedback(response: LLMResponse) -> bool:
    """True when ``response`` is offered for votes: a provider's answer, or one whose plugin asked for votes.

    A plugin asks by setting ``response.metadata[FEEDBACK_WANTED] = True``.
    """
    return response.source is Source.PROVIDER or response.metadata.get(FEEDBACK_WANTED) is True


class AnswerFeedback(KernelTable):
    """One answer that was offered for feedback, and the asker's vote on it (NULL until they vote)."""

    __tablename__ = "answer_feedback"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    guild_id: Mapped[int | None] = mapped_column(BigInteger, index=True, nullable=True)
    channel_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    asker_id: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(128))
    offered_at: Mapped[float] = mapped_column(Float)
    vote: Mapped[str | None] = mapped_column(String(8), nullable=True)
    voted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


FEEDBACK: Table = AnswerFeedback.__table__  # type: ignore[assignment]


def create_feedback_table(connection: Connection) -> None:
    """Migration step 1 of the ``feedback`` component: the ``answer_feedback`` table."""
    FEEDBACK.create(connection, checkfirst=True)


FEEDBACK_SCHEMA = (create_feedback_table,)


class VoteOutcome(StrEnum):
    """What became of a click."""

    RECORDED = "recorded"
    NOT_ASKER = "not_asker"
    ALREADY_VOTED = "already_voted"
    UNKNOWN_ANSWER = "unknown_answer"


@dataclass(frozen=True, slots=True)
class Vote:
    """A recorded vote: which answer (``request_id``), on which model, up or down, when."""

    request_id: str
    guild_id: int | None
    asker_id: int
    model: str
    vote: str
    voted_at: float


class FeedbackStore:
    """Offers answers for feedback and records votes in the kernel's database (``database.write_lock`` on SQLite)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def offer(
        self, request_id: str, *, asker_id: int, model: str, guild_id: int | None, channel_id: int | None, at: float
    ) -> None:
        """Make ``request_id``'s answer votable by ``asker_id`` (once per answer; a second offer is ignored)."""
        async with self.database.write_lock, self.database.engine.begin() as connection:
            found = await connection.execute(select(FEEDBACK.c.request_id).where(FEEDBACK.c.request_id == request_id))
            if found.first() is not None:
                return
            await connection.execute(
                insert(FEEDBACK).values(
                    request_id=request_id,
                    guild_id=guild_id,
                    channel_id=channel_id,
                    asker_id=asker_id,
                    model=model,
                    offered_at=at,
                    attempts=0,
                )
            )

    async def vote(self, request_id: str, voter_id: int, vote: str, *, at: float) -> VoteOutcome:
        """Record ``voter_id``'s ``vote`` (``"up"`` or ``"down"``) on ``request_id`` if the rules above allow it."""
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}, got {vote!r}")
        table = FEEDBACK
        async with self.database.write_lock, self.database.engine.begin() as connection:
            changed = await connection.execute(
                update(table)
                .where(table.c.request_id == request_id, table.c.asker_id == voter_id, table.c.vote.is_(None))
                .values(vote=vote, voted_at=at)
            )
            if changed.rowcount == 1:
                return VoteOutcome.RECORDED
            row = (await connection.execute(select(table.c.asker_id).where(table.c.request_id == request_id))).first()
            if row is not None and int(row.asker_id) == voter_id:
                await connection.execute(
                    update(table).where(table.c.request_id == request_id).values(attempts=table.c.attempts + 1)
                )
        if row is None:
            return VoteOutcome.UNKNOWN_ANSWER
        return VoteOutcome.ALREADY_VOTED if int(row.asker_id) == voter_id else VoteOutcome.NOT_ASKER

    async def votes(self) -> list[Vote]:
        """Every recorded vote, oldest first."""
        table = FEEDBACK
        query = select(table).where(table.c.vote.is_not(None)).order_by(table.c.voted_at, table.c.request_id)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_vote_of(row) for row in rows]

    async def vote_on(self, request_id: str) -> Vote | None:
        """The recorded vote on ``request_id``'s answer; None when it was not voted on (or never offered)."""
        table = FEEDBACK
        query = select(table).where(table.c.request_id == request_id, table.c.vote.is_not(None))
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else _vote_of(row)


def _vote_of(row: Row[Any]) -> Vote:
    return Vote(row.request_id, row.guild_id, int(row.asker_id), row.model, str(row.vote), float(row.voted_at))
