"""Cost and quality of routing by an estimate, and the threshold that meets a quality target.

All functions take, per prompt, the router's ``estimates`` (higher means "send to the
strong tier"), and the outcomes ``strong`` and ``weak`` (quality of each tier's answer,
on the file's own scale, higher is better). Routing the prompts whose estimate is at or
above a threshold to the strong tier gives a *strong share* (the cost) and a *mean
quality* (the value).

``strong_share_at_target`` is RouteLLM's "calls to GPT-4 needed for 95% of GPT-4
quality": the smallest share of prompts, taken in order of decreasing estimate, whose
routing reaches ``target`` times the strong tier's mean quality. Prompts with equal
estimates cannot be told apart by the router, so within a group of ties the share is
interpolated linearly: that is the expected quality when ties are broken at random,
and it keeps a router that gives every prompt the same estimate exactly as good as
random routing (no credit for the order the rows happen to be in).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _arrays(
    estimates: Sequence[float] | FloatArray, strong: Sequence[float] | FloatArray, weak: Sequence[float] | FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    e = np.asarray(estimates, dtype=np.float64)
    s = np.asarray(strong, dtype=np.float64)
    w = np.asarray(weak, dtype=np.float64)
    if not (e.shape == s.shape == w.shape) or e.ndim != 1:
        raise ValueError(f"estimates, strong and weak must be 1-d of one length, got {e.shape}, {s.shape}, {w.shape}")
    if e.size == 0:
        raise ValueError("no rows to evaluate")
    return e, s, w


@dataclass(frozen=True, slots=True)
class Curve:
    """Quality against strong share at the boundaries of the groups of equal estimates.

    ``shares[i]`` and ``qualities[i]`` are the strong share and mean quality when the
    ``i`` groups of highest estimate go to the strong tier; ``thresholds[i]`` is the
    estimate of the last group included (``thresholds[0]`` is above every estimate).
    Between two points the quality is linear in the share (ties broken at random).
    """

    shares: FloatArray
    qualities: FloatArray
    thresholds: FloatArray


def routing_curve(
    estimates: Sequence[float] | FloatArray, strong: Sequence[float] | FloatArray, weak: Sequence[float] | FloatArray
) -> Curve:
    """The :class:`Curve` of routing by ``estimates``."""
    e, s, w = _arrays(estimates, strong, weak)
    n = e.size
    order = np.argsort(-e, kind="stable")
    e_sorted = e[order]
    gain = (s - w)[order]
    cumulative = np.concatenate([[0.0], np.cumsum(gain)])
    # group boundaries: positions where the estimate changes, plus the end
    boundaries = np.concatenate([[0], np.flatnonzero(np.diff(e_sorted) != 0) + 1, [n]])
    base = float(w.sum())
    shares = boundaries / n
    qualities = (base + cumulative[boundaries]) / n
    above = float(e_sorted[0]) + max(1e-9, abs(float(e_sorted[0])) * 1e-9)
    thresholds = np.concatenate([[above], e_sorted[boundaries[1:] - 1]])
    return Curve(shares.astype(np.float64), qualities.astype(np.float64), thresholds.astype(np.float64))


def share_for_quality(curve: Curve, needed: float) -> float:
    """The smallest strong share on ``curve`` whose (interpolated) quality reaches ``needed``; 1.0 if none."""
    q = curve.qualities
    tolerance = 1e-12 * max(1.0, abs(needed))
    if q[0] >= needed - tolerance:
        return 0.0
    for i in range(1, q.size):
        if q[i] >= needed - tolerance:
            low, high = q[i - 1], q[i]
            fraction = (needed - low) / (high - low) if high > low else 1.0
            return float(curve.shares[i - 1] + fraction * (curve.shares[i] - curve.shares[i - 1]))
    return 1.0


def strong_share_at_target(
    estimates: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    target: float,
) -> float:
    """Smallest strong share (routing by decreasing estimate) reaching ``target`` x the strong tier's mean quality."""
    curve = routing_curve(estimates, strong, weak)
    return share_for_quality(curve, target * float(np.mean(np.asarray(strong, dtype=np.float64))))


def random_strong_share_at_target(
    strong: Sequence[float] | FloatArray, weak: Sequence[float] | FloatArray, target: float
) -> float:
    """The same for random routing: expected quality is linear in the share, from the weak mean to the strong mean."""
    s = float(np.mean(np.asarray(strong, dtype=np.float64)))
    w = float(np.mean(np.asarray(weak, dtype=np.float64)))
    needed = target * s
    if w >= needed:
        return 0.0
    if s <= w:
        return 1.0
    return float(min(1.0, (needed - w) / (s - w)))


def oracle_strong_share_at_target(
    strong: Sequence[float] | FloatArray, weak: Sequence[float] | FloatArray, target: float
) -> float:
    """The same for the oracle, which knows each prompt's outcomes and routes by the true gain."""
    s = np.asarray(strong, dtype=np.float64)
    w = np.asarray(weak, dtype=np.float64)
    return strong_share_at_target(s - w, s, w, target)


@dataclass(frozen=True, slots=True)
class Calibrated:
    """A threshold and what it gave on the rows it was chosen on."""

    threshold: float
    strong_share: float
    quality: float
    needed_quality: float


def threshold_for_target(
    estimates: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    target: float,
) -> Calibrated:
    """The highest threshold (fewest strong calls) whose routing of whole groups reaches ``target``.

    A prompt goes to the strong tier when its estimate is ``>= threshold``. Ties are
    never split: a threshold takes a whole group of equal estimates, so the quality
    reported is what the threshold delivers on these rows, not an interpolation.
    When even the strong tier everywhere misses the target the lowest estimate is
    returned (everything to the strong tier).
    """
    curve = routing_curve(estimates, strong, weak)
    needed = target * float(np.mean(np.asarray(strong, dtype=np.float64)))
    tolerance = 1e-12 * max(1.0, abs(needed))
    for i in range(curve.qualities.size):
        if curve.qualities[i] >= needed - tolerance:
            return Calibrated(float(curve.thresholds[i]), float(curve.shares[i]), float(curve.qualities[i]), needed)
    last = curve.qualities.size - 1
    return Calibrated(float(curve.thresholds[last]), float(curve.shares[last]), float(curve.qualities[last]), needed)


def delivered(
    estimates: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    weak: Sequence[float] | FloatArray,
    thresholds: Sequence[float] | FloatArray,
) -> tuple[float, float]:
    """(mean quality, strong share) of routing each row by its own threshold (``estimate >= threshold``)."""
    e, s, w = _arrays(estimates, strong, weak)
    t = np.asarray(thresholds, dtype=np.float64)
    if t.shape != e.shape:
        raise ValueError("one threshold per row")
    to_strong = e >= t
    return float(np.where(to_strong, s, w).mean()), float(to_strong.mean())
