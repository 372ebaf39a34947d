"""``/db report`` through the kit's loopback Discord (both modes): owners get the summary, others are refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from intelbot_db_advisor.discord_commands import NOT_ALLOWED
from intelbot_db_advisor.plugin import DbAdvisorPlugin

OWNER = 777_000_000_000_000_001
metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("guild_id", Integer))


@pytest.mark.parametrize("discord_mode", ["interactions", "gateway"])
async def test_db_report_for_owners_only_and_without_statement_literals(
    make_kernel: Any, make_discord: Any, discord_mode: str
) -> None:
    kernel = await make_kernel(
        plugins=["db_advisor"],  # by entry point, as a deployment loads it
        settings={
            "plugins": {"db_advisor": {"flush_seconds": 0, "repeats": 3, "min_total_ms": 0, "count_client_cost": False}}
        },
    )
    assert isinstance(kernel.plugin("db_advisor", DbAdvisorPlugin), DbAdvisorPlugin)
    engine = kernel.database.engine
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(items), [{"guild_id": n % 1000} for n in range(150_000)])
    async with engine.connect() as connection:
        for guild in range(30):
            await connection.execute(select(items).where(items.c.guild_id == 4242 + guild))
    discord = await make_discord(kernel, owner_ids=(OWNER,))

    refused = await discord.slash("db", "report", user=discord.member(703))
    assert refused.messages[-1].content == NOT_ALLOWED and refused.messages[-1].ephemeral

    answered = await discord.slash("db", "report", user=discord.member(OWNER), within=120.0)
    reply = answered.messages[-1]
    assert reply.ephemeral
    assert reply.content.startswith("**Database** (sqlite): ")
    assert "index on items(guild_id)" in reply.content and "intelbot db apply " in reply.content
    assert "health: " in reply.content and "pool: " in reply.content
    assert "4242" not in answered.text and "guild_id =" not in answered.text  # no literals, no statement text
