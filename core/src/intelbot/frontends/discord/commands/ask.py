"""``/ask question [model]``: defer at once, check the guards, answer through the kernel.

``model`` names a model of the catalog; the turn then runs on it and is marked
pinned, so no router moves it. An unknown name is refused (ephemeral, before any
deferral, naming the catalog's models) without a model call.

Only the question's length is checked before the deferral (it needs no I/O); the
rate limit (maybe in Redis) and the spending cap (the ledger, maybe Redis) come after
it, so Discord's 3 s for the first response never depends on a side service. A
refusal then replaces the deferral with an ephemeral message. The call's worst-case
cost is reserved against the guild's and the user's daily caps while the kernel
answers (:mod:`intelbot.spending`). A provider's answer, and a plugin's answer that
asks for votes (a semantic cache hit), carries the feedback buttons
(:mod:`intelbot.frontends.discord.feedback`) unless ``feedback_buttons`` is off.
"""

from __future__ import annotations

import logging
import time

import lightbulb
from sqlalchemy.exc import SQLAlchemyError

from intelbot.errors import ErrorCategory, IntelbotError
from intelbot.frontends.discord import feedback, replies
from intelbot.frontends.discord.services import DiscordServices
from intelbot.spending import worst_case_cost_of_ask

log = logging.getLogger("intelbot.frontends.discord.ask")
loader = lightbulb.Loader()

_CATEGORY_MESSAGES = {
    ErrorCategory.RATE_LIMITED: "The model provider is busy right now; please try again in a moment.",
    ErrorCategory.OVERLOADED: "The model provider is overloaded right now; please try again in a moment.",
    ErrorCategory.TIMEOUT: "The model took too long to answer; please try again.",
    ErrorCategory.CONNECTION: "The model provider cannot be reached right now; please try again later.",
    ErrorCategory.CONTEXT_LENGTH_EXCEEDED: "That question is too long for the model.",
    ErrorCategory.CONTENT_FILTERED: "The model declined to answer that.",
    ErrorCategory.BUDGET_EXCEEDED: "A spending limit was reached; no answer was made.",
}


def message_for(error: IntelbotError) -> str:
    """What to tell the user about ``error``: a plugin's own message, else one per category (never secrets)."""
    if error.user_message:
        return error.user_message
    return _CATEGORY_MESSAGES.get(error.category, f"Sorry, no answer could be made ({error.category.value}).")


def unknown_model_refusal(services: DiscordServices, model: str | None) -> str | None:
    """None when ``model`` is None or a catalog model; else a message naming the catalog's models."""
    if model is None or services.kernel.catalog.get(model) is not None:
        return None
    known = ", ".join(f"`{name}`" for name in sorted(services.kernel.catalog)) or "(none)"
    return f"Unknown model `{model}`: choose one of the catalog's models: {known}."


@loader.command
class Ask(lightbulb.SlashCommand, name="ask", description="Ask intelbot a question"):
    question = lightbulb.string("question", "What do you want to know?")
    model = lightbulb.string("model", "A model of the catalog (default: chosen by the bot)", default=None)

    @lightbulb.invoke
    async def invoke(self, ctx: lightbulb.Context, services: DiscordServices) -> None:
        refusal = services.guards.check_question(self.question)
        if refusal is not None:
            await replies.tell(ctx, refusal)
            return
        refusal = unknown_model_refusal(services, self.model)
        if refusal is not None:
            await replies.tell(ctx, refusal)
            return
        await ctx.defer()
        refusal = await services.guards.check_rate(int(ctx.user.id))
        if refusal is not None:
            await replies.replace_deferral(ctx, refusal)
            return
        turn = services.turn(ctx)
        worst_case = await worst_case_cost_of_ask(services.kernel, self.question, model=self.model, ctx=turn)
        async with services.guards.spending.reserve(turn.guild_id, worst_case, user_id=turn.user_id) as refusal:
            if refusal is not None:
                await replies.replace_deferral(ctx, refusal)
                return
            try:
                response = await services.kernel.ask(self.question, turn, model=self.model)
            except IntelbotError as error:
                log.warning("turn %s failed: %s", turn.request_id, error.category.value)
                await replies.show_in_deferral(ctx, message_for(error))
                return
        parts = replies.render(response, attach_after_chars=services.config.attach_after_chars)
        row = None
        if services.config.feedback_buttons and feedback.wants_feedback(response) and turn.user_id is not None:
            try:
                await services.kernel.feedback.offer(
                    turn.request_id,
                    asker_id=turn.user_id,
                    model=response.model,
                    guild_id=turn.guild_id,
                    channel_id=turn.channel_id,
                    at=time.time(),
                )
                row = feedback.buttons(turn.request_id)
            except SQLAlchemyError as error:  # the answer matters more than its buttons
                log.warning("turn %s: feedback not offered (%s)", turn.request_id, type(error).__name__)
        await replies.deliver(ctx, parts, last_row=row)
