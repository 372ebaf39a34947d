"""The router through the real Discord front end (hikari + lightbulb) in both modes, on the loopback Discord."""

from __future__ import annotations

from pathlib import Path

import pytest

from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import MakeDiscord
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot_cost_router.plugin import CostRouterPlugin

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
