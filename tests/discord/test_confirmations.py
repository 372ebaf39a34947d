"""One-time confirmation codes: one user, one guild, one action, once, before they expire."""

from __future__ import annotations

from intelbot.frontends.discord.confirmations import Confirmations
from intelbot.testing.clock import ManualClock


def test_a_code_confirms_once_for_its_user_guild_and_action_only() -> None:
    confirmations = Confirmations(ttl_seconds=120, clock=ManualClock())
    code = confirmations.issue("forget everyone", 1, 7)
    assert not confirmations.redeem("forget everyone", 1, 8, code), "another user"
    assert not confirmations.redeem("forget everyone", 2, 7, code), "another guild"
    assert not confirmations.redeem("something else", 1, 7, code), "another action"
    assert confirmations.redeem("forget everyone", 1, 7, code.lower() + " "), "typed in lower case with a space"
    assert not confirmations.redeem("forget everyone", 1, 7, code), "used once"


def test_a_code_expires_and_a_new_one_replaces_the_old() -> None:
    clock = ManualClock()
    confirmations = Confirmations(ttl_seconds=120, clock=clock)
    first = confirmations.issue("forget everyone", 1, 7)
    second = confirmations.issue("forget everyone", 1, 7)
    assert first == second or not confirmations.redeem("forget everyone", 1, 7, first)
    third = confirmations.issue("forget everyone", 1, 7)
    clock.advance(120)
    assert not confirmations.redeem("forget everyone", 1, 7, third), "expired"
