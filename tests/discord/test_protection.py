"""Rate limit, spending cap and question length: each refuses the call that crosses it, and only that one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intelbot import TurnContext
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import DEFAULT_GUILD

OTHER_GUILD = DEFAULT_GUILD + 1
PRICED_ECHO = {"models": {"echo": {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}}}


async def ledger_calls(discord: DiscordHarness, **filters: int) -> int:
    await discord.kernel.ledger.flush()
    return (await discord.kernel.ledger.summary(**filters)).calls


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_rate_limit_refuses_only_the_call_that_crosses_it(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), rate_limit_requests=2, rate_limit_window_seconds=60)
    alice, bob = discord.member(501), discord.member(502)

    first = await discord.slash("ask", question="one", user=alice)
    second = await discord.slash("ask", question="two", user=alice)
    third = await discord.slash("ask", question="three", user=alice)
    bobs = await discord.slash("ask", question="bob asks", user=bob)

    assert first.deferred and second.deferred and bobs.deferred
    assert not third.deferred
    [refusal] = third.messages
    assert refusal.ephemeral and "too quickly" in refusal.content
    assert await ledger_calls(discord, user_id=alice.id) == 2
    assert await ledger_calls(discord, user_id=bob.id) == 1

    discord.clock.advance(59.0)
    assert not (await discord.slash("ask", question="still too soon", user=alice)).deferred
    discord.clock.advance(1.5)  # the first call has left the 60-second window
    later = await discord.slash("ask", question="four", user=alice)
    assert later.deferred and later.contents[0].startswith("Echo: four")
    assert await ledger_calls(discord, user_id=alice.id) == 3


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_daily_spending_cap_refuses_the_call_after_the_guild_reaches_it(make_kernel, make_discord) -> None:
    kernel = await make_kernel(settings=PRICED_ECHO)
    probe = await kernel.ask("how much is this", TurnContext(guild_id=999))
    assert probe.cost_usd > 0
    cap = probe.cost_usd * 2.5
    discord = await make_discord(kernel, daily_guild_cap_usd=cap, rate_limit_requests=0)

    outcomes = []
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(6):
        spent_before = await kernel.ledger.spent_usd(guild_id=DEFAULT_GUILD, since=midnight)
        result = await discord.slash("ask", question="how much is this")
        outcomes.append((spent_before, result))
        if not result.contents[0].startswith("Echo:"):
            break

    *answered, (spent_at_refusal, refused) = outcomes
    assert len(answered) == 3
    assert all(spent < cap for spent, _ in answered)
    assert spent_at_refusal >= cap
    [message] = refused.messages
    assert message.ephemeral and "daily spending cap" in message.content
    assert await ledger_calls(discord, guild_id=DEFAULT_GUILD) == 3
    other = await discord.slash("ask", question="how much is this", guild_id=OTHER_GUILD)
    assert other.contents[0].startswith("Echo:")


async def test_question_length_cap(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), max_question_chars=40)

    accepted = await discord.slash("ask", question="x" * 40)
    refused = await discord.slash("ask", question="y" * 41)

    assert accepted.contents[0].startswith("Echo: " + "x" * 40)
    [message] = refused.messages
    assert message.ephemeral and "41 characters" in message.content and "40" in message.content
    assert await ledger_calls(discord) == 1

