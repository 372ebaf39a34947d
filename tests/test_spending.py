"""The spending cap's estimate and reservations, without Discord."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import pytest

from intelbot import TurnContext, hookimpl
from intelbot.catalog import ModelSpec
from intelbot.frontends.console import answer_line
from intelbot.kernel import Kernel
from intelbot.spending import (
    CONSOLE_USER_ID,
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


class PerScopeLedger:
    """``spent_since`` with amounts per scope key (``guild:1``, ``user:5``)."""

    def __init__(self, spent: dict[str, float]) -> None:
        self.spent = spent

    async def __call__(self, scope: SpendScope, since: datetime) -> float:
        return self.spent.get(scope.key, 0.0)


async def test_a_user_is_capped_in_direct_messages_and_in_every_guild() -> None:
    cap = SpendingCap(10.0, PerScopeLedger({"user:5": 0.75, "guild:1": 0.0}), user_cap_usd=1.0)

    async with cap.reserve(None, 0.5, user_id=5) as in_a_dm:
        assert in_a_dm is not None and "you over your daily spending cap of $1.00" in in_a_dm
    async with cap.reserve(1, 0.5, user_id=5) as in_a_guild:  # the guild has room; the user has not
        assert in_a_guild is not None and "you over your daily spending cap" in in_a_guild
    async with cap.reserve(None, 0.25, user_id=5) as fits:
        assert fits is None
        assert cap.reserved_by_user(5) == pytest.approx(0.25)
    async with cap.reserve(None, 0.5, user_id=6) as another_user:
        assert another_user is None


class Fallback:
    """A plugin that may move any turn to ``dear`` (as a fallback chain or a router does)."""

    name = "fallback_to_dear"

    @hookimpl
    def reachable_models(self, model: str) -> list[str]:
        return ["dear"]


async def test_hook_reachable_models_prices_a_turn_at_the_dearest_model_it_may_reach(make_kernel) -> None:
    models = {
        "echo": {"input_per_mtok": 1.0, "output_per_mtok": 1.0},
        "dear": {"provider": "echo", "input_per_mtok": 50.0, "output_per_mtok": 100.0},
    }
    plain = await make_kernel(settings={"models": models})
    routed = await make_kernel(plugins=[Fallback()], settings={"models": models})

    echo_only = await worst_case_cost_of_ask(plain, "question")
    at_dear = await worst_case_cost_of_ask(routed, "question")

    def priced_at(kernel: Kernel, model: str) -> float:
        spec, system = kernel.model(model), kernel.system_prompt
        return worst_case_cost(spec, question="question", system=system, max_tokens=kernel.max_tokens)

    assert echo_only == pytest.approx(priced_at(plain, "echo"))
    assert at_dear == pytest.approx(priced_at(routed, "dear"))
    assert at_dear > 40 * echo_only


async def test_the_console_is_capped_per_day_for_its_operator(make_kernel) -> None:
    prices = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}
    settings = {"models": {"echo": prices}, "llm": {"max_tokens": 8}}
    probe = await make_kernel(settings=settings)
    worst = await worst_case_cost_of_ask(probe, "how much")
    kernel = await make_kernel(settings={**settings, "spending": {"daily_user_cap_usd": 1.1 * worst}})
    out = io.StringIO()

    await answer_line(kernel, "how much", out)
    await answer_line(kernel, "how much", out)

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Echo: how much")
    assert "error (budget_exceeded): This question could take you over your daily spending cap" in lines[-1]
    assert (await kernel.ledger.summary(user_id=CONSOLE_USER_ID)).calls == 1
