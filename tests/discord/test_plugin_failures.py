"""Plugins that failed to load: members see only that they failed; managers see why, never import exception text."""

from __future__ import annotations

from pathlib import Path

import hikari
import pytest

from intelbot.frontends.discord.plugin_failures import failure_reason
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.server import TEST_OWNER_ID

IMPORT_ERROR_TEXT = "broken on purpose"  # what intelbot_sample.broken raises while it is imported


@pytest.fixture
async def discord(sample_plugin: Path, make_kernel, make_discord) -> DiscordHarness:
    """A bot with one plugin whose import raises and one whose hooks are misspelled."""
    kernel = await make_kernel(plugins=["sample_broken", "sample_misspelled"])
    broken, misspelled = kernel.plugin_info("sample_broken"), kernel.plugin_info("sample_misspelled")
    assert broken is not None and broken.error is not None and IMPORT_ERROR_TEXT in broken.error
    assert misspelled is not None and misspelled.error is not None and "before_llm_cal" in misspelled.error
    return await make_discord(kernel)


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ("import failed: RuntimeError: password=hunter2", "import failed: RuntimeError"),
        ("import failed: ModuleNotFoundError: No module named 'x'", "import failed: ModuleNotFoundError"),
        ("import failed: some text without a type", "import failed"),
        ("import failed: ", "import failed"),
        ("startup failed (see the log)", "startup failed (see the log)"),
    ],
)
def test_failure_reason_names_only_the_exception_type_of_an_import(error: str, shown: str) -> None:
    assert failure_reason(error) == shown


@pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])
async def test_members_see_only_that_a_plugin_failed(discord: DiscordHarness) -> None:
    member = discord.member(901)

    health = await discord.slash("health", user=member)
    listing = await discord.slash("plugins", "list", user=member)

    assert "- plugin sample_broken: NOT LOADED (failed to load)" in health.text.splitlines()
    assert "- plugin sample_misspelled: NOT LOADED (failed to load)" in health.text.splitlines()
    assert "- `sample_broken` 1.2.3: not loaded (failed to load)" in listing.text.splitlines()
    assert "- `sample_misspelled` 1.2.3: not loaded (failed to load)" in listing.text.splitlines()
    for result in (health, listing):
        assert all(message.ephemeral for message in result.messages)
        for detail in (IMPORT_ERROR_TEXT, "RuntimeError", "import failed", "before_llm_cal"):
            assert detail not in result.text


@pytest.mark.parametrize(
    "permissions", [hikari.Permissions.MANAGE_GUILD, hikari.Permissions.ADMINISTRATOR], ids=["manage", "admin"]
)
async def test_managers_see_why_but_never_the_import_exception_text(discord: DiscordHarness, permissions) -> None:
    admin = discord.member(902, permissions=permissions)

    health = await discord.slash("health", user=admin)
    listing = await discord.slash("plugins", "list", user=admin)

    assert "- plugin sample_broken: NOT LOADED (failed to load: import failed: RuntimeError)" in health.text
    assert "- `sample_broken` 1.2.3: not loaded (failed to load: import failed: RuntimeError)" in listing.text
    for result in (health, listing):
        assert "sample_misspelled" in result.text and "before_llm_cal" in result.text
        assert IMPORT_ERROR_TEXT not in result.text


async def test_bot_owners_see_why_in_a_dm(discord: DiscordHarness) -> None:
    owner = discord.member(TEST_OWNER_ID)

    health = await discord.slash("health", user=owner, guild_id=None)

    assert "- plugin sample_broken: NOT LOADED (failed to load: import failed: RuntimeError)" in health.text
    assert IMPORT_ERROR_TEXT not in health.text
    member_in_dm = await discord.slash("health", user=discord.member(903), guild_id=None)
    assert "- plugin sample_broken: NOT LOADED (failed to load)" in member_in_dm.text.splitlines()


async def test_switching_a_plugin_that_failed_gives_no_import_exception_text(discord: DiscordHarness) -> None:
    admin = discord.member(904, permissions=hikari.Permissions.MANAGE_GUILD)

    result = await discord.slash("plugins", "disable", user=admin, name="sample_broken")

    assert result.messages[-1].content == "`sample_broken`: failed: it is not loaded (import failed: RuntimeError)"
