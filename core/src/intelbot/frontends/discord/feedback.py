"""The 👍 / 👎 buttons under an answer, and what a click does, in both connection modes.

An answered ``/ask`` (from a provider, not a cache) is offered for feedback
(:meth:`intelbot.data.feedback.FeedbackStore.offer`) and its last message carries
one action row with two buttons whose ``custom_id`` is
``intelbot-feedback:<up|down>:<request_id>``. A click arrives as a MESSAGE_COMPONENT
interaction: on the gateway as an INTERACTION_CREATE event, in interactions mode at
the interaction server. Either way :func:`answer_click` records the vote (the store
checks, server-side, that the voter asked the question and has not voted yet) and
answers with an ephemeral message. No state is kept in the process, so replicas
behind a load balancer agree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Final

import hikari

from intelbot.data.feedback import DOWN, UP, VOTES, FeedbackStore, VoteOutcome
from intelbot.frontends.discord.replies import NO_MENTIONS

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
    store: FeedbackStore, interaction: hikari.ComponentInteraction, *, clock: Callable[[], float] = time.time
) -> bool:
    """Record a feedback click and tell the clicker what became of it; False when it is not a feedback button."""
    parsed = parse_custom_id(interaction.custom_id)
    if parsed is None:
        return False
    vote, request_id = parsed
    outcome = await store.vote(request_id, int(interaction.user.id), vote, at=float(clock()))
    log.info("feedback %s on %s: %s", vote, request_id, outcome.value)
    await interaction.create_initial_response(
        hikari.ResponseType.MESSAGE_CREATE, REPLIES[outcome], flags=hikari.MessageFlag.EPHEMERAL, **NO_MENTIONS
    )
    return True


def listen_for_clicks(
    app: hikari.GatewayBot | hikari.RESTBot, store: FeedbackStore, *, clock: Callable[[], float] = time.time
) -> None:
    """Handle feedback clicks on ``app``: a gateway listener, or the interaction server's component listener.

    In interactions mode this replaces lightbulb's component listener (intelbot uses
    no lightbulb menus); the answer goes through the callback endpoint, then the
    HTTP request is closed, as lightbulb does for commands.
    """
    if isinstance(app, hikari.GatewayBot):

        async def on_event(event: hikari.InteractionCreateEvent) -> None:
            if isinstance(event.interaction, hikari.ComponentInteraction):
                await answer_click(store, event.interaction, clock=clock)

        app.event_manager.subscribe(hikari.InteractionCreateEvent, on_event)
        return

    async def on_interaction(interaction: hikari.ComponentInteraction) -> AsyncGenerator[None, None]:
        await answer_click(store, interaction, clock=clock)
        yield

    app.set_listener(hikari.ComponentInteraction, on_interaction, replace=True)
