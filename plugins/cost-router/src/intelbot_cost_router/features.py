"""Cheap text features of a prompt, and the content type detected from them.

Everything here is pure Python on the prompt text (no model, no I/O) and takes a few
microseconds: it runs on every routed turn. :func:`text_features` returns the numbers
the learned router sees besides the embedding; :func:`content_type` names the kind of
prompt (``code``, ``math``, ``creative`` or ``chat``) for per-type quality targets.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class ContentType(StrEnum):
    """What a prompt is mostly about; ``content_thresholds`` may give each its own quality target."""

    CODE = "code"
    MATH = "math"
    CREATIVE = "creative"
    CHAT = "chat"


_CODE_FENCE = re.compile(r"```|~~~")
_CODE_TOKENS = re.compile(
    r"\b(def|class|return|import|function|const|let|var|public|static|void|#include|printf|println|lambda|"
    r"SELECT|INSERT|UPDATE|FROM|WHERE)\b|[{};]\s*$|=>|->|::|\b\w+\([^()]*\)",
    re.MULTILINE,
)
_CODE_WORDS = re.compile(
    r"\b(code|program|function|python|javascript|java|c\+\+|rust|sql|regex|bug|compile|algorithm|implement|"
    r"script|api|html|css)\b",
    re.IGNORECASE,
)
_MATH_SYMBOLS = re.compile(r"[=+\-*/^%<>≤≥√∑∫π]|\\frac|\\sqrt|\$[^$]+\$")
_MATH_WORDS = re.compile(
    r"\b(calculate|compute|solve|equation|sum|total|how many|how much|percent|percentage|probability|integral|"
    r"derivative|prove|theorem|average|ratio|fraction|square|root|multiply|divide|remainder|minutes|hours|"
    r"dollars|cost|price)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CREATIVE_WORDS = re.compile(
    r"\b(write|compose|poem|story|essay|song|lyrics|blog|imagine|pretend|role-?play|character|creative|slogan|"
    r"draft|rewrite|email|letter|persuasive)\b",
    re.IGNORECASE,
)
_REASONING_WORDS = re.compile(
    r"\b(why|explain|step|steps|reason|compare|analy[sz]e|evaluate|justify|derive|plan|design|trade-?offs?|"
    r"first|then|finally|each|every|if|unless|assume)\b",
    re.IGNORECASE,
)
_CHOICES = re.compile(r"^\s*\(?[A-D][.)]\s", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "log_sentences",
    "mean_word_length",
    "digit_share",
    "log_numbers",
    "math_symbols_per_word",
    "math_words_per_word",
    "code_fence",
    "code_tokens_per_line",
    "code_words",
    "creative_words",
    "reasoning_words_per_word",
    "question_marks",
    "multiple_choice",
    "non_ascii_share",
    "non_latin_share",
    "log_depth",
)
"""The order of the numbers :func:`text_features` returns (stored in the router file)."""


@dataclass(frozen=True, slots=True)
class PromptFacts:
    """The counts the features and the content type are made of (one pass over the text)."""

    chars: int
    words: int
    lines: int
    sentences: int
    letters: int
    digits: int
    numbers: int
    math_symbols: int
    math_words: int
    code_fence: bool
    code_tokens: int
    code_words: int
    creative_words: int
    reasoning_words: int
    question_marks: int
    choices: int
    non_ascii: int
    non_latin_letters: int
    depth: int


def prompt_facts(text: str, depth: int = 0) -> PromptFacts:
    """Count what the features need in ``text``; ``depth`` is the number of earlier turns in the conversation."""
    words = text.split()
    letters = sum(1 for char in text if char.isalpha())
    non_latin = sum(1 for char in text if char.isalpha() and ord(char) > 0x24F)
    return PromptFacts(
        chars=len(text),
        words=len(words),
        lines=text.count("\n") + 1 if text else 0,
        sentences=len(_SENTENCE_END.findall(text)),
        letters=letters,
        digits=sum(1 for char in text if char.isdigit()),
        numbers=len(_NUMBER.findall(text)),
        math_symbols=len(_MATH_SYMBOLS.findall(text)),
        math_words=len(_MATH_WORDS.findall(text)),
        code_fence=bool(_CODE_FENCE.search(text)),
        code_tokens=len(_CODE_TOKENS.findall(text)),
        code_words=len(_CODE_WORDS.findall(text)),
        creative_words=len(_CREATIVE_WORDS.findall(text)),
        reasoning_words=len(_REASONING_WORDS.findall(text)),
        question_marks=text.count("?"),
        choices=len(_CHOICES.findall(text)),
        non_ascii=sum(1 for char in text if ord(char) > 127),
        non_latin_letters=non_latin,
        depth=max(0, depth),
    )


def features_of(facts: PromptFacts) -> list[float]:
    """The feature values of :data:`FEATURE_NAMES`, in that order (all finite, roughly of unit scale)."""
    words = max(facts.words, 1)
    lines = max(facts.lines, 1)
    chars = max(facts.chars, 1)
    return [
        math.log1p(facts.chars),
        math.log1p(facts.words),
        math.log1p(facts.lines),
        math.log1p(facts.sentences),
        min(facts.letters / words, 20.0) / 10.0,
        facts.digits / chars,
        math.log1p(facts.numbers),
        min(facts.math_symbols / words, 5.0),
        min(facts.math_words / words, 5.0),
        1.0 if facts.code_fence else 0.0,
        min(facts.code_tokens / lines, 5.0),
        math.log1p(facts.code_words),
        math.log1p(facts.creative_words),
        min(facts.reasoning_words / words, 5.0),
        math.log1p(facts.question_marks),
        1.0 if facts.choices >= 2 else 0.0,
        facts.non_ascii / chars,
        facts.non_latin_letters / max(facts.letters, 1),
        math.log1p(facts.depth),
    ]


def text_features(text: str, depth: int = 0) -> npt.NDArray[np.float64]:
    """The text features of ``text`` as a float64 vector in :data:`FEATURE_NAMES` order."""
    return np.asarray(features_of(prompt_facts(text, depth)), dtype=np.float64)


def content_type_of(facts: PromptFacts) -> ContentType:
    """The prompt's content type, by the first rule that holds.

    - ``code``: a code fence, or code-looking lines (two or more code tokens per
      line on average) or two or more programming words;
    - ``math``: numbers with arithmetic (two or more numbers, and a math word or symbol),
      or two or more math words;
    - ``creative``: a writing verb or form ("write", "poem", "story", "email", ...);
    - ``chat``: anything else.
    """
    lines = max(facts.lines, 1)
    if facts.code_fence or facts.code_tokens / lines >= 2.0 or facts.code_words >= 2:
        return ContentType.CODE
    if (facts.numbers >= 2 and (facts.math_words + facts.math_symbols) >= 1) or facts.math_words >= 2:
        return ContentType.MATH
    if facts.creative_words >= 1:
        return ContentType.CREATIVE
    return ContentType.CHAT


def content_type(text: str, depth: int = 0) -> ContentType:
    """:func:`content_type_of` for ``text``."""
    return content_type_of(prompt_facts(text, depth))
