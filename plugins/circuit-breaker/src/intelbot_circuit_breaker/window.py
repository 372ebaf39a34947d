"""Sliding windows of call outcomes, by count or by time (resilience4j's two kinds).

A window answers one question: over the recent calls it holds, how many were
made, how many failed and how many were slow. Windows are plain data that
serialise to JSON (``to_json``/``from_json``) so a shared store can keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

WindowKind = Literal["count", "time"]

_FAILED = 1
_SLOW = 2


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Aggregates of a window: ``calls`` made, of which ``failures`` failed and ``slow`` were slow."""

    calls: int = 0
    failures: int = 0
    slow: int = 0

    @property
    def failure_rate(self) -> float:
        """Share of calls that failed, in [0, 1] (0 with no calls)."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def slow_rate(self) -> float:
        """Share of calls that were slow, in [0, 1] (0 with no calls)."""
        return self.slow / self.calls if self.calls else 0.0


class OutcomeWindow(Protocol):
    """What the breaker needs from a window."""

    def record(self, *, failed: bool, slow: bool, now: float) -> None: ...

    def totals(self, now: float) -> WindowTotals: ...

    def clear(self) -> None: ...

    def to_json(self) -> dict[str, Any]: ...


class CountWindow:
    """The last ``size`` calls, whenever they happened."""

    def __init__(self, size: int, outcomes: list[int] | None = None) -> None:
        if size <= 0:
            raise ValueError("a count window needs size > 0")
        self.size = size
        self._outcomes: list[int] = list(outcomes or [])[-size:]

    def record(self, *, failed: bool, slow: bool, now: float) -> None:
        self._outcomes.append((_FAILED if failed else 0) | (_SLOW if slow else 0))
        if len(self._outcomes) > self.size:
            del self._outcomes[0 : len(self._outcomes) - self.size]

    def totals(self, now: float) -> WindowTotals:
        outcomes = self._outcomes
        return WindowTotals(
            calls=len(outcomes),
            failures=sum(1 for item in outcomes if item & _FAILED),
            slow=sum(1 for item in outcomes if item & _SLOW),
        )

    def clear(self) -> None:
        self._outcomes.clear()

    def to_json(self) -> dict[str, Any]:
        return {"kind": "count", "size": self.size, "outcomes": list(self._outcomes)}


class TimeWindow:
    """Calls of the last ``seconds`` seconds, in one-second buckets."""

    def __init__(self, seconds: int, buckets: dict[int, list[int]] | None = None) -> None:
        if seconds <= 0:
            raise ValueError("a time window needs seconds > 0")
        self.seconds = seconds
        self._buckets: dict[int, list[int]] = {int(key): list(value) for key, value in (buckets or {}).items()}

    def _evict(self, now: float) -> None:
        oldest = int(now) - self.seconds + 1
        for key in [key for key in self._buckets if key < oldest]:
            del self._buckets[key]

    def record(self, *, failed: bool, slow: bool, now: float) -> None:
        self._evict(now)
        bucket = self._buckets.setdefault(int(now), [0, 0, 0])
        bucket[0] += 1
        bucket[1] += 1 if failed else 0
        bucket[2] += 1 if slow else 0

    def totals(self, now: float) -> WindowTotals:
        oldest = int(now) - self.seconds + 1
        calls = failures = slow = 0
        for key, (bucket_calls, bucket_failures, bucket_slow) in self._buckets.items():
            if key >= oldest:
                calls += bucket_calls
                failures += bucket_failures
                slow += bucket_slow
        return WindowTotals(calls=calls, failures=failures, slow=slow)

    def clear(self) -> None:
        self._buckets.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "time",
            "size": self.seconds,
            "buckets": {str(key): value for key, value in self._buckets.items()},
        }


def new_window(kind: WindowKind, size: int) -> CountWindow | TimeWindow:
    """An empty window: ``size`` is a number of calls (count) or of seconds (time)."""
    return CountWindow(size) if kind == "count" else TimeWindow(size)


def window_from_json(data: dict[str, Any]) -> CountWindow | TimeWindow:
    """Rebuild a window written by ``to_json``."""
    if data["kind"] == "count":
        return CountWindow(int(data["size"]), [int(item) for item in data["outcomes"]])
    return TimeWindow(int(data["size"]), {int(key): value for key, value in data["buckets"].items()})
