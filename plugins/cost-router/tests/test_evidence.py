"""Evidence beyond votes, through real kernel turns: re-asks and provider errors on routed turns, and the schema step.

The re-ask rule is the kernel's (:mod:`intelbot.reask`), shared with the semantic cache.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table, insert, inspect

from intelbot import TurnContext
from intelbot.data.database import Database
from intelbot.data.feedback import Vote
from intelbot.embedding import Embedder
from intelbot.kernel import Kernel
from intelbot.reask import REASK_MIN_COSINE, asks_again
from intelbot.testing.clock import ManualClock
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import AnthropicServer, OpenAIServer, Reply, Status
from intelbot.testing.postgres import fresh_database
from intelbot_cost_router.feedback_outcomes import feedback_outcomes
from intelbot_cost_router.plugin import NAME, CostRouterPlugin
from intelbot_cost_router.store import DECISIONS, NEW_COLUMNS, SCHEMA, Decision, DecisionStore

from .test_turns import SHORT, breaker_settings, long_prompt, metric, settings_with, text_router

USER, CHANNEL, GUILD = 41, 42, 43
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def turn(*, user: int = USER, channel: int = CHANNEL, guild: int | None = GUILD) -> TurnContext:
    return TurnContext(guild_id=guild, channel_id=channel, user_id=user, frontend="discord")


@contextlib.asynccontextmanager
async def database_url(backend: str, tmp_path: Path) -> Any:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    else:
        async with fresh_database() as url:
            yield url


def router_of(kernel: Kernel) -> CostRouterPlugin:
    return loaded_plugin(kernel, CostRouterPlugin)


async def reasked_by_prompt(kernel: Kernel) -> list[tuple[str, bool]]:
    store = router_of(kernel).store
    assert store is not None
    return [(decision.prompt or "", decision.reasked) for decision in await store.decisions()]


def test_the_shared_rule_compares_text_gently_and_vectors_by_cosine() -> None:
    assert asks_again("What is C++?", "  what is c++ ")
    assert not asks_again("What is C++?", "What is C?")
    assert asks_again("a", "b", [1.0, 0.0], [REASK_MIN_COSINE, 0.6])
    assert not asks_again("a", "b", [1.0, 0.0], [REASK_MIN_COSINE - 0.01, 0.6])
    assert not asks_again("a", "b", None, [1.0, 0.0])
    with pytest.raises(ValueError, match="different sizes"):
        asks_again("a", "b", [1.0, 0.0], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_same_asker_asking_again_at_once_marks_the_routed_answer(
    make_kernel: KernelFactory, outcome_file: Path, tmp_path: Path, backend: str
) -> None:
    clock = ManualClock()
    async with database_url(backend, tmp_path) as url:
        settings = {**settings_with(text_router(outcome_file, tmp_path)), "database_url": url}
        kernel = await make_kernel(plugins=[CostRouterPlugin.configured(clock=clock)], settings=settings)
        try:
            await kernel.ask(SHORT, turn())
            clock.advance(30)
            await kernel.ask("  what is the capital of italy ", turn())  # the same question: a re-ask
            clock.advance(5)
            await kernel.ask(long_prompt(), turn())  # another subject: no re-ask of the second answer
            clock.advance(5)
            await kernel.ask(long_prompt(), turn(user=USER + 1))  # someone else: not a re-ask
            await kernel.ask(long_prompt(), turn(channel=CHANNEL + 1))  # another channel: not a re-ask
            clock.advance(121)
            await kernel.ask(long_prompt(), turn())  # past reask_window_seconds (120): not a re-ask
            assert [reasked for _, reasked in await reasked_by_prompt(kernel)] == [True] + [False] * 5
            # the other askers' answers (40 s after the start) are past the window: no longer kept
            assert list(router_of(kernel).last_answers) == [(GUILD, CHANNEL, USER)]
            assert metric(kernel, "intelbot_router_evidence_total", {"kind": "reask"}) == 1

            store = router_of(kernel).store
            assert store is not None
            made = feedback_outcomes(await store.decisions(), [], strong_tier="large")
            assert [(row.prompt, row.strong, row.weak) for row in made.rows] == [(SHORT, 1.0, 0.0)]
            assert made.reasks == 1
        finally:
            await kernel.stop()


async def test_reask_window_zero_marks_nothing(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(reask_window_seconds=0))
    await kernel.ask(SHORT, turn())
    await kernel.ask(SHORT, turn())
    assert [reasked for _, reasked in await reasked_by_prompt(kernel)] == [False, False]


class CountingEmbedder:
    """The real MiniLM, counting the texts it embeds (to show the router never embeds a prompt itself)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.texts: list[str] = []

    async def embed(self, texts: list[str]) -> Any:
        self.texts.extend(texts)
        return await self.inner.embed(texts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_paraphrase_is_a_reask_by_the_vector_the_cache_already_computed(
    make_kernel: KernelFactory, minilm: Embedder
) -> None:
    from intelbot_semantic_cache.plugin import SemanticCachePlugin

    counting = CountingEmbedder(minilm)
    first, paraphrase = "How tall is the Eiffel Tower?", "What is the height of the Eiffel Tower?"
    vectors = await minilm.embed([first, paraphrase])
    assert float(vectors[0] @ vectors[1]) >= REASK_MIN_COSINE  # the premise: close by the shared rule
    settings = settings_with()
    settings["plugins"]["semantic_cache"] = {"enabled": True, "similarity_threshold": 0.99, "change_poll_seconds": 0}
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=counting), CostRouterPlugin.configured(embedder=None)],
        settings=settings,
    )
    await kernel.ask(first, turn())
    await kernel.ask(paraphrase, turn())
    assert await reasked_by_prompt(kernel) == [(first, True), (paraphrase, False)]
    assert counting.texts.count(first) == 1 and counting.texts.count(paraphrase) == 1  # embedded once, by the cache


