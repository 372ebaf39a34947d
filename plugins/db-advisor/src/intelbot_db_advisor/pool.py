"""Pool advice: connections in use and overflow against the pool size and the server's limit.

:class:`PoolWatch` listens to the pool's checkout and checkin events (a few integer
updates each); :func:`pool_advice` turns the peak figures into one recommendation with
its reason. An exhausted pool (peak in use at size + overflow) stands for checkout
waits: SQLAlchemy has no event before a checkout, so the wait itself is not timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class PoolWatch:
    """Peak connections in use, overflow use and checkouts of one engine's pool."""

    in_use: int = 0
    peak_in_use: int = 0
    checkouts: int = 0
    overflow_checkouts: int = 0
    _engine: Engine | None = None

    def attach(self, engine: Engine) -> None:
        event.listen(engine.pool, "checkout", self._checkout)
        event.listen(engine.pool, "checkin", self._checkin)
        self._engine = engine

    def detach(self) -> None:
        if self._engine is not None:
            event.remove(self._engine.pool, "checkout", self._checkout)
            event.remove(self._engine.pool, "checkin", self._checkin)
            self._engine = None

    def _checkout(self, _dbapi: Any, _record: Any, _proxy: Any) -> None:
        self.in_use += 1
        self.checkouts += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)
        size = _pool_size(self._engine)
        if size is not None and self.in_use > size:
            self.overflow_checkouts += 1

    def _checkin(self, _dbapi: Any, _record: Any) -> None:
        self.in_use = max(0, self.in_use - 1)


def _pool_size(engine: Engine | None) -> int | None:
    size = getattr(engine.pool, "size", None) if engine is not None else None
    return int(size()) if callable(size) else None


@dataclass(frozen=True, slots=True)
class PoolAdvice:
    """The pool's figures and what to do about them."""

    pool: str
    size: int | None
    max_overflow: int | None
    peak_in_use: int
    checkouts: int
    overflow_checkouts: int
    max_connections: int | None
    recommendation: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "size": self.size,
            "max_overflow": self.max_overflow,
            "peak_in_use": self.peak_in_use,
            "checkouts": self.checkouts,
            "overflow_checkouts": self.overflow_checkouts,
            "server_max_connections": self.max_connections,
            "recommendation": self.recommendation,
            "reason": self.reason,
        }


def pool_advice(engine: Engine, watch: PoolWatch, max_connections: int | None) -> PoolAdvice:
    """One recommendation for ``engine``'s pool from what ``watch`` saw and the server's ``max_connections``."""
    pool = engine.pool
    size = _pool_size(engine)
    overflow_attr = getattr(pool, "_max_overflow", None)
    overflow = int(overflow_attr) if isinstance(overflow_attr, int) else None

    def advice(recommendation: str, reason: str) -> PoolAdvice:
        return PoolAdvice(
            type(pool).__name__,
            size,
            overflow,
            watch.peak_in_use,
            watch.checkouts,
            watch.overflow_checkouts,
            max_connections,
            recommendation,
            reason,
        )

    if engine.dialect.name == "sqlite":
        return advice(
            "keep the defaults",
            "SQLite has one writer at a time and the kernel serialises writes; a larger pool adds no throughput",
        )
    if size is None:
        return advice("none", f"{type(pool).__name__} has no fixed size")
    limit = size + max(overflow or 0, 0)
    if max_connections is not None and limit > max_connections:
        return advice(
            f"lower pool_size + max_overflow below {max_connections}",
            f"this process alone may open {limit} connections, over the server's max_connections",
        )
    if watch.peak_in_use >= limit and watch.checkouts:
        return advice(
            f"raise pool_size to {min(limit * 2, max_connections or limit * 2)}",
            f"the pool was exhausted ({watch.peak_in_use} of {limit} in use): callers waited for a connection",
        )
    if watch.overflow_checkouts and watch.overflow_checkouts * 10 >= watch.checkouts:
        return advice(
            f"raise pool_size to {watch.peak_in_use}",
            f"{watch.overflow_checkouts} of {watch.checkouts} checkouts needed overflow connections, "
            "which are opened and closed each time",
        )
    fits = (max_connections // limit) if max_connections and limit else None
    reason = f"peak {watch.peak_in_use} in use of {size} (+{overflow or 0} overflow)"
    if fits is not None:
        reason += f"; {fits} such processes fit in max_connections {max_connections}"
    return advice("keep the pool as it is", reason)
