"""Per-entry thresholds learnt from feedback: buttons on hits, 👎 and re-asks, guilds, the setting, restarts.

The Discord tests click the real front end's buttons on the loopback Discord in both
connection modes; the re-ask and restart tests drive real kernel turns with a manual
clock. Paraphrases and their MiniLM cosines (the test settings' threshold is 0.9,
``near_exact_similarity`` 0.99):

- EVENT / EVENT_PARAPHRASE: about 0.93, a semantic hit that is not near-exact;
- PASSWORD / PASSWORD_PARAPHRASE: about 0.99, near-exact.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intelbot import Source, TurnContext
from intelbot.embedding import Embedder
from intelbot.kernel import Kernel
from intelbot.testing.clock import ManualClock
from intelbot.testing.discord import DiscordHarness
from intelbot.testing.discord.harness import DEFAULT_GUILD, MakeDiscord, SlashResult
from intelbot.testing.discord.records import SentMessage
from intelbot.testing.kernels import loaded_plugin
from intelbot.testing.postgres import fresh_database
from intelbot_semantic_cache.cache import SemanticCache
from intelbot_semantic_cache.outcomes import THRESHOLD_STEP, Outcome, verdict_of
from intelbot_semantic_cache.plugin import SemanticCachePlugin
from intelbot_semantic_cache.store import OUTCOMES

EVENT = "What time does the event start?"
EVENT_PARAPHRASE = "When does the event start?"
PASSWORD = "How do I reset my password?"
PASSWORD_PARAPHRASE = "How can I reset my password?"
OTHER_GUILD = DEFAULT_GUILD + 1
CHANNEL = 31
USER = 41


def cache_settings(**cache: Any) -> dict[str, Any]:
    return {"plugins": {"semantic_cache": {"similarity_threshold": 0.9, "change_poll_seconds": 0, **cache}}}


async def cached_discord(make_kernel: Any, make_discord: MakeDiscord, **cache: Any) -> DiscordHarness:
    kernel = await make_kernel(plugins=["semantic_cache"], settings=cache_settings(**cache))
    return await make_discord(kernel, rate_limit_requests=1000)  # these tests ask more than 5 a minute


def cache_of(kernel: Kernel) -> SemanticCache:
    cache = loaded_plugin(kernel, SemanticCachePlugin).cache
    assert cache is not None
    return cache


def footer_source(result: SlashResult) -> str:
    """``cache`` or ``provider``, from the source the answer's footer names (``-# MODEL · SOURCE · ...``)."""
    footer = result.contents[-1].splitlines()[-1]
    assert footer.startswith("-# "), result.contents  # an answer, not a refusal
    named = footer.removeprefix("-# ").split(" · ")[1]
    return "cache" if named == "cache" else "provider"


def request_id_of(message: SentMessage) -> str:
    return message.custom_ids()[0].rsplit(":", 1)[1]


async def vote(discord: DiscordHarness, result: SlashResult, which: str, **click: Any) -> list[str]:
    answer = result.messages[-1]
    up, down = answer.custom_ids()
    clicked = await discord.click(answer, up if which == "up" else down, **click)
    return clicked.contents


async def outcome_rows(kernel: Kernel) -> list[Any]:
    async with kernel.database.engine.connect() as connection:
        return list((await connection.execute(select(OUTCOMES).order_by(OUTCOMES.c.served_at))).all())


# -- the rule alone ---------------------------------------------------------------------------


def outcome(kind: str, score: float | None, *, similarity: float = 0.95, **evidence: Any) -> Outcome:
    return Outcome("r", 1, 5, kind, similarity, score, **evidence)


