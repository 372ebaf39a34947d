"""One-time codes that confirm a destructive command before it runs.

A command that cannot be undone (``/forget everyone``) first answers with a code
issued to that user, for that guild and action; running the command again with the
code within ``ttl_seconds`` goes ahead. A code works once, only for the user, guild
and action it was issued for. Codes live in this process: after a restart, or on
another process of the same bot, the user is simply asked again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 6


@dataclass(slots=True)
class Confirmations:
    """Issued codes by (action, guild, user), each with the time it expires."""

    ttl_seconds: float = 120.0
    clock: Callable[[], float] = time.monotonic
    _pending: dict[tuple[str, int | None, int], tuple[str, float]] = field(default_factory=dict)

    def issue(self, action: str, guild_id: int | None, user_id: int) -> str:
        """A new code for ``action`` by ``user_id`` in ``guild_id``; it replaces any earlier one."""
        now = self.clock()
        self._pending = {key: value for key, value in self._pending.items() if value[1] > now}
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        self._pending[(action, guild_id, user_id)] = (code, now + self.ttl_seconds)
        return code

    def redeem(self, action: str, guild_id: int | None, user_id: int, code: str) -> bool:
        """True, once, when ``code`` is the unexpired code issued for this action, guild and user."""
        issued = self._pending.get((action, guild_id, user_id))
        if issued is None or issued[1] <= self.clock():
            return False
        if not secrets.compare_digest(issued[0], code.strip().upper()):
            return False
        del self._pending[(action, guild_id, user_id)]
        return True
