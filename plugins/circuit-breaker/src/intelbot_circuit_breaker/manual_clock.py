"""A clock that moves only when told, for tests of anything that takes ``clock=``."""

from __future__ import annotations


class ManualClock:
    """``clock()`` reads the time; ``clock.advance(seconds)`` moves it forward."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