def test_the_rule_needs_one_down_vote_or_two_reasks_and_up_votes_never_lower_anything() -> None:
    near = 0.99
    nothing = verdict_of([outcome("semantic", 0.93, reasked=True)], near_exact=near)
    assert not nothing.changes_anything  # half a 👎 changes nothing
    down = verdict_of([outcome("semantic", 0.93, vote="down")], near_exact=near)
    assert not down.drop and down.threshold == pytest.approx(0.93 + THRESHOLD_STEP)
    two_reasks = verdict_of(
        [outcome("semantic", 0.95, reasked=True), outcome("semantic", 0.92, reasked=True)], near_exact=near
    )
    assert two_reasks.threshold == pytest.approx(0.92 + THRESHOLD_STEP)  # only where both halves apply
    cancelled = verdict_of(
        [outcome("semantic", 0.95, reasked=True, vote="up"), outcome("semantic", 0.92, reasked=True)], near_exact=near
    )
    assert not cancelled.changes_anything  # the asker's 👍 takes back their own re-ask
    ups = verdict_of([outcome("semantic", 0.91, vote="up")] * 10, near_exact=near)
    assert ups.threshold == -math.inf and not ups.drop
    assert verdict_of([outcome("semantic", 0.995, similarity=0.995, vote="down")], near_exact=near).drop
    assert verdict_of([outcome("exact", None, similarity=1.0, vote="down")], near_exact=near).drop
    assert verdict_of([outcome("stored", None, similarity=1.0, vote="down")], near_exact=near).drop
    assert not verdict_of([outcome("exact", None, similarity=1.0, reasked=True)], near_exact=near).drop
    mixed = verdict_of(
        [outcome("exact", None, similarity=1.0, reasked=True), outcome("semantic", 0.94, reasked=True)],
        near_exact=near,
    )
    assert not mixed.drop and mixed.threshold == pytest.approx(0.94 + THRESHOLD_STEP)


# -- through Discord ---------------------------------------------------------------------------

discord_modes = pytest.mark.parametrize("discord_mode", ["gateway", "interactions"])


@discord_modes
async def test_cached_answers_carry_the_buttons_and_the_cache_records_which_entry_served_them(
    make_kernel: Any, make_discord: MakeDiscord
) -> None:
    discord = await cached_discord(make_kernel, make_discord)

    provider = await discord.slash("ask", question=EVENT)
    semantic = await discord.slash("ask", question=EVENT_PARAPHRASE)
    exact = await discord.slash("ask", question=EVENT.lower())

    assert [footer_source(r) for r in (provider, semantic, exact)] == ["provider", "cache", "cache"]
    for result in (provider, semantic, exact):
        assert [i.split(":")[1] for i in result.messages[-1].custom_ids()] == ["up", "down"]
    rows = {row.request_id: row for row in await outcome_rows(discord.kernel)}
    entry_id = rows[request_id_of(provider.messages[-1])].entry_id
    stored, hit, exact_hit = (rows[request_id_of(r.messages[-1])] for r in (provider, semantic, exact))
    assert (stored.kind, hit.kind, exact_hit.kind) == ("stored", "semantic", "exact")
    assert stored.entry_id == hit.entry_id == exact_hit.entry_id == entry_id
    assert 0.9 <= hit.score < 0.99 and hit.similarity == pytest.approx(hit.score)
    assert exact_hit.score is None
    assert (hit.guild_id, hit.channel_id, hit.user_id) == (DEFAULT_GUILD, 300_000_000_000_000_001, USER_ID)


USER_ID = 400_000_000_000_000_001  # the harness's default user


