"""Real kernel turns: the router picks the tier, leaves pinned models alone, and yields to caches and the breaker."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intelbot import TurnContext
from intelbot.contract import Source
from intelbot.embedding import Embedder, EmbedderBase
from intelbot.frontends.console import answer_line
from intelbot.kernel import Kernel
from intelbot.settings import load_settings
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import AnthropicServer, OpenAIServer, Reply, Status
from intelbot_circuit_breaker.plugin import CircuitBreakerPlugin
from intelbot_cost_router.budget import BudgetCurve
from intelbot_cost_router.outcomes import read_outcomes
from intelbot_cost_router.plugin import CostRouterPlugin
from intelbot_cost_router.router_file import save_router
from intelbot_cost_router.settings import RouterSettings
from intelbot_cost_router.training import train_router, training_data
from intelbot_semantic_cache.plugin import SemanticCachePlugin

from .conftest import catalog, word_problem

SHORT = "What is the capital of Italy?"


def long_prompt() -> str:
    import random

    return word_problem(random.Random(99))


def text_router(outcome_file: Path, tmp_path: Path) -> Path:
    """A text-features-only router trained on the test's outcome file, saved; returns its path."""
    rows = read_outcomes(outcome_file)
    router = train_router(training_data(rows, None), embedder="")
    path = tmp_path / "router.json"
    save_router(router, path, trained_on=[str(outcome_file)])
    return path


def copy_repository_settings(directory: Path) -> None:
    """The repository's settings.toml (with the router's flag as shipped) into ``directory``."""
    source = Path(__file__).resolve().parents[3] / "settings.toml"
    (directory / "settings.toml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")


def settings_with(router_file: Path | None = None, **router: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"enabled": True, **router}
    if router_file is not None:
        table["router_file"] = str(router_file)
    return {**catalog(), "llm": {"default_model": "echo-small"}, "plugins": {"cost_router": table}}


def metric(kernel: Kernel, name: str, labels: dict[str, str] | None = None) -> float:
    return kernel.metrics.get_sample_value(name, labels or {}) or 0.0


async def test_trained_router_sends_short_facts_to_small_and_long_problems_to_large(
    make_kernel: KernelFactory, outcome_file: Path, tmp_path: Path
) -> None:
    path = text_router(outcome_file, tmp_path)
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(path))
    plugin = loaded_plugin(kernel, CostRouterPlugin)
    assert plugin.rule is not None and plugin.rule.kind == "learned"

    short = await kernel.ask(SHORT, TurnContext(guild_id=5))
    long = await kernel.ask(long_prompt(), TurnContext(guild_id=5))
    assert (short.model, long.model) == ("echo-small", "echo-large")

    assert metric(kernel, "intelbot_router_decisions_total", {"tier": "small"}) == 1
    assert metric(kernel, "intelbot_router_decisions_total", {"tier": "large"}) == 1
    assert metric(kernel, "intelbot_router_decision_seconds_count") == 2
    assert plugin.store is not None
    decisions = await plugin.store.decisions()
    assert [(d.tier, d.model, d.rule, d.guild_id) for d in decisions] == [
        ("small", "echo-small", "learned", 5),
        ("large", "echo-large", "learned", 5),
    ]
    small, large = decisions
    assert small.estimate < small.threshold <= large.estimate
    # the small answer would have cost ten times as much on the large model (prices 1/2 against 10/30)
    assert small.strong_cost_usd > small.cost_usd > 0
    assert small.saved_usd == pytest.approx(small.strong_cost_usd - small.cost_usd)
    assert large.saved_usd == 0
    assert metric(kernel, "intelbot_router_saved_usd_total") == pytest.approx(small.saved_usd)
    stats = (await kernel.stats())["cost_router"]
    assert (stats["decisions"], stats["small_turns"], stats["large_turns"]) == (2, 1, 1)
    assert stats["saved_usd"] == pytest.approx(round(small.saved_usd, 6))


async def test_a_named_model_is_never_rerouted(make_kernel: KernelFactory, outcome_file: Path, tmp_path: Path) -> None:
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(text_router(outcome_file, tmp_path)))
    pinned_small = await kernel.ask(long_prompt(), TurnContext(), model="echo-small")
    pinned_default = await kernel.ask(long_prompt(), TurnContext(), model="echo")
    assert (pinned_small.model, pinned_default.model) == ("echo-small", "echo")
    assert metric(kernel, "intelbot_router_decisions_total", {"tier": "large"}) == 0
    plugin = loaded_plugin(kernel, CostRouterPlugin)
    assert plugin.store is not None and await plugin.store.decisions() == []


async def test_a_requested_tier_is_served_by_that_tiers_model(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with())
    response = await kernel.ask(SHORT, TurnContext(), tier="large")
    assert response.model == "echo-large"