async def test_a_provider_error_on_a_routed_turn_is_recorded_and_keeps_the_turn_out_of_training(
    make_kernel: KernelFactory,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    outcome_file: Path,
    tmp_path: Path,
) -> None:
    path = text_router(outcome_file, tmp_path)
    settings = breaker_settings(openai_server, anthropic_server, path)
    settings["plugins"]["circuit_breaker"]["breaker"]["minimum_calls"] = 10  # one 500 must not open it
    kernel = await make_kernel(plugins=["cost_router", "circuit_breaker"], settings=settings)
    openai_server.script(Status(500), Reply("the answer after a retry"), Reply("a clean answer"))
    retried_turn = turn()
    retried = await kernel.ask(SHORT, retried_turn)
    clean = await kernel.ask("Which language is spoken in Chile?", turn())
    assert (retried.model, clean.model) == ("openai-small", "openai-small")
    store = router_of(kernel).store
    assert store is not None
    decisions = await store.decisions()
    assert [(d.provider_errors, d.error_category) for d in decisions] == [(1, "server_error"), (0, None)]
    assert metric(kernel, "intelbot_router_evidence_total", {"kind": "error"}) == 1

    assert decisions[0].request_id == retried_turn.request_id
    voted = [vote_of(retried_turn.request_id, "down")]
    made = feedback_outcomes(decisions, voted, strong_tier="large")
    assert (made.rows, made.skipped_errors, made.skipped_votes) == ([], 1, 1)  # the 👎 on the errored turn: skipped


def vote_of(request_id: str, vote: str) -> Vote:
    return Vote(request_id=request_id, guild_id=GUILD, asker_id=USER, model="openai-small", vote=vote, voted_at=0.0)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_schema_1_table_gains_the_evidence_columns_in_place(tmp_path: Path, backend: str) -> None:
    async with database_url(backend, tmp_path) as url:
        database = Database(url)
        try:
            new = {name for name, _ in NEW_COLUMNS}
            old = MetaData()
            Table(
                DECISIONS.name,
                old,
                *[Column(c.name, c.type, primary_key=c.primary_key) for c in DECISIONS.columns if c.name not in new],
            )

            def old_schema(connection: Any) -> None:
                old.create_all(connection)

            assert await database.migrate(NAME, (old_schema,)) == 1
            row = {c.name: None for c in DECISIONS.columns if c.name not in new | {"id"}}
            row.update(request_id="old", tier="small", model="m", rule="learned", content_type="chat", created_at=1.0)
            row.update(estimate=0.1, threshold=0.5, cost_usd=0.0, strong_cost_usd=0.0, saved_usd=0.0, complete=True)
            async with database.engine.begin() as connection:
                await connection.execute(insert(old.tables[DECISIONS.name]).values(**row))

            assert await database.migrate(NAME, SCHEMA) == 2
            async with database.engine.connect() as connection:
                columns = await connection.run_sync(
                    lambda sync: {c["name"] for c in inspect(sync).get_columns(DECISIONS.name)}
                )
            assert new <= columns
            store = DecisionStore(database.engine, database.write_lock, strong_tier="large")
            [kept] = await store.decisions()
            assert (kept.request_id, kept.provider_errors, kept.error_category, kept.reasked) == ("old", 0, None, False)
            assert await store.mark_reasked("old") and not await store.mark_reasked("old")
            assert (await store.decisions())[0].reasked
            assert await database.migrate(NAME, SCHEMA) == 2  # idempotent on an upgraded database
        finally:
            await database.dispose()


def test_decision_fields_are_the_table_columns() -> None:
    assert set(Decision.__slots__) == {c.name for c in DECISIONS.columns} - {"id"}