@discord_modes
async def test_a_down_vote_on_a_semantic_hit_stops_that_entry_serving_it_and_nothing_else_changes(
    make_kernel: Any, make_discord: MakeDiscord
) -> None:
    discord = await cached_discord(make_kernel, make_discord)
    for guild in (DEFAULT_GUILD, OTHER_GUILD):
        await discord.slash("ask", question=EVENT, guild_id=guild)
    await discord.slash("ask", question=PASSWORD)
    hit = await discord.slash("ask", question=EVENT_PARAPHRASE)
    assert footer_source(hit) == "cache"

    assert await vote(discord, hit, "down") == ["Thanks, your feedback was recorded."]

    again = await discord.slash("ask", question=EVENT_PARAPHRASE)
    assert footer_source(again) == "provider"  # refused by the entry's own threshold now
    other_guild = await discord.slash("ask", question=EVENT_PARAPHRASE, guild_id=OTHER_GUILD)
    assert footer_source(other_guild) == "cache"  # the other guild's entry learnt nothing
    other_entry = await discord.slash("ask", question="How do I reset my password please?")
    assert footer_source(other_entry) == "cache"  # another entry of the same guild is unaffected
    original = await discord.slash("ask", question=EVENT)
    assert footer_source(original) == "cache"  # the answer was not blamed: its own question still hits
    stats = cache_of(discord.kernel).stats()
    assert (stats["entries_with_learned_threshold"], stats["entries_refused_by_feedback"]) == (1, 0)
    assert stats["feedback_down"] == 1


@discord_modes
async def test_a_down_vote_on_a_near_exact_hit_or_on_the_stored_answer_drops_the_entry(
    make_kernel: Any, make_discord: MakeDiscord
) -> None:
    discord = await cached_discord(make_kernel, make_discord)
    await discord.slash("ask", question=PASSWORD)
    near_exact = await discord.slash("ask", question=PASSWORD_PARAPHRASE)
    assert footer_source(near_exact) == "cache"
    assert cache_of(discord.kernel).stats()["entries"] == 1
    [row] = [r for r in await outcome_rows(discord.kernel) if r.request_id == request_id_of(near_exact.messages[-1])]
    assert row.kind == "semantic" and row.similarity >= 0.99  # the premise: a near-exact hit

    await vote(discord, near_exact, "down")

    cache = cache_of(discord.kernel)
    assert cache.stats()["entries"] == 0 and cache.stats()["evicted_feedback"] == 1
    assert footer_source(await discord.slash("ask", question=PASSWORD)) == "provider"

    stored = await discord.slash("ask", question=EVENT)
    assert footer_source(stored) == "provider"
    await vote(discord, stored, "down")  # the answer the entry was made from
    assert footer_source(await discord.slash("ask", question=EVENT)) == "provider"


@discord_modes
async def test_up_votes_and_strangers_change_nothing(make_kernel: Any, make_discord: MakeDiscord) -> None:
    discord = await cached_discord(make_kernel, make_discord)
    await discord.slash("ask", question=EVENT)
    first = await discord.slash("ask", question=EVENT_PARAPHRASE)
    second = await discord.slash("ask", question=EVENT_PARAPHRASE)

    refused = await vote(discord, first, "down", user=discord.member(400_000_000_000_000_999))
    assert refused == ["Only the person who asked can rate this answer."]
    await vote(discord, second, "up")

    assert footer_source(await discord.slash("ask", question=EVENT_PARAPHRASE)) == "cache"
    assert cache_of(discord.kernel).stats()["entries_with_learned_threshold"] == 0


@discord_modes
async def test_with_learning_off_hits_carry_no_buttons_and_votes_change_nothing(
    make_kernel: Any, make_discord: MakeDiscord
) -> None:
    discord = await cached_discord(make_kernel, make_discord, learn_from_feedback=False)
    stored = await discord.slash("ask", question=EVENT)
    hit = await discord.slash("ask", question=EVENT_PARAPHRASE)

    assert footer_source(hit) == "cache" and hit.messages[-1].custom_ids() == []
    await vote(discord, stored, "down")  # the provider's answer still carries them
    assert footer_source(await discord.slash("ask", question=EVENT_PARAPHRASE)) == "cache"
    assert footer_source(await discord.slash("ask", question=EVENT)) == "cache"
    assert await outcome_rows(discord.kernel) == []
    assert [v.vote for v in await discord.kernel.feedback.votes()] == ["down"]


