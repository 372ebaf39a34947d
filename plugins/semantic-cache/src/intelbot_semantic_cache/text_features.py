"""Cheap features of a pair of question texts, for the learned match rule.

Two questions can be close in embedding space and still ask different things: a
different number ("in 2016" / "in 2017"), a negation ("can" / "can't"), another
question word ("how" / "why"), another name. Each feature below looks at one of
these, from the texts alone, in microseconds; :data:`TEXT_FEATURES` names the
columns of :func:`text_features` in order.

A question is read once into a :class:`QuestionText` (tokens, numbers, ...) so a
stored question's parse can be reused against many queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TEXT_FEATURES: tuple[str, ...] = (
    "token_jaccard",  # shared words / all words (lower case)
    "token_containment",  # shared words / words of the shorter question
    "char3_jaccard",  # shared character trigrams / all trigrams
    "length_ratio",  # shorter / longer, in characters
    "word_count_difference",  # |words(a) - words(b)|
    "content_words_only_one_side",  # non-stopwords found in one question only
    "numbers_differ",  # 1 when the sets of numbers differ
    "numbers_only_one_side",  # numbers found in one question only
    "negation_differs",  # 1 when one question is negated and the other not
    "question_word_differs",  # 1 when the leading question words (how, why, ...) differ
    "question_words_only_one_side",  # question words found in one question only
    "names_only_one_side",  # capitalised words (not sentence-initial) found in one question only
    "first_word_same",  # 1 when both start with the same word
    "last_word_same",  # 1 when both end with the same word
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_RAW_WORD = re.compile(r"[A-Za-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
QUESTION_WORDS = frozenset(
    {"how", "why", "what", "which", "who", "whom", "whose", "when", "where", "whether", "can", "should", "is", "are",
     "do", "does", "did", "will", "would", "could"}
)  # fmt: skip
WH_WORDS = frozenset({"how", "why", "what", "which", "who", "whom", "whose", "when", "where", "whether"})
NEGATIONS = frozenset({"not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot"})
STOPWORDS = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be", "been", "do",
     "does", "did", "i", "my", "me", "you", "your", "it", "its", "this", "that", "with", "at", "by", "from", "as",
     "can", "should", "would", "will", "could", "there", "any", "some", "best", "way", "ways", "get", "what", "how",
     "why", "which", "who", "when", "where", "if", "one", "much", "many", "about", "we", "us", "our", "they", "he",
     "she", "his", "her", "their", "so", "have", "has", "had", "into", "than", "then", "good", "like", "s"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QuestionText:
    """What the features need from one question, computed once."""

    words: tuple[str, ...]
    word_set: frozenset[str]
    content: frozenset[str]
    trigrams: frozenset[str]
    numbers: frozenset[str]
    negated: bool
    question_words: frozenset[str]
    leading_question_word: str
    names: frozenset[str]
    length: int

    @classmethod
    def parse(cls, text: str) -> QuestionText:
        lowered = text.lower()
        words = tuple(_WORD.findall(lowered))
        squeezed = " ".join(words)
        negations = sum(word in NEGATIONS or word.endswith("n't") for word in words)
        leading = next((word for word in words if word in WH_WORDS), "")
        return cls(
            words=words,
            word_set=frozenset(words),
            content=frozenset(word for word in words if word not in STOPWORDS),
            trigrams=frozenset(squeezed[i : i + 3] for i in range(max(0, len(squeezed) - 2))),
            numbers=frozenset(number.replace(",", "") for number in _NUMBER.findall(text)),
            negated=negations % 2 == 1,
            question_words=frozenset(word for word in words if word in QUESTION_WORDS),
            leading_question_word=leading,
            names=frozenset(word.lower() for word in _RAW_WORD.findall(text)[1:] if word[0].isupper() and word != "I"),
            length=len(text.strip()),
        )


def _jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    union = len(first | second)
    return len(first & second) / union if union else 1.0


def pair_text_features(query: QuestionText, candidate: QuestionText) -> list[float]:
    """One row of :data:`TEXT_FEATURES` for a pair (symmetric in its two questions)."""
    shorter = min(len(query.word_set), len(candidate.word_set))
    longest = max(query.length, candidate.length)
    return [
        _jaccard(query.word_set, candidate.word_set),
        len(query.word_set & candidate.word_set) / shorter if shorter else 1.0,
        _jaccard(query.trigrams, candidate.trigrams),
        min(query.length, candidate.length) / longest if longest else 1.0,
        float(abs(len(query.words) - len(candidate.words))),
        float(len(query.content ^ candidate.content)),
        float(query.numbers != candidate.numbers),
        float(len(query.numbers ^ candidate.numbers)),
        float(query.negated != candidate.negated),
        float(query.leading_question_word != candidate.leading_question_word),
        float(len(query.question_words ^ candidate.question_words)),
        float(len(query.names ^ candidate.names)),
        float(bool(query.words) and bool(candidate.words) and query.words[0] == candidate.words[0]),
        float(bool(query.words) and bool(candidate.words) and query.words[-1] == candidate.words[-1]),
    ]


def text_features(query: QuestionText, candidates: Sequence[QuestionText]) -> npt.NDArray[np.float64]:
    """A (len(candidates), len(TEXT_FEATURES)) matrix: the query against each candidate."""
    if not candidates:
        return np.zeros((0, len(TEXT_FEATURES)))
    return np.asarray([pair_text_features(query, candidate) for candidate in candidates], dtype=np.float64)
