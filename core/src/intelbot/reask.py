"""The re-ask rule: when a later question asks again what an earlier answer was for.

A user who asks the same thing again right after an answer is telling the bot the
answer did not do. The semantic cache (against a hit it served) and the cost router
(against a routed answer) both count this as evidence; this module is the one place
that says when two questions are "the same": equal :func:`exact_text`, or, when both
have a vector from the same embedder, a cosine of at least :data:`REASK_MIN_COSINE`.
Who asked and how soon (same user, channel and guild, within each plugin's
``reask_window_seconds``) is checked by the caller, which knows where its earlier
answers are kept.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

REASK_MIN_COSINE: Final = 0.8
"""A later question counts as a re-ask when its cosine with the earlier question reaches this
(a follow-up on another subject is not evidence against the answer)."""


def exact_text(text: str) -> str:
    """The text two questions are compared by: lower case, whitespace collapsed, end punctuation dropped.

    Gentle on purpose: "What is C++?" and "What is C?" must not be the same question.
    """
    return " ".join(text.lower().split()).rstrip(" ?!.")


def asks_again(prompt: str, earlier: str, vector: Any = None, earlier_vector: Any = None) -> bool:
    """True when ``prompt`` asks what ``earlier`` asked: the same :func:`exact_text`, or cosine >= REASK_MIN_COSINE.

    ``vector`` and ``earlier_vector`` are unit-length embeddings of the two questions by
    the same embedder (the caller checks that); either None means text only.
    """
    if exact_text(prompt) == exact_text(earlier):
        return True
    if vector is None or earlier_vector is None:
        return False
    a = np.asarray(vector, dtype=np.float32).reshape(-1)
    b = np.asarray(earlier_vector, dtype=np.float32).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"vectors of different sizes ({a.shape[0]} and {b.shape[0]}): not from one embedder")
    return float(a @ b) >= REASK_MIN_COSINE
