"""The spending cap's estimate and reservations, without Discord."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from intelbot import TurnContext
from intelbot.catalog import ModelSpec
from intelbot.spending import (
    MESSAGE_OVERHEAD_TOKENS,
    SpendingCap,
    SpendScope,
    estimated_input_tokens,
    worst_case_cost,
    worst_case_cost_of_ask,
)

DOLLAR_PER_TOKEN = ModelSpec("priced", "echo", "priced", 1_000_000.0, 2_000_000.0, 8192, "standard")


class Ledger:
    """``spent_since`` for tests: a fixed amount per guild; after ``hold()`` the next read waits for ``resume()``."""

    def __init__(self, spent: dict[int, float] | None = None) -> None:
        self.spent = spent or {}
        self.reads: list[tuple[int, datetime]] = []
        self.reading = asyncio.Event()
        self._resumed = asyncio.Event()
        self._hold_next = False

    def hold(self) -> None:
        self._hold_next = True

    def resume(self) -> None:
        self._resumed.set()

    async def __call__(self, scope: SpendScope, since: datetime) -> float:
        self.reads.append((scope.id, since))
        amount = self.spent.get(scope.id, 0.0)  # what the ledger holds when the read starts
        if self._hold_next:
            self._hold_next = False
            self.reading.set()
            await self._resumed.wait()
        return amount


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("abc", 3),
        ("a,b;c!d?", 8),  # letters and punctuation: a token each for byte-level tokenizers, not one per 3
        ("é", 2),
        ("日本", 6),
        ("👍", 4),
        ("ok 👍", 3 + 4),
    ],
)
def test_input_estimate_is_the_utf8_byte_count(text: str, tokens: int) -> None:
    assert estimated_input_tokens(text) == tokens


def test_worst_case_prices_the_estimated_input_and_max_tokens_of_output() -> None:
    cost = worst_case_cost(DOLLAR_PER_TOKEN, question="abcdef", system="xyz", max_tokens=10)

    assert cost == pytest.approx((6 + 3 + MESSAGE_OVERHEAD_TOKENS) * 1.0 + 10 * 2.0)


async def test_worst_case_of_ask_is_at_least_what_the_echo_model_charges(make_kernel) -> None:
    prices = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}
    kernel = await make_kernel(settings={"models": {"echo": prices}, "llm": {"max_tokens": 40}})
    for question in ("hi", "a b c d e f g h i j", "日本語の質問です", "x" * 90):
        response = await kernel.ask(question, TurnContext())
        assert 0 < response.cost_usd <= await worst_case_cost_of_ask(kernel, question)


async def test_spending_is_counted_from_utc_midnight_and_dms_are_not_capped() -> None:
    ledger = Ledger({1: 0.75})
    now = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
    cap = SpendingCap(1.0, ledger, now=lambda: now)

    async with cap.reserve(1, 0.25) as refusal:  # 0.75 + 0.25 reaches the cap, does not cross it
        assert refusal is None
    async with cap.reserve(1, 0.5) as refusal:
        assert refusal is not None and "daily spending cap of $1.00" in refusal
    async with cap.reserve(None, 100.0) as refusal:
        assert refusal is None

    assert ledger.reads == [(1, datetime(2026, 3, 4, tzinfo=UTC))] * 2
    async with SpendingCap(0.0, ledger).reserve(1, 100.0) as refusal:  # 0: no cap
        assert refusal is None


async def test_running_calls_hold_their_worst_case_until_they_end() -> None:
    cap = SpendingCap(1.0, Ledger())

    async with cap.reserve(7, 0.4) as first, cap.reserve(7, 0.4) as second:
        assert first is None and second is None
        assert cap.reserved(7) == pytest.approx(0.8)
        async with cap.reserve(7, 0.4) as third:
            assert third is not None and "$0.8000 held by answers in progress" in third
        async with cap.reserve(8, 0.4) as other_guild:
            assert other_guild is None
    async with cap.reserve(7, 0.4) as later:
        assert later is None
    assert cap.reserved(7) == 0 and cap.guilds_tracked == 0


async def test_a_reservation_is_released_however_the_call_ends() -> None:
    cap = SpendingCap(1.0, Ledger())

    with pytest.raises(RuntimeError):
        async with cap.reserve(7, 0.6):
            raise RuntimeError("the provider failed")
    assert cap.reserved(7) == 0

    entered = asyncio.Event()

    async def call() -> None:
        async with cap.reserve(7, 0.6):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(call())
    await entered.wait()
    assert cap.reserved(7) == pytest.approx(0.6)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cap.reserved(7) == 0 and cap.guilds_tracked == 0


async def test_a_call_that_ends_while_the_ledger_is_read_still_counts_for_that_read() -> None:
    ledger = Ledger()
    cap = SpendingCap(1.0, ledger)
    first = cap.reserve(7, 0.6)
    assert await first.__aenter__() is None

    ledger.hold()  # the next read sees the ledger before the first call's row is in it
    second = asyncio.create_task(_refusal(cap, 7, 0.6))
    await ledger.reading.wait()
    await first.__aexit__(None, None, None)  # the first call ends (its row would now be in the ledger)
    ledger.resume()

    refusal = await second
    assert refusal is not None  # 0.6 of the first call + 0.6 would cross 1.0, though the read saw 0
    assert cap.guilds_tracked == 0


async def _refusal(cap: SpendingCap, guild_id: int, amount: float) -> str | None:
    async with cap.reserve(guild_id, amount) as refusal:
        return refusal
