"""👍 / 👎 under answers: message components through the loopback Discord, in both connection modes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from intelbot import hookimpl
from intelbot.frontends.discord.feedback import custom_id
from intelbot.testing.discord import DiscordHarness

pytestmark = pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])


async def test_an_answer_carries_the_feedback_buttons_and_the_askers_vote_lands_in_the_table(
    discord: DiscordHarness,
) -> None:
    result = await discord.slash("ask", question="What is the capital of France?")

    [answer] = result.messages
    [entry] = await discord.kernel.feedback.votes() or [None]  # nothing voted yet
    assert entry is None
    ids = answer.custom_ids()
    assert len(ids) == 2 and ids[0].startswith("intelbot-feedback:up:") and ids[1].startswith("intelbot-feedback:down:")
    request_id = ids[0].rsplit(":", 1)[1]

    click = await discord.click(answer, custom_id("down", request_id))

    [reply] = click.messages
    assert reply.ephemeral and reply.content == "Thanks, your feedback was recorded."
    [vote] = await discord.kernel.feedback.votes()
    assert (vote.request_id, vote.asker_id, vote.vote, vote.model) == (
        request_id,
        discord.default_user.id,
        "down",
        "echo",
    )


async def test_only_the_asker_votes_and_only_once(discord: DiscordHarness) -> None:
    result = await discord.slash("ask", question="one two three")
    [answer] = result.messages
    up, down = answer.custom_ids()

    stranger = await discord.click(answer, up, user=discord.member(400_000_000_000_000_999))
    first = await discord.click(answer, up)
    second = await discord.click(answer, down)

    assert stranger.contents == ["Only the person who asked can rate this answer."]
    assert first.contents == ["Thanks, your feedback was recorded."]
    assert second.contents == ["You have already rated this answer."]
    assert all(message.ephemeral for r in (stranger, first, second) for message in r.messages)
    assert [vote.vote for vote in await discord.kernel.feedback.votes()] == ["up"]


async def test_split_answers_carry_the_buttons_on_the_last_message_only(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), max_question_chars=10_000)
    question = "\n\n".join(f"Paragraph {n}. " + " ".join(f"w{n}-{i}" for i in range(200)) for n in range(4))

    result = await discord.slash("ask", question=question)

    assert len(result.messages) >= 2
    assert [bool(message.custom_ids()) for message in result.messages] == [False] * (len(result.messages) - 1) + [True]


async def test_feedback_buttons_off_sends_none(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), feedback_buttons=False)

    result = await discord.slash("ask", question="hello")

    assert result.messages[0].custom_ids() == []


async def test_an_answer_is_delivered_without_buttons_when_the_feedback_table_fails(
    discord: DiscordHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_offer(*args: object, **kwargs: object) -> None:
        raise OperationalError("INSERT INTO answer_feedback", {}, Exception("database is locked"))

    monkeypatch.setattr(discord.kernel.feedback, "offer", broken_offer)

    result = await discord.slash("ask", question="still answered?")

    [answer] = result.messages
    assert answer.content.startswith("Echo: still answered?") and answer.custom_ids() == []


async def test_a_recorded_click_is_announced_to_the_plugins_once_after_the_reply(make_kernel, make_discord) -> None:
    heard: list[tuple[str, str, int]] = []

    class Listener:
        name = "vote-listener"

        @hookimpl
        async def answer_voted(self, vote: Any) -> None:
            heard.append((vote.request_id, vote.vote, vote.asker_id))

    class Raises:
        name = "vote-raiser"

        @hookimpl
        def answer_voted(self, vote: Any) -> None:
            raise RuntimeError("boom")

    discord = await make_discord(await make_kernel(plugins=[Raises(), Listener()]))
    [answer] = (await discord.slash("ask", question="Is this announced?")).messages
    up, down = answer.custom_ids()

    stranger = await discord.click(answer, down, user=discord.member(400_000_000_000_000_999))
    first = await discord.click(answer, up)
    second = await discord.click(answer, down)

    assert first.contents == ["Thanks, your feedback was recorded."]  # the raising plugin changed nothing
    assert stranger.contents == ["Only the person who asked can rate this answer."]
    assert second.contents == ["You have already rated this answer."]
    assert heard == [(up.rsplit(":", 1)[1], "up", discord.default_user.id)]
    assert discord.kernel.dispatch.failures[("vote-raiser", "answer_voted")] == 1
    assert discord.frontend.tracker.in_flight == 0
