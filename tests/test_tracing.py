"""INTELBOT_TRACE_HOOKS=1 prints every hook call with its plugin, duration and result kind."""

from __future__ import annotations

import pytest

from intelbot import LLMRequest, TurnContext, hookimpl
from intelbot.testing.kernels import KernelFactory


class Traced:
    name = "traced"

    @hookimpl
    def before_llm_call(self, request: LLMRequest, ctx: TurnContext) -> None:
        return None


async def test_trace_lines_name_hook_plugin_duration_and_result(
    make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTELBOT_TRACE_HOOKS", "1")
    kernel = await make_kernel(plugins=[Traced()])
    await kernel.ask("trace me", TurnContext())
    lines = capsys.readouterr().err.splitlines()
    assert any(
        line.startswith("[intelbot trace] before_llm_call plugin=traced ") and line.endswith("-> None")
        for line in lines
    )
    assert any("register_providers plugin=builtin:echo" in line for line in lines)


async def test_no_trace_by_default(
    make_kernel: KernelFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("INTELBOT_TRACE_HOOKS", raising=False)
    kernel = await make_kernel(plugins=[Traced()])
    await kernel.ask("quiet", TurnContext())
    assert "[intelbot trace]" not in capsys.readouterr().err
