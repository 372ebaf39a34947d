"""The 👍 / 👎 buttons under an answer, and what a click does, in both connection modes.

An answered ``/ask`` is offered for feedback
(:meth:`intelbot.data.feedback.FeedbackStore.offer`) when a provider made it, or when
the plugin that served it asked for feedback (``response.metadata[FEEDBACK_WANTED]``
true: the semantic cache does for its hits). Its last message then carries one action
row with two buttons whose ``custom_id`` is ``intelbot-feedback:<up|down>:<request_id>``.
A click arrives as a MESSAGE_COMPONENT interaction: on the gateway as an
INTERACTION_CREATE event, in interactions mode at the interaction server. Either way
:func:`answer_click` records the vote through :meth:`intelbot.kernel.Kernel.vote` (the
store checks, server-side, that the voter asked the question and has not voted yet),
answers with an ephemeral message, and only then announces a recorded vote to the
plugins (the ``answer_voted`` hook), so a slow plugin never delays the reply. Each
click is counted in the front end's tracker from arrival until the plugins have
heard of it (shutdown and tests wait for it). No state is kept in the process, so
replicas behind a load balancer agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Final

import hikari

from intelbot.data.feedback import DOWN, FEEDBACK_WANTED, UP, VOTES, Vote, VoteOutcome, wants_feedback
from intelbot.frontends.discord.replies import NO_MENTIONS
from intelbot.frontends.discord.tracker import CommandTracker

if TYPE_CHECKING:
    from intelbot.kernel import Kernel

__all__ = [
    "FEEDBACK_WANTED",
    "answer_click",
    "buttons",
    "custom_id",
    "listen_for_clicks",
    "parse_custom_id",
    "wants_feedback",
]
log = logging.getLogger("intelbot.frontends.discord.feedback")

PREFIX: Final = "intelbot-feedback"
EMOJI: Final = {UP: "👍", DOWN: "👎"}
REPLIES: Final = {
    VoteOutcome.RECORDED: "Thanks, your feedback was recorded.",
    VoteOutcome.NOT_ASKER: "Only the person who asked can rate this answer.",
    VoteOutcome.ALREADY_VOTED: "You have already rated this answer.",
    VoteOutcome.UNKNOWN_ANSWER: "This answer can no longer be rated.",
}


def custom_id(vote: str, request_id: str) -> str:
    """The button's ``custom_id`` for ``vote`` on the answer of ``request_id`` (at most 100 characters)."""
    return f"{PREFIX}:{vote}:{request_id}"


def parse_custom_id(value: str) -> tuple[str, str] | None:
    """``(vote, request_id)`` of a feedback button's ``custom_id``; None for any other component."""
    prefix, _, rest = value.partition(":")
    vote, _, request_id = rest.partition(":")
    if prefix != PREFIX or vote not in VOTES or not request_id:
        return None
    return vote, request_id


def buttons(request_id: str) -> hikari.api.MessageActionRowBuilder:
    """The action row of the two feedback buttons for the answer of ``request_id``."""
    row = hikari.impl.MessageActionRowBuilder()
    for vote in VOTES:
        row.add_interactive_button(hikari.ButtonStyle.SECONDARY, custom_id(vote, request_id), emoji=EMOJI[vote])
    return row


async def answer_click(
    kernel: Kernel, interaction: hikari.ComponentInteraction, *, clock: Callable[[], float] = time.time
) -> Vote | None:
    """Record a feedback click and tell the clicker what became of it; returns the vote when it counted.

    Any other component, or a click that did not count, returns None.
    """
    parsed = parse_custom_id(interaction.custom_id)
    if parsed is None:
        return None
    vote, request_id = parsed
    outcome, recorded = await kernel.vote(request_id, int(interaction.user.id), vote, at=float(clock()))
    log.info("feedback %s on %s: %s", vote, request_id, outcome.value)
    await interaction.create_initial_response(
        hikari.ResponseType.MESSAGE_CREATE, REPLIES[outcome], flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS
    )
    return recorded


def listen_for_clicks(
    app: hikari.GatewayBot | hikari.RESTBot,
    kernel: Kernel,
    tracker: CommandTracker,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Handle feedback clicks on ``app``: a gateway listener, or the interaction server's component listener.

    In interactions mode this replaces lightbulb's component listener (intelbot uses
    no lightbulb menus); the answer goes through the callback endpoint, then the
    HTTP request is closed, as lightbulb does for commands, and the vote is
    announced after that. ``tracker`` counts each click until it is announced.
    """
    if isinstance(app, hikari.GatewayBot):

        async def on_event(event: hikari.InteractionCreateEvent) -> None:
            interaction = event.interaction
            if not isinstance(interaction, hikari.ComponentInteraction):
                return
            tracker.start(int(interaction.id))
            failed = True
            try:
                recorded = await answer_click(kernel, interaction, clock=clock)
                if recorded is not None:
                    await kernel.announce_vote(recorded)
                failed = False
            finally:
                tracker.settle(int(interaction.id), failed=failed)

        app.event_manager.subscribe(hikari.InteractionCreateEvent, on_event)
        return

    async def on_interaction(interaction: hikari.ComponentInteraction) -> AsyncGenerator[None, None]:
        tracker.start(int(interaction.id))
        failed = True
        try:
            recorded = await answer_click(kernel, interaction, clock=clock)
            yield
            if recorded is not None:
                await kernel.announce_vote(recorded)
            failed = False
        finally:
            tracker.settle(int(interaction.id), failed=failed)

    app.set_listener(hikari.ComponentInteraction, on_interaction, replace=True)
