"""/ask through real hikari and lightbulb, in both connection modes, against the loopback Discord."""

from __future__ import annotations

import pytest

from intelbot.frontends.discord.replies import MESSAGE_LIMIT
from intelbot.testing.discord import DiscordHarness

pytestmark = pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])

MESSAGE_PATHS = ("/callback", "/messages/@original", "/webhooks/")


def message_requests(discord: DiscordHarness) -> list:
    """Every request the bot made that creates or edits a message."""
    return [
        request
        for request in discord.loopback.requests
        if request.method in ("POST", "PATCH") and any(part in request.path for part in MESSAGE_PATHS)
    ]


async def test_ask_is_deferred_then_answered_by_the_echo_model(discord: DiscordHarness) -> None:
    result = await discord.slash("ask", question="What is the capital of France?")

    assert result.deferred, result.interaction.callbacks
    assert result.ack_seconds is not None and result.ack_seconds < 3.0
    [message] = result.messages
    assert message.via == "callback" and not message.loading and not message.ephemeral
    assert message.content.startswith("Echo: What is the capital of France?\n")
    if discord.mode == "interactions":
        assert result.status == 204  # lightbulb answers through the callback endpoint, then closes the request
    assert all(200 <= request.status < 300 for request in discord.loopback.requests)


async def test_footer_names_model_source_tokens_and_cost(discord: DiscordHarness) -> None:
    result = await discord.slash("ask", question="one two three")

    await discord.kernel.ledger.flush()
    summary = await discord.kernel.ledger.summary(user_id=discord.default_user.id)
    assert summary.calls == 1
    footer = result.contents[-1].splitlines()[-1]
    assert footer.startswith(f"-# echo · echo · {summary.input_tokens}+{summary.output_tokens} tokens · ")
    assert f" · ${summary.cost_usd:.6f} · " in footer and footer.endswith(" ms")


async def test_long_answer_is_split_on_boundaries_under_the_limit(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), max_question_chars=10_000)
    paragraphs = [f"Paragraph {n}. " + " ".join(f"word{n}-{i}" for i in range(90)) + "." for n in range(6)]
    question = "\n\n".join(paragraphs)
    assert 4000 < len(question) < discord.frontend.config.attach_after_chars

    result = await discord.slash("ask", question=question)

    contents = result.contents
    assert len(contents) >= 3
    assert all(len(content) <= MESSAGE_LIMIT for content in contents)
    assert [m.via for m in result.messages] == ["callback"] + ["followup"] * (len(contents) - 1)
    body = "\n\n".join(contents).rsplit("\n", 1)[0]  # without the footer line
    assert body == "Echo: " + question
    for content in contents[:-1]:  # every cut is at a paragraph end
        assert content.split("\n\n")[-1].removeprefix("Echo: ") in paragraphs
    assert all(200 <= request.status < 300 for request in discord.loopback.requests)


async def test_answer_past_the_attachment_threshold_is_sent_as_a_file(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), attach_after_chars=300)
    question = "Tell me everything. " * 30

    result = await discord.slash("ask", question=question)

    [message] = result.messages
    [upload] = message.attachments
    assert upload.filename == "answer.md"
    assert upload.text == "Echo: " + question.strip()
    assert "attached as `answer.md`" in message.content
    assert message.content.splitlines()[-1].startswith("-# echo · echo · ")


async def test_mentions_in_model_output_never_ping(discord: DiscordHarness) -> None:
    question = "@everyone @here look <@123456789012345678> and <@!223456789012345678> and role <@&323456789012345678>"

    result = await discord.slash("ask", question=question)

    [message] = result.messages
    assert "@everyone" in message.content and "<@123456789012345678>" in message.content
    assert not message.pings.anyone
    requests = message_requests(discord)
    assert requests
    for request in requests:
        body = request.body.get("data", request.body) if "/callback" in request.path else request.body
        assert body["allowed_mentions"] == {"parse": []}, request


async def test_ask_in_a_dm_is_answered(discord: DiscordHarness) -> None:
    result = await discord.slash("ask", question="private question", guild_id=None)

    assert result.deferred and result.contents[0].startswith("Echo: private question")
    await discord.kernel.ledger.flush()
    assert (await discord.kernel.ledger.summary(user_id=discord.default_user.id)).calls == 1


async def test_any_unicode_is_accepted(discord: DiscordHarness) -> None:
    question = "Ça va? 你好！ 🤖 — résumé ñ"

    result = await discord.slash("ask", question=question)

    assert result.contents[0].startswith("Echo: " + question)


async def test_empty_question_is_refused_without_a_model_call(discord: DiscordHarness) -> None:
    result = await discord.slash("ask", question="   \n\t ")

    [message] = result.messages
    assert message.ephemeral
    assert "empty" in message.content
    assert not result.deferred
    await discord.kernel.ledger.flush()
    assert (await discord.kernel.ledger.summary()).calls == 0