@discord_modes
async def test_with_sharing_on_a_guilds_vote_refuses_the_entry_to_that_guild_only(
    make_kernel: Any, make_discord: MakeDiscord
) -> None:
    discord = await cached_discord(make_kernel, make_discord, share_across_guilds=True)
    await discord.slash("ask", question=PASSWORD)  # stored by DEFAULT_GUILD
    theirs = await discord.slash("ask", question=PASSWORD_PARAPHRASE, guild_id=OTHER_GUILD)
    assert footer_source(theirs) == "cache"

    await vote(discord, theirs, "down", guild_id=OTHER_GUILD)  # near-exact: a drop, but not their entry

    assert cache_of(discord.kernel).stats()["entries"] == 1  # kept for the guild that stored it
    assert footer_source(await discord.slash("ask", question=PASSWORD_PARAPHRASE)) == "cache"
    assert footer_source(await discord.slash("ask", question=PASSWORD, guild_id=OTHER_GUILD)) == "provider"


# -- re-asks, through kernel turns with a manual clock ------------------------------------------


async def clocked_kernel(make_kernel: Any, clock: ManualClock, minilm: Embedder, **cache: Any) -> Kernel:
    kernel: Kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)], settings=cache_settings(**cache)
    )
    return kernel


def turn(*, user: int = USER, channel: int = CHANNEL, guild: int = DEFAULT_GUILD) -> TurnContext:
    return TurnContext(guild_id=guild, channel_id=channel, user_id=user, frontend="discord")


async def vote_down(kernel: Kernel, answered: TurnContext, clock: ManualClock) -> None:
    """The asker's 👎 on ``answered``'s answer, as the front end records and announces it (without Discord)."""
    assert answered.request_id is not None
    await kernel.feedback.offer(
        answered.request_id, asker_id=USER, model="echo", guild_id=DEFAULT_GUILD, channel_id=CHANNEL, at=clock()
    )
    _, recorded = await kernel.vote(answered.request_id, USER, "down", at=clock())
    assert recorded is not None
    await kernel.announce_vote(recorded)


async def test_two_reasks_raise_the_threshold_and_one_does_not(
    make_kernel: Any, clock: ManualClock, minilm: Embedder
) -> None:
    kernel = await clocked_kernel(make_kernel, clock, minilm)
    await kernel.ask(EVENT, turn())
    assert (await kernel.ask(EVENT_PARAPHRASE, turn())).source is Source.CACHE
    clock.advance(30)
    once = await kernel.ask(EVENT_PARAPHRASE, turn())  # re-asked: half a 👎
    assert once.source is Source.CACHE
    assert cache_of(kernel).stats()["entries_with_learned_threshold"] == 0
    clock.advance(30)
    twice = await kernel.ask(EVENT_PARAPHRASE, turn())  # the second re-ask: one 👎, refused at once

    assert twice.source is Source.PROVIDER
    stats = cache_of(kernel).stats()
    assert stats["feedback_reask"] == 2 and stats["entries_with_learned_threshold"] == 1
    assert (await kernel.ask(EVENT, turn(user=USER + 1))).source is Source.CACHE  # its own question still hits


