"""Replicas starting together on a fresh PostgreSQL migrate one after the other (issue 9, item 14)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import Connection, select

from intelbot.data.database import Database, SchemaVersion
from intelbot.data.ledger import LEDGER_SCHEMA
from intelbot.data.tables import KernelTable

pytestmark = pytest.mark.postgres


def slow_kernel_schema(connection: Connection) -> None:
    """The kernel's tables, after a pause that makes every replica read ``schema_versions`` before any writes it."""
    time.sleep(0.3)
    KernelTable.metadata.create_all(connection)


async def test_six_replicas_migrating_a_fresh_database_at_once_all_succeed(postgres_url: str) -> None:
    replicas = [Database(postgres_url) for _ in range(6)]
    try:
        versions = await asyncio.gather(
            *(replica.migrate("kernel", [slow_kernel_schema]) for replica in replicas),
            *(replica.migrate("ledger", LEDGER_SCHEMA) for replica in replicas),
        )
        assert versions == [1] * 6 + [len(LEDGER_SCHEMA)] * 6
        async with replicas[0].session() as session:
            rows = (await session.execute(select(SchemaVersion.component, SchemaVersion.version))).all()
        assert sorted(tuple(row) for row in rows) == [("kernel", 1), ("ledger", len(LEDGER_SCHEMA))]
    finally:
        for replica in replicas:
            await replica.dispose()
