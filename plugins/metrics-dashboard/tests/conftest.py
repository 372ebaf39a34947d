"""Shared set-up of the dashboard tests: a kernel with the cache, the breaker and the dashboard, over loopback OpenAI.

The model ``primary`` is served by the loopback OpenAI server through the real SDK and
has list prices, so turns cost money. The semantic cache runs without an embedder
(exact matches), so a repeated question is a cache hit without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intelbot.contract import LLMResponse, Source, TurnContext
from intelbot.errors import IntelbotError
from intelbot.kernel import Kernel
from intelbot.testing.kernels import KernelFactory, loaded_plugin
from intelbot.testing.llm_servers import OpenAIServer, Status
from intelbot_metrics_dashboard.plugin import MetricsDashboardPlugin

MODEL = "primary"
GUILDS = (111_111_111_111_111_111, 222_222_222_222_222_222, 333_333_333_333_333_333)


def kernel_settings(openai_server: OpenAIServer, **dashboard: Any) -> dict[str, Any]:
    """Settings for a kernel whose default model is served by ``openai_server``; ``dashboard`` fills
    ``[plugins.metrics_dashboard]`` (port 0: a free port)."""
    return {
        "llm": {"default_model": MODEL, "max_attempts": 2, "timeout_seconds": 5.0, "turn_timeout_seconds": 10.0},
        "providers": {"openai": openai_server.provider_settings()},
        "models": {
            MODEL: {
                "provider": "openai",
                "api_model": "gpt-4o-mini",
                "input_per_mtok": 150.0,
                "output_per_mtok": 600.0,
                "context_window": 100000,
                "tier": "small",
            }
        },
        "embedding": {"backend": "none"},
        "plugins": {
            "circuit_breaker": {"retry": {"base_delay_seconds": 0.01, "max_delay_seconds": 0.02}},
            "metrics_dashboard": {"port": 0, **dashboard},
        },
    }


async def boot(
    make_kernel: KernelFactory, openai_server: OpenAIServer, **dashboard: Any
) -> tuple[Kernel, MetricsDashboardPlugin]:
    """A kernel with the cache, the breaker and the dashboard (by entry point) on a free loopback port."""
    kernel = await make_kernel(
        plugins=["semantic_cache", "circuit_breaker", "metrics_dashboard"],
        settings=kernel_settings(openai_server, **dashboard),
    )
    plugin = loaded_plugin(kernel, MetricsDashboardPlugin)
    assert plugin.url is not None, plugin.problem
    return kernel, plugin


@dataclass
class Workload:
    """What :func:`run_workload` did: turns answered, by source, and failed turns."""

    answered: int = 0
    cached: int = 0
    failed: int = 0
    cost_usd: float = 0.0


async def run_workload(
    kernel: Kernel, openai_server: OpenAIServer, *, distinct: int = 12, failures: int = 2
) -> Workload:
    """Varied turns: ``distinct`` questions from many users and channels in three guilds, each asked twice
    (the second time from another user: a cache hit), then ``failures`` turns the provider fails with 500.
    """
    done = Workload()

    async def turn(question: str, index: int) -> LLMResponse | None:
        ctx = TurnContext(
            guild_id=GUILDS[index % len(GUILDS)], channel_id=10_000 + index, user_id=900_000 + index, frontend="test"
        )
        try:
            response = await kernel.ask(question, ctx)
        except IntelbotError:
            done.failed += 1
            return None
        done.answered += 1
        done.cached += response.source is Source.CACHE
        done.cost_usd += response.cost_usd
        return response

    for index in range(distinct):
        question = f"question number {index}: what is {index} squared, user {index}?"
        await turn(question, index)
        await turn(question, index + len(GUILDS))  # same guild, another user and channel
    for index in range(failures):
        openai_server.script(Status(500), Status(500))
        await turn(f"a question the provider fails {index}", index)
    return done
