"""Interactions mode: requests without a valid Ed25519 signature are rejected before any command runs."""

from __future__ import annotations

import pytest

from intelbot.testing.discord import DiscordHarness, Signature


@pytest.mark.parametrize("signature", [Signature.WRONG_KEY, Signature.TAMPERED, Signature.MISSING])
async def test_badly_signed_interaction_never_reaches_a_command(discord: DiscordHarness, signature: Signature) -> None:
    record, body = discord.interaction("ask", question="should never be answered")
    requests_before = len(discord.loopback.requests)

    reply = await discord.deliver(record, body, signature)

    assert reply is not None and reply.status == 400
    assert not discord.frontend.tracker.has_started(record.id)
    assert discord.frontend.tracker.started == 0
    assert record.callbacks == [] and record.visible_messages == []
    assert len(discord.loopback.requests) == requests_before
    await discord.kernel.ledger.flush()
    assert (await discord.kernel.ledger.summary()).calls == 0

    # The same interaction, signed by the application's key, is served.
    reply = await discord.deliver(record, body)
    assert reply is not None and reply.status == 204
    await discord.frontend.tracker.wait_settled(record.id, 10)
    assert record.visible_messages[0].content.startswith("Echo: should never be answered")


async def test_ping_is_answered_with_pong(discord: DiscordHarness) -> None:
    assert discord.sender is not None
    reply = await discord.sender.send({"id": "1", "application_id": str(discord.loopback.application_id), "type": 1})

    assert reply.status == 200 and reply.json() == {"type": 1}