async def test_other_users_channels_guilds_late_or_unrelated_questions_are_not_reasks(
    make_kernel: Any, clock: ManualClock, minilm: Embedder
) -> None:
    kernel = await clocked_kernel(make_kernel, clock, minilm)
    await kernel.ask(EVENT, turn(guild=DEFAULT_GUILD))
    await kernel.ask(EVENT, turn(guild=OTHER_GUILD))
    for later, question in (
        (turn(user=USER + 1), EVENT_PARAPHRASE),
        (turn(channel=CHANNEL + 1), EVENT_PARAPHRASE),
        (turn(guild=OTHER_GUILD), EVENT_PARAPHRASE),
        (turn(), "Can you explain that in more detail?"),  # a follow-up, not a re-ask
    ):
        assert (await kernel.ask(EVENT_PARAPHRASE, turn())).source is Source.CACHE
        clock.advance(10)
        await kernel.ask(question, later)
        clock.advance(121)  # past the window: the next round starts afresh
    assert (await kernel.ask(EVENT_PARAPHRASE, turn())).source is Source.CACHE
    clock.advance(121)
    await kernel.ask(EVENT_PARAPHRASE, turn())  # the same question, too late

    cache = cache_of(kernel)
    assert cache.stats().get("feedback_reask", 0) == 0
    assert [row.reasked for row in await outcome_rows(kernel)] == [False] * len(await outcome_rows(kernel))
    clock.advance(10)
    await kernel.ask(EVENT_PARAPHRASE, turn())  # and now one that counts (the rule does fire here)
    assert cache.stats()["feedback_reask"] == 1


async def test_reask_window_zero_counts_no_reasks(make_kernel: Any, clock: ManualClock, minilm: Embedder) -> None:
    kernel = await clocked_kernel(make_kernel, clock, minilm, reask_window_seconds=0)
    await kernel.ask(EVENT, turn())
    for _ in range(4):
        assert (await kernel.ask(EVENT_PARAPHRASE, turn())).source is Source.CACHE
    assert cache_of(kernel).stats().get("feedback_reask", 0) == 0


# -- the database is the truth: restarts -----------------------------------------------------------


async def test_a_restart_keeps_what_feedback_taught(
    make_kernel: Any, clock: ManualClock, minilm: Embedder, tmp_path: Path
) -> None:
    settings = {"data_dir": str(tmp_path / "data"), **cache_settings()}

    async def start() -> Kernel:
        plugin = SemanticCachePlugin.configured(clock=clock, embedder=minilm)
        kernel: Kernel = await make_kernel(plugins=[plugin], settings=settings)
        return kernel

    kernel = await start()
    await kernel.ask(EVENT, turn())
    hit_turn = turn()
    assert (await kernel.ask(EVENT_PARAPHRASE, hit_turn)).source is Source.CACHE
    await vote_down(kernel, hit_turn, clock)
    await kernel.stop()

    reopened = await start()
    stats = cache_of(reopened).stats()
    assert stats["entries"] == 1 and stats["entries_with_learned_threshold"] == 1
    assert (await reopened.ask(EVENT_PARAPHRASE, turn(user=USER + 1))).source is Source.PROVIDER
    assert (await reopened.ask(EVENT, turn(user=USER + 1))).source is Source.CACHE


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def test_a_vote_taken_in_on_one_replica_reaches_the_other_through_the_change_feed(
    make_kernel: Any, clock: ManualClock, minilm: Embedder, tmp_path: Path, backend: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        else:
            url = await stack.enter_async_context(fresh_database())

        async def replica(name: str) -> Kernel:
            kernel: Kernel = await make_kernel(
                plugins=[SemanticCachePlugin.configured(clock=clock, embedder=minilm)],
                settings={"data_dir": str(tmp_path / name), "database_url": url, **cache_settings()},
            )
            stack.push_async_callback(kernel.stop)
            return kernel

        first, second = await replica("a"), await replica("b")
        await first.ask(EVENT, turn())
        await cache_of(second).apply_changes()
        assert (await second.ask(EVENT_PARAPHRASE, turn(user=USER + 1))).source is Source.CACHE
        hit_turn = turn()
        assert (await first.ask(EVENT_PARAPHRASE, hit_turn)).source is Source.CACHE
        await vote_down(first, hit_turn, clock)

        assert cache_of(second).stats()["entries_with_learned_threshold"] == 0  # not yet: it has not polled
        await cache_of(second).apply_changes()
        assert cache_of(second).stats()["entries_with_learned_threshold"] == 1
        assert (await second.ask(EVENT_PARAPHRASE, turn(user=USER + 2))).source is Source.PROVIDER
