"""PostgreSQL analysis with HypoPG: planted index found, covered ones suppressed, no leaks, no writes."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from intelbot_db_advisor.advisor import analyse
from intelbot_db_advisor.settings import DbAdvisorSettings
from intelbot_db_advisor.workload import WorkloadStatement, statements_from_file

from .conftest import fill_postgres

pytestmark = pytest.mark.postgres
SETTINGS = DbAdvisorSettings(repeats=3)


async def test_planted_missing_index_is_suggested_with_costs_and_times(postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    statements, _ = statements_from_file(
        "SELECT sum(cost) FROM ledger WHERE guild_id = 7 AND day = '2026-01-03';\n"
        "SELECT * FROM memories WHERE guild_id = 3 AND user_id = 10;\n"
        "SELECT count(*) FROM ledger;",
        "postgresql",
    )
    engine = create_async_engine(postgres_url)
    try:
        analysis = await analyse(engine, statements, SETTINGS)
    finally:
        await engine.dispose()
    assert len(analysis.suggestions) == 1, analysis.as_dict()
    suggestion = analysis.suggestions[0]
    assert suggestion.table == "ledger" and "guild_id" in suggestion.columns
    assert [e.statement for e in suggestion.evidence] == [0]
    evidence = suggestion.evidence[0]
    assert evidence.cost_before is not None and evidence.cost_after is not None
    assert evidence.cost_after <= 0.5 * evidence.cost_before
    assert suggestion.measured and suggestion.speedup >= 2
    assert suggestion.sql.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
    assert any("ix_memories_guild_user" in note for note in analysis.covered)


async def test_parameterised_statements_get_a_generic_plan_and_hypothetical_indexes_do_not_leak(
    postgres_url: str,
) -> None:
    await fill_postgres(postgres_url)
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        statement = WorkloadStatement(
            0,
            "SELECT * FROM ledger WHERE user_id = $1 ORDER BY day LIMIT $2",
            (42, 5),
            "fp",
            "t",
            "select",
            calls=50,
            total_seconds=0.5,
        )
        analysis = await analyse(engine, [statement], SETTINGS, total_seconds=1.0)
        assert [s.columns[0] for s in analysis.suggestions] == ["user_id"]
        assert analysis.suggestions[0].evidence[0].share == pytest.approx(0.5)
        async with engine.connect() as connection:  # the same pooled backend the analysis used
            assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() == backend
            assert (await connection.execute(text("SELECT count(*) FROM hypopg_list_indexes"))).scalar_one() == 0
            assert (await connection.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"
            prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'intelbot%'")
            assert (await connection.execute(prepared)).scalar_one() == 0
            indexes = await connection.execute(text("SELECT count(*) FROM pg_indexes WHERE tablename = 'ledger'"))
            assert indexes.scalar_one() == 1  # only the primary key: nothing was created for real
    finally:
        await engine.dispose()


async def test_a_writing_statement_is_never_executed(postgres_url: str) -> None:
    await fill_postgres(postgres_url)
    engine = create_async_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE SEQUENCE stamp"))
        before = (await connection.execute(text("SELECT count(*) FROM ledger WHERE user_id = 78"))).scalar_one()
    source = "UPDATE ledger SET cost = nextval('stamp') WHERE user_id = 77;\nDELETE FROM ledger WHERE user_id = 78;"
    try:
        statements, _ = statements_from_file(source, "postgresql")
        planned_only = await analyse(engine, statements, DbAdvisorSettings(postgres_verify_build=False))
        async with engine.connect() as connection:
            # a sequence is not rolled back: had the UPDATE run at all, it would have moved
            assert (await connection.execute(text("SELECT last_value, is_called FROM stamp"))).one() == (1, False)
        timed = await analyse(engine, statements, SETTINGS)
        async with engine.connect() as connection:
            assert (
                await connection.execute(text("SELECT count(*) FROM ledger WHERE user_id = 78"))
            ).scalar_one() == before
            assert (await connection.execute(text("SELECT count(*) FROM ledger WHERE cost >= 1"))).scalar_one() == 0
    finally:
        await engine.dispose()
    assert before > 0
    assert [s.columns for s in planned_only.suggestions] == [("user_id",)]
    assert not planned_only.suggestions[0].measured
    assert [s.columns for s in timed.suggestions] == [("user_id",)] and timed.suggestions[0].measured
