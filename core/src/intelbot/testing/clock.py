"""A clock that moves only when told, for tests of anything that takes ``clock=`` (a callable returning seconds).

Used by the Discord test kit (rate limits, interaction deadlines) and by plugins'
tests (circuit-breaker waits): ``clock()`` reads the time, ``clock.advance(s)`` moves it.
"""

from __future__ import annotations


class ManualClock:
    """``clock()`` returns the current time in seconds; ``clock.advance(seconds)`` moves it forward.

    ``start`` is the first reading (default 1000.0). ``now`` is the current reading and may be
    read directly. The clock never goes back: ``advance`` with a negative value raises ValueError.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back (advance by {seconds!r})")
        self.now += seconds
