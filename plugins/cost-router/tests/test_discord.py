"""The router through the real Discord front end (hikari + lightbulb) in both modes, on the loopback Discord."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from intelbot import TurnContext
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import DEFAULT_GUILD, MakeDiscord
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot_cost_router.cli import router_group
from intelbot_cost_router.plugin import CostRouterPlugin

from .conftest import word_problem
from .test_turns import SHORT, long_prompt, settings_with, text_router

pytestmark = pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])


async def routed_discord(
    make_kernel: KernelFactory, make_discord: MakeDiscord, outcome_file: Path, tmp_path: Path
) -> DiscordHarness:
    path = text_router(outcome_file, tmp_path)
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(path))
    return await make_discord(kernel)


def footer_model(contents: list[str]) -> str:
    """The model named in the answer's footer (``-# MODEL · SOURCE · ...``)."""
    return contents[-1].splitlines()[-1].removeprefix("-# ").split(" · ")[0]


async def test_ask_model_pins_the_model_and_the_router_leaves_it(
    make_kernel: KernelFactory, make_discord: MakeDiscord, outcome_file: Path, tmp_path: Path
) -> None:
    discord = await routed_discord(make_kernel, make_discord, outcome_file, tmp_path)

    routed = await discord.slash("ask", question=long_prompt())
    pinned_small = await discord.slash("ask", question=long_prompt(), model="echo-small")
    pinned_large = await discord.slash("ask", question=SHORT, model="echo-large")

    assert footer_model(routed.contents) == "echo-large"  # the router's own choice for a long problem
    assert footer_model(pinned_small.contents) == "echo-small"
    assert footer_model(pinned_large.contents) == "echo-large"
    plugin = loaded_plugin(discord.kernel, CostRouterPlugin)
    assert plugin.store is not None
    assert [d.model for d in await plugin.store.decisions()] == ["echo-large"]  # pinned turns are not routed


async def test_ask_with_a_model_outside_the_catalog_is_refused_without_a_call(
    make_kernel: KernelFactory, make_discord: MakeDiscord, outcome_file: Path, tmp_path: Path
) -> None:
    discord = await routed_discord(make_kernel, make_discord, outcome_file, tmp_path)

    result = await discord.slash("ask", question=SHORT, model="gpt-9-turbo")

    [message] = result.messages
    assert message.ephemeral and not result.deferred
    assert "Unknown model `gpt-9-turbo`" in message.content
    assert "`echo-large`" in message.content and "`echo-small`" in message.content
    await discord.kernel.ledger.flush()
    assert (await discord.kernel.ledger.summary()).calls == 0


async def test_feedback_votes_train_a_router_that_moves_the_failed_prompts_up(
    make_kernel: KernelFactory,
    make_discord: MakeDiscord,
    outcome_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "bot-data"
    path = text_router(outcome_file, tmp_path)
    kernel = await make_kernel(plugins=["cost_router"], settings={**settings_with(path), "data_dir": str(data_dir)})
    discord = await make_discord(kernel, rate_limit_requests=0)
    facts = [f"What is the capital of {country}?" for country in ("France", "Japan", "Peru", "Kenya", "Chile", "Spain")]
    problems = [word_problem(random.Random(seed)) for seed in range(6)]
    for question, vote in [*((fact, "down") for fact in facts), *((problem, "up") for problem in problems)]:
        result = await discord.slash("ask", question=question)
        [answer] = result.messages
        expected = "echo-small" if vote == "down" else "echo-large"
        assert footer_model(result.contents) == expected  # the text router's choice before any feedback
        [wanted] = [button for button in answer.custom_ids() if f":{vote}:" in button]
        assert (await discord.click(answer, wanted)).contents == ["Thanks, your feedback was recorded."]
    pinned = await discord.slash("ask", question=facts[0], model="echo-small")
    await discord.click(pinned.messages[0], pinned.messages[0].custom_ids()[1])  # a vote on a turn not routed

    monkeypatch.setenv("INTELBOT_SETTINGS_DIR", str(tmp_path))
    monkeypatch.setenv("INTELBOT_DATA_DIR", str(data_dir))
    runner = CliRunner()
    trained = await asyncio.to_thread(
        runner.invoke, router_group, ["train", "--from-feedback", "--text-only", "--save", "--json"]
    )
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["feedback_rows"], summary["feedback_votes"]) == (12, 12, 13)
    assert summary["feedback_votes_skipped"] == 1
    saved = data_dir / "cost_router" / "router.json"
    assert json.loads(saved.read_text(encoding="utf-8"))["trained_on"] == ["answer_feedback"]

    retrained = await make_kernel(plugins=["cost_router"], settings=settings_with(saved))
    answer = await retrained.ask("What is the capital of Norway?", TurnContext(guild_id=5))
    assert answer.model == "echo-large"  # 👎 on cheap answers to such questions: they now go to the strong tier


async def test_usage_shows_what_routing_saved_in_this_server_today(
    make_kernel: KernelFactory, make_discord: MakeDiscord, outcome_file: Path, tmp_path: Path
) -> None:
    discord = await routed_discord(make_kernel, make_discord, outcome_file, tmp_path)
    await discord.slash("ask", question=SHORT)
    await discord.slash("ask", question=long_prompt())
    await discord.slash("ask", question=SHORT, guild_id=None)  # another scope: not counted for the server
    plugin = loaded_plugin(discord.kernel, CostRouterPlugin)
    assert plugin.store is not None
    totals = await plugin.store.savings(guild_id=DEFAULT_GUILD)
    assert (totals.decisions, totals.weak, totals.strong) == (2, 1, 1) and totals.saved_usd > 0

    result = await discord.slash("usage")

    [line] = [line for line in result.text.splitlines() if line.startswith("Routing today:")]
    assert line == (
        f"Routing today: 2 turns (1 small, 1 large), ${totals.saved_usd:.4f} saved "
        f"(${totals.cost_usd:.4f} spent, ${totals.strong_cost_usd:.4f} on the large tier)"
    )


async def test_usage_says_when_the_budget_lowered_the_quality_target(
    make_kernel: KernelFactory, make_discord: MakeDiscord, outcome_file: Path, tmp_path: Path
) -> None:
    path = text_router(outcome_file, tmp_path)
    settings = settings_with(path, budget_lowering=True, budget_floor=0.5)
    kernel = await make_kernel(plugins=["cost_router"], settings={**settings, "discord": {"daily_guild_cap_usd": 1e-6}})
    discord = await make_discord(kernel, daily_guild_cap_usd=1.0)  # the front end's own cap lets the turns through

    before = await discord.slash("usage")
    await discord.slash("ask", question=long_prompt())
    after = await discord.slash("usage")

    [line_before] = [line for line in before.text.splitlines() if line.startswith("Budget:")]
    [line_after] = [line for line in after.text.splitlines() if line.startswith("Budget:")]
    assert (
        line_before == "Budget: $0.0000 of $0.0000 spent today; quality target 0.95 (lowering starts at 50% of the cap)"
    )
    assert line_after.endswith("spent today; quality target lowered from 0.95 to 0.50")
