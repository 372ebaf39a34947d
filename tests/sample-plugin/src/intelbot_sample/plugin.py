"""Sync and async hooks that leave traces a test can check."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from intelbot import LLMRequest, LLMResponse, TurnContext, hookimpl

SEEN: list[str] = []


@dataclass
class SampleNote:
    """What this plugin noted about a turn (``ctx.state(SampleNote)``)."""

    text: str = ""


@hookimpl
def before_llm_call(request: LLMRequest, ctx: TurnContext) -> None:
    ctx.state(SampleNote).text = "before (sync)"
    SEEN.append(f"before:{request.prompt}")


@hookimpl
async def after_llm_call(request: LLMRequest, response: LLMResponse, ctx: TurnContext) -> None:
    await asyncio.sleep(0)
    response.metadata["sample"] = "after (async)"
    SEEN.append(f"after:{response.text}")


@hookimpl
def collect_stats() -> dict[str, int]:
    return {"seen": len(SEEN)}