async def test_flag_off_leaves_every_turn_on_the_default_model(
    tmp_path: Path, outcome_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = text_router(outcome_file, tmp_path)
    copy_repository_settings(tmp_path)
    monkeypatch.delenv("INTELBOT_LOAD_PLUGINS", raising=False)
    overrides = settings_with(path)
    overrides["plugins"]["cost_router"]["enabled"] = False
    overrides["data_dir"] = str(tmp_path / "data")
    overrides["plugins"]["semantic_cache"] = {
        "enabled": False
    }  # the second kernel must not be served the first's answers
    kernel = await Kernel.start(load_settings(tmp_path, overrides=overrides))
    try:
        assert kernel.plugin("cost_router", CostRouterPlugin) is None
        answers = [await kernel.ask(prompt, TurnContext()) for prompt in (SHORT, long_prompt())]
        assert [answer.model for answer in answers] == ["echo-small", "echo-small"]
    finally:
        await kernel.stop()
    overrides["plugins"]["cost_router"]["enabled"] = True
    kernel = await Kernel.start(load_settings(tmp_path, overrides=overrides))
    try:  # the same settings with the flag on do route: the flag is what kept the model
        assert (await kernel.ask(long_prompt(), TurnContext())).model == "echo-large"
    finally:
        await kernel.stop()


async def test_untrained_router_uses_the_default_rule(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(default_threshold=0.7))
    plugin = loaded_plugin(kernel, CostRouterPlugin)
    assert plugin.rule is not None and plugin.rule.kind == "default"
    assert (await kernel.ask(SHORT, TurnContext())).model == "echo-small"
    assert (await kernel.ask(long_prompt(), TurnContext())).model == "echo-large"
    assert any("default text-only rule" in line for line in await kernel.health())


async def test_a_broken_router_file_named_in_settings_stops_startup(make_kernel: KernelFactory, tmp_path: Path) -> None:
    bad = tmp_path / "router.json"
    bad.write_text(json.dumps({"format": 1, "model": {}}), encoding="utf-8")
    from intelbot.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as raised:
        await make_kernel(plugins=["cost_router"], settings=settings_with(bad))
    assert "plugins.cost_router.router_file" in str(raised.value) and str(bad) in str(raised.value)


def breaker_settings(
    openai_server: OpenAIServer, anthropic_server: AnthropicServer, router_file: Path
) -> dict[str, Any]:
    return {
        "llm": {"default_model": "openai-small", "max_attempts": 4, "timeout_seconds": 5.0},
        "providers": {"openai": openai_server.provider_settings(), "anthropic": anthropic_server.provider_settings()},
        "models": {
            "openai-small": {"provider": "openai", "api_model": "gpt-4o-mini", "tier": "small"},
            "openai-large": {"provider": "openai", "api_model": "gpt-4.1", "tier": "large", "input_per_mtok": 2.0},
            "anthropic-large": {
                "provider": "anthropic",
                "api_model": "claude-sonnet-4-5",
                "tier": "large",
                "input_per_mtok": 3.0,
            },
        },
        "plugins": {
            "cost_router": {"enabled": True, "router_file": str(router_file)},
            "circuit_breaker": {
                "breaker": {"window_size": 4, "minimum_calls": 2, "wait_in_open_seconds": 30.0},
                "retry": {"base_delay_seconds": 0.01, "max_delay_seconds": 0.05, "retries_per_model": 1},
                "fallbacks": {"openai-large": ["anthropic-large"]},
                "tier_fallbacks": {},
            },
        },
    }


async def test_the_breaker_keeps_the_last_word_on_the_routed_model(
    make_kernel: KernelFactory,
    openai_server: OpenAIServer,
    anthropic_server: AnthropicServer,
    outcome_file: Path,
    tmp_path: Path,
) -> None:
    path = text_router(outcome_file, tmp_path)
    kernel = await make_kernel(
        plugins=["cost_router", "circuit_breaker"], settings=breaker_settings(openai_server, anthropic_server, path)
    )
    breaker = loaded_plugin(kernel, CircuitBreakerPlugin)
    openai_server.fail_all(Status(500))
    first = await kernel.ask(long_prompt(), TurnContext())  # routed to openai-large, which fails: fallback
    assert (first.model, first.provider) == ("anthropic-large", "anthropic")
    assert breaker.breakers is not None
    assert (await breaker.breakers.view("openai/openai-large")).rejecting
    requests_so_far = len(openai_server.requests)

    second = await kernel.ask(long_prompt(), TurnContext())  # the router still says openai-large; the breaker wins
    assert (second.model, second.provider) == ("anthropic-large", "anthropic")
    assert len(openai_server.requests) == requests_so_far
    router = loaded_plugin(kernel, CostRouterPlugin)
    assert router.store is not None
    assert [(d.tier, d.model) for d in await router.store.decisions()] == [("large", "anthropic-large")] * 2
    openai_server.recover()
    openai_server.script(Reply("a cheap answer"))
    assert (await kernel.ask(SHORT, TurnContext())).model == "openai-small"


class CountingEmbedder(EmbedderBase):
    """The real MiniLM behind a counter of the texts it is asked to embed (its own LRU off)."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(lru_size=0)
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.texts: list[str] = []

    async def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.asarray(await self.inner.embed(texts))


async def test_a_cache_hit_skips_the_router_and_a_miss_is_embedded_once(
    make_kernel: KernelFactory, minilm: Embedder, outcome_file: Path, tmp_path: Path
) -> None:
    rows = read_outcomes(outcome_file)
    vectors = np.asarray(await minilm.embed([row.prompt for row in rows]), dtype=np.float64)
    router = train_router(
        training_data(rows, vectors), embedder=minilm.name, candidates=[c for c in _embedding_candidates()]
    )
    assert router.model.uses_embedding
    path = tmp_path / "router.json"
    save_router(router, path, trained_on=["test"])
    counting = CountingEmbedder(minilm)
    kernel = await make_kernel(
        plugins=[SemanticCachePlugin.configured(embedder=counting), CostRouterPlugin.configured(embedder=counting)],
        settings={**settings_with(path), "plugins": {"cost_router": {"router_file": str(path)}}},
    )
    first = await kernel.ask(long_prompt(), TurnContext())
    assert first.source is Source.PROVIDER and first.model == "echo-large"
    assert len(counting.texts) == 1  # the cache embedded the prompt; the router reused that vector
    again = await kernel.ask(long_prompt(), TurnContext())
    assert again.source is Source.CACHE
    assert metric(kernel, "intelbot_router_decisions_total", {"tier": "large"}) == 1  # the hit never reached it
    assert metric(kernel, "intelbot_router_decision_seconds_count") == 1


def _embedding_candidates() -> list[Any]:
    from intelbot_cost_router.training import CANDIDATES

    return [candidate for candidate in CANDIDATES if candidate.embedding]


def test_the_budget_curve_as_documented() -> None:
    curve = BudgetCurve(quality_target=0.95, start=0.5, floor=0.75)

    assert [round(curve.target_at(share), 4) for share in (0.0, 0.5, 0.75, 1.0, 3.0)] == [0.95, 0.95, 0.85, 0.75, 0.75]


async def spend_then_route(make_kernel: KernelFactory, path: Path, **router: Any) -> list[str]:
    """Models of two long problems in one guild whose tiny daily cap the first answer exhausts."""
    settings = {**settings_with(path, **router), "discord": {"daily_guild_cap_usd": 1e-6}}
    kernel = await make_kernel(plugins=["cost_router"], settings=settings)
    first = await kernel.ask(long_prompt(), TurnContext(guild_id=5))
    second = await kernel.ask(long_prompt(), TurnContext(guild_id=5))
    elsewhere = await kernel.ask(long_prompt(), TurnContext(guild_id=6))
    return [first.model, second.model, elsewhere.model]


async def test_budget_lowering_moves_a_guild_at_its_cap_to_the_cheap_tier(
    make_kernel: KernelFactory, outcome_file: Path, tmp_path: Path
) -> None:
    path = text_router(outcome_file, tmp_path)

    lowered = await spend_then_route(make_kernel, path, budget_lowering=True, budget_floor=0.5)
    unchanged = await spend_then_route(make_kernel, path)  # off by default

    # at 50% of the strong tier's quality the cheap tier everywhere is enough (weak quality is 0.5)
    assert lowered == ["echo-large", "echo-small", "echo-large"]
    assert unchanged == ["echo-large", "echo-large", "echo-large"]


async def test_budget_lowering_without_a_cap_says_so(
    make_kernel: KernelFactory, outcome_file: Path, tmp_path: Path
) -> None:
    kernel = await make_kernel(
        plugins=["cost_router"], settings=settings_with(text_router(outcome_file, tmp_path), budget_lowering=True)
    )

    assert "cost router: budget_lowering is on but discord.daily_guild_cap_usd is 0; nothing to lower" in (
        await kernel.health()
    )


def test_a_budget_floor_above_the_target_is_refused() -> None:
    with pytest.raises(ValueError, match=r"budget_floor \(0.99\) must not be above quality_target \(0.95\)"):
        RouterSettings.model_validate({"budget_floor": 0.99})


async def test_the_console_usage_command_shows_the_routed_turns(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(plugins=["cost_router"], settings=settings_with(default_threshold=0.7))
    out = io.StringIO()
    await answer_line(kernel, SHORT, out)
    await answer_line(kernel, long_prompt(), out)
    before = len(out.getvalue().splitlines())
    await answer_line(kernel, "/usage", out)
    report = out.getvalue().splitlines()[before:]
    assert report[0].startswith("You (all servers and DMs), today: ")
    assert report[0].endswith("(2 calls)")
    assert [line for line in report if line.startswith("Routing today: 2 turns (1 small, 1 large)")], report
