"""Turning an answer into Discord messages: split, attach, footer, and never a ping.

Discord refuses message content over 2,000 characters. An answer is split on
paragraph boundaries, then line, sentence and word boundaries, and only cut
mid-word when a single word is longer than a message. Past
``attach_after_chars`` the answer is sent as a Markdown file instead. The
footer (model, source, tokens, cost, latency) goes at the end of the last message.
Every message the bot sends uses :data:`NO_MENTIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import hikari
import lightbulb
from lightbulb.internal.constants import INITIAL_RESPONSE_IDENTIFIER

from intelbot.contract import LLMResponse
from intelbot.frontends.footer import describe

MESSAGE_LIMIT: Final = 2000
ANSWER_FILENAME: Final = "answer.md"

NO_MENTIONS: Final[dict[str, Any]] = {"mentions_everyone": False, "user_mentions": False, "role_mentions": False}
"""Keyword arguments for every hikari/lightbulb call that sends or edits a message: nobody is notified."""

_BOUNDARIES: Final = (
    re.compile(r"\n\s*\n"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile("(?<=[.!?\u2026\u3002\uff01\uff1f])\\s+"),  # sentences
    re.compile(r"\s+"),  # words
)


@dataclass(frozen=True, slots=True)
class ReplyPart:
    """One message to send: its content and, for long answers, the answer as a file."""

    content: str
    attachment: hikari.Bytes | None = None


def footer(response: LLMResponse) -> str:
    """The console's footer line (model, source, tokens, cost, latency) as Discord small text (``-# ``)."""
    return f"-# {describe(response)}"


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters at the best boundary available.

    Only whitespace at the cuts is dropped; a boundary is used only when the piece
    before it is at least a quarter of ``limit`` long.
    """
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _best_cut(rest, limit)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            pieces.append(head)
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _best_cut(text: str, limit: int) -> int:
    window = text[: limit + 1]
    for boundary in _BOUNDARIES:
        ends = [match.start() for match in boundary.finditer(window) if 0 < match.start() <= limit]
        if ends and ends[-1] >= limit // 4:
            return ends[-1]
    return limit


def render(response: LLMResponse, *, attach_after_chars: int, show_footer: bool = True) -> list[ReplyPart]:
    """The messages that carry ``response``: split text, or a short note with the answer attached."""
    tail = footer(response) if show_footer else ""
    text = response.text.strip() or "(the model returned an empty answer)"
    if len(text) > attach_after_chars:
        note = f"The answer is {len(text):,} characters long, so it is attached as `{ANSWER_FILENAME}`."
        content = f"{note}\n{tail}" if tail else note
        return [ReplyPart(content, hikari.Bytes(text.encode("utf-8"), ANSWER_FILENAME, mimetype="text/markdown"))]
    reserve = len(tail) + 1 if tail else 0
    pieces = split_text(text, MESSAGE_LIMIT)
    if tail:
        if len(pieces[-1]) + reserve > MESSAGE_LIMIT:
            last = pieces.pop()
            pieces.extend(split_text(last, MESSAGE_LIMIT - reserve))
        pieces[-1] = f"{pieces[-1]}\n{tail}"
    return [ReplyPart(piece) for piece in pieces]


async def deliver(
    ctx: lightbulb.Context, parts: list[ReplyPart], *, last_row: hikari.api.ComponentBuilder | None = None
) -> None:
    """Replace the deferred response with the first part and send the others as follow-ups.

    ``last_row`` (an action row, e.g. the feedback buttons) goes on the last message.
    """
    first, *rest = parts
    await ctx.edit_response(
        INITIAL_RESPONSE_IDENTIFIER,
        first.content,
        attachment=first.attachment if first.attachment is not None else hikari.UNDEFINED,
        component=last_row if last_row is not None and not rest else hikari.UNDEFINED,
        **NO_MENTIONS,
    )
    for index, part in enumerate(rest, start=1):
        await ctx.respond(
            part.content,
            attachment=part.attachment if part.attachment is not None else hikari.UNDEFINED,
            component=last_row if last_row is not None and index == len(rest) else hikari.UNDEFINED,
            **NO_MENTIONS,
        )


async def tell(ctx: lightbulb.Context, text: str, *, ephemeral: bool = True) -> None:
    """Answer with ``text`` (the initial response, or a follow-up when one was already sent)."""
    for part in split_text(text):
        await ctx.respond(part, ephemeral=ephemeral, **NO_MENTIONS)


async def replace_deferral(ctx: lightbulb.Context, text: str) -> None:
    """After a public deferral, remove the "thinking" message and tell only the user."""
    await ctx.delete_response(INITIAL_RESPONSE_IDENTIFIER)
    await ctx.respond(text, ephemeral=True, **NO_MENTIONS)


async def show_in_deferral(ctx: lightbulb.Context, text: str) -> None:
    """After a deferral, replace the "thinking" message with ``text``."""
    await ctx.edit_response(INITIAL_RESPONSE_IDENTIFIER, text, **NO_MENTIONS)
