"""Rate limit, spending cap and question length: each refuses the call that crosses it, and only that one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from intelbot import CallRejected, ErrorCategory, LLMRequest, TurnContext, hookimpl
from intelbot.kernel import Kernel
from intelbot.spending import worst_case_cost_of_ask
from intelbot.testing.discord import DiscordHarness, SlashResult
from intelbot.testing.discord.harness import DEFAULT_GUILD

OTHER_GUILD = DEFAULT_GUILD + 1
QUESTION = "how much is this"
# One dollar per token, and answers of at most 8 tokens ("Echo: how much is this" is 5 words).
PRICED_ECHO = {
    "models": {"echo": {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}},
    "llm": {"max_tokens": 8},
}


async def ledger_calls(discord: DiscordHarness, **filters: int) -> int:
    await discord.kernel.ledger.flush()
    return (await discord.kernel.ledger.summary(**filters)).calls


async def spent_today(kernel: Kernel, guild_id: int) -> float:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return await kernel.ledger.spent_usd(guild_id=guild_id, since=midnight)


def provider_calls(kernel: Kernel) -> float:
    sample = kernel.metrics.get_sample_value(
        "intelbot_llm_calls_total", {"provider": "echo", "model": "echo", "outcome": "ok"}
    )
    return sample or 0.0


def answered(result: SlashResult) -> bool:
    return bool(result.contents) and result.contents[0].startswith("Echo:")


def refused_for_spending(result: SlashResult) -> bool:
    return [m.ephemeral for m in result.messages] == [True] and "daily spending cap" in result.messages[0].content


class Gate:
    """Holds every call that got past the guards in ``before_llm_call`` until ``opened`` is set.

    ``changed`` is notified when a call arrives at the gate and when a command started
    through :meth:`ask` finishes, so a test can wait until every call is sorted.
    """

    name = "gate"

    def __init__(self) -> None:
        self.waiting = 0
        self.finished = 0
        self.opened = asyncio.Event()
        self.changed = asyncio.Condition()

    @hookimpl
    async def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        async with self.changed:
            self.waiting += 1
            self.changed.notify_all()
        await self.opened.wait()

    async def ask(self, discord: DiscordHarness, **options: Any) -> SlashResult:
        try:
            return await discord.slash("ask", question=QUESTION, **options)
        finally:
            async with self.changed:
                self.finished += 1
                self.changed.notify_all()

    async def wait_until_sorted(self, calls: int) -> None:
        """Until each of ``calls`` commands has finished (refused) or is waiting at the gate."""
        async with asyncio.timeout(15), self.changed:
            await self.changed.wait_for(lambda: self.waiting + self.finished == calls)


class RejectFirst:
    """Refuses the first call on purpose (as a budget plugin would), lets the others through."""

    name = "reject_first"

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        self.calls += 1
        if self.calls == 1:
            raise CallRejected("refused on purpose", category=ErrorCategory.BUDGET_EXCEEDED)


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_rate_limit_refuses_only_the_call_that_crosses_it(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), rate_limit_requests=2, rate_limit_window_seconds=60)
    alice, bob = discord.member(501), discord.member(502)

    first = await discord.slash("ask", question="one", user=alice)
    second = await discord.slash("ask", question="two", user=alice)
    third = await discord.slash("ask", question="three", user=alice)
    bobs = await discord.slash("ask", question="bob asks", user=bob)

    assert first.deferred and second.deferred and bobs.deferred
    assert third.deferred  # deferred before the rate limit is checked (it may wait on Redis)
    [refusal] = third.messages  # the "thinking" message is gone, only the user sees why
    assert refusal.ephemeral and "too quickly" in refusal.content
    assert await ledger_calls(discord, user_id=alice.id) == 2
    assert await ledger_calls(discord, user_id=bob.id) == 1

    discord.clock.advance(59.0)
    [too_soon] = (await discord.slash("ask", question="still too soon", user=alice)).messages
    assert too_soon.ephemeral and "too quickly" in too_soon.content
    discord.clock.advance(1.5)  # the first call has left the 60-second window
    later = await discord.slash("ask", question="four", user=alice)
    assert later.deferred and later.contents[0].startswith("Echo: four")
    assert await ledger_calls(discord, user_id=alice.id) == 3


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_spending_cap_refuses_the_call_whose_worst_case_would_cross_it(make_kernel, make_discord) -> None:
    kernel = await make_kernel(settings=PRICED_ECHO)
    worst = await worst_case_cost_of_ask(kernel, QUESTION)
    cost = (await kernel.ask(QUESTION, TurnContext(guild_id=999))).cost_usd
    assert 0 < cost < worst  # the estimate is conservative
    cap = 2 * cost + worst + cost / 2  # room for a third answer's worst case, not for a fourth's
    discord = await make_discord(kernel, daily_guild_cap_usd=cap, rate_limit_requests=0)

    under_the_cap = [await discord.slash("ask", question=QUESTION) for _ in range(3)]

    assert all(answered(result) for result in under_the_cap)
    spent = await spent_today(kernel, DEFAULT_GUILD)
    assert spent == pytest.approx(3 * cost)
    assert spent < cap < spent + worst  # not reached, but the next call's worst case would cross it
    calls_before = provider_calls(kernel)

    crossing = await discord.slash("ask", question=QUESTION)

    assert refused_for_spending(crossing)
    assert provider_calls(kernel) == calls_before  # refused before any provider was asked
    assert await ledger_calls(discord, guild_id=DEFAULT_GUILD) == 3  # and no ledger row
    assert await spent_today(kernel, DEFAULT_GUILD) <= cap
    assert answered(await discord.slash("ask", question=QUESTION, guild_id=OTHER_GUILD))
    assert answered(await discord.slash("ask", question=QUESTION, guild_id=None))  # DMs are not capped
    assert refused_for_spending(await discord.slash("ask", question=QUESTION))


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_concurrent_calls_near_the_cap_answer_only_as_many_as_fit(make_kernel, make_discord) -> None:
    gate = Gate()
    kernel = await make_kernel(plugins=[gate], settings=PRICED_ECHO)
    worst = await worst_case_cost_of_ask(kernel, QUESTION)
    fit = 2
    cap = fit * worst + worst / 2
    discord = await make_discord(kernel, daily_guild_cap_usd=cap, rate_limit_requests=0)
    callers = 6

    here = [asyncio.create_task(gate.ask(discord, user=discord.member(800 + n))) for n in range(callers)]
    elsewhere = asyncio.create_task(gate.ask(discord, guild_id=OTHER_GUILD))
    try:
        await gate.wait_until_sorted(callers + 1)  # refused, or held at the gate with its worst case reserved
        held = gate.waiting
    finally:
        gate.opened.set()
    results = await asyncio.gather(*here)

    assert held == fit + 1  # `fit` calls of this guild, and the other guild's call
    assert answered(await elsewhere)

    assert sum(answered(result) for result in results) == fit
    assert sum(refused_for_spending(result) for result in results) == callers - fit
    assert await ledger_calls(discord, guild_id=DEFAULT_GUILD) == fit
    assert await spent_today(kernel, DEFAULT_GUILD) <= cap
    assert discord.frontend.guards.spending.guilds_tracked == 0  # every reservation was released


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_a_failed_call_releases_its_reservation(make_kernel, make_discord) -> None:
    kernel = await make_kernel(plugins=[RejectFirst()], settings=PRICED_ECHO)
    worst = await worst_case_cost_of_ask(kernel, QUESTION)
    discord = await make_discord(kernel, daily_guild_cap_usd=worst * 1.5, rate_limit_requests=0)

    failed = await discord.slash("ask", question=QUESTION)
    after = await discord.slash("ask", question=QUESTION)

    assert "refused on purpose" in failed.text
    assert discord.frontend.guards.spending.reserved(DEFAULT_GUILD) == 0
    assert answered(after)


async def test_question_length_cap(make_kernel, make_discord) -> None:
    discord = await make_discord(await make_kernel(), max_question_chars=40)

    accepted = await discord.slash("ask", question="x" * 40)
    refused = await discord.slash("ask", question="y" * 41)

    assert accepted.contents[0].startswith("Echo: " + "x" * 40)
    [message] = refused.messages
    assert message.ephemeral and "41 characters" in message.content and "40" in message.content
    assert await ledger_calls(discord) == 1
