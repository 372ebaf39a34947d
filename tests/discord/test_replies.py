"""Splitting, attaching and footers of answers (pure functions, no Discord), and the one "no mentions" definition."""

from __future__ import annotations

from pathlib import Path

import pytest

import intelbot.frontends.discord
from intelbot import LLMResponse, Source, Usage
from intelbot.frontends.discord.replies import MESSAGE_LIMIT, footer, render, split_text


def response(text: str, **fields) -> LLMResponse:
    values = {"model": "claude-haiku-4-5", "provider": "anthropic", "usage": Usage(120, 30), "cost_usd": 0.00027}
    values.update(fields)
    return LLMResponse(text=text, **values)


def test_short_text_is_one_piece() -> None:
    assert split_text("hello") == ["hello"]


def test_paragraph_boundary_is_preferred_to_sentence_boundaries() -> None:
    first = "A sentence. " * 50  # 600 chars with many sentence ends
    text = first.strip() + "\n\n" + "B" * 300
    assert split_text(text, limit=700) == [first.strip(), "B" * 300]


def test_sentence_boundary_when_no_paragraph_fits() -> None:
    text = "First sentence is here. Second one follows! Third?"
    assert split_text(text, limit=30) == ["First sentence is here.", "Second one follows! Third?"]


def test_word_boundary_then_hard_cut() -> None:
    assert split_text("alpha beta gamma", limit=11) == ["alpha beta", "gamma"]
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("size", [1999, 2000, 2001, 4500, 5999])
def test_rendered_parts_fit_discord_limit_and_keep_all_words(size: int) -> None:
    words = [f"w{i}" for i in range(size)]
    text = ""
    for word in words:
        if len(text) + len(word) + 1 > size:
            break
        text += word + " "
    parts = render(response(text), attach_after_chars=6000)
    assert all(len(part.content) <= MESSAGE_LIMIT for part in parts)
    assert all(part.attachment is None for part in parts)
    joined = " ".join(part.content for part in parts).rsplit("\n", 1)[0]
    assert joined.split() == text.split()
    assert parts[-1].content.endswith(footer(response(text)))


def test_footer_names_model_source_tokens_and_cost() -> None:
    expected = "-# claude-haiku-4-5 · anthropic · 120+30 tokens · $0.000270 · 812 ms"
    assert footer(response("x", latency_ms=812.4)) == expected
    cached = response("x", source=Source.CACHE, served_by="semantic_cache", cost_usd=0.0)
    assert footer(cached).startswith("-# claude-haiku-4-5 · cache · 120+30 tokens · $0.000000")


def test_long_answer_becomes_an_attachment() -> None:
    text = "z" * 7000
    [part] = render(response(text), attach_after_chars=6000)
    assert part.attachment is not None and part.attachment.filename == "answer.md"
    assert part.attachment.data == text.encode()
    assert "7,000 characters" in part.content


def test_no_mentions_has_one_definition() -> None:
    """Every module of the front end sends with ``replies.NO_MENTIONS``; none spells the mention flags itself."""
    package = Path(intelbot.frontends.discord.__file__).parent
    modules = sorted(package.rglob("*.py"))
    assert package / "replies.py" in modules and package / "bot.py" in modules
    for module in modules:
        if module == package / "replies.py":
            continue
        source = module.read_text(encoding="utf-8")
        for flag in ("mentions_everyone=", "user_mentions=", "role_mentions="):
            assert flag not in source, f"{module.relative_to(package)} passes {flag} instead of NO_MENTIONS"
