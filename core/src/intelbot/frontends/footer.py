"""The one-line footer shown under every answer, in the console and in Discord."""

from __future__ import annotations

from intelbot.contract import LLMResponse, Source


def describe(response: LLMResponse) -> str:
    """``model · source · tokens · cost · latency``; a cache hit names what it saved.

    Plugins may add short notes (``response.metadata["footer_notes"]``, a list of
    strings, such as how many memories a turn used); they are appended in order.
    """
    source = "cache" if response.source is Source.CACHE else response.served_by or response.provider
    tokens = f"{response.usage.input_tokens}+{response.usage.output_tokens} tokens"
    parts = [response.model, source, tokens, f"${response.cost_usd:.6f}", f"{response.latency_ms:.0f} ms"]
    saved = response.metadata.get("saved_usd")
    if response.source is Source.CACHE and isinstance(saved, int | float):
        parts.append(f"saved ${saved:.6f}")
    notes = response.metadata.get("footer_notes")
    if isinstance(notes, list):
        parts.extend(str(note) for note in notes)
    return " · ".join(parts)
