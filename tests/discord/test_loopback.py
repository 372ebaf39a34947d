"""The loopback Discord itself enforces Discord's rules, so the bot's tests cannot pass by accident."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from intelbot.testing.discord import LoopbackDiscord, ManualClock


@pytest.fixture
async def clocked() -> AsyncIterator[LoopbackDiscord]:
    async with LoopbackDiscord(clock=ManualClock()) as loopback:
        yield loopback


async def call(loopback: LoopbackDiscord, method: str, path: str, body: object = None, *, bot: bool = False) -> tuple:
    headers = {"Authorization": f"Bot {loopback.token}"} if bot else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, loopback.rest_url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json() if response.content_type == "application/json" else None


async def test_bot_routes_need_the_bot_token(clocked: LoopbackDiscord) -> None:
    assert (await call(clocked, "GET", "/users/@me"))[0] == 401
    status, me = await call(clocked, "GET", "/users/@me", bot=True)
    assert status == 200 and me["id"] == str(clocked.application_id) and me["bot"] is True


async def test_callback_rules_once_within_three_seconds_and_content_limit(clocked: LoopbackDiscord) -> None:
    rest = clocked.rest
    late, twice, long = (rest.open_interaction("ask") for _ in range(3))
    deferral = {"type": 5, "data": {"flags": 0}}

    too_long = {"type": 4, "data": {"content": "x" * 2001}}
    status, body = await call(clocked, "POST", f"/interactions/{long.id}/{long.token}/callback", too_long)
    assert (status, body["code"]) == (400, 50035)
    assert (await call(clocked, "POST", f"/interactions/{twice.id}/{twice.token}/callback", deferral))[0] == 204
    status, body = await call(clocked, "POST", f"/interactions/{twice.id}/{twice.token}/callback", deferral)
    assert (status, body["code"]) == (400, 40060)
    assert isinstance(clocked.clock, ManualClock)
    clocked.clock.advance(3.5)
    status, body = await call(clocked, "POST", f"/interactions/{late.id}/{late.token}/callback", deferral)
    assert (status, body["code"]) == (404, 10062)
    assert (await call(clocked, "POST", f"/interactions/{late.id}/wrong-token/callback", deferral))[0] == 404


async def test_webhook_needs_an_acknowledged_interaction(clocked: LoopbackDiscord) -> None:
    record = clocked.rest.open_interaction("ask")
    followup = f"/webhooks/{clocked.application_id}/{record.token}?wait=true"

    status, body = await call(clocked, "POST", followup, {"content": "too early"})
    assert (status, body["code"]) == (404, 10015)
    await call(clocked, "POST", f"/interactions/{record.id}/{record.token}/callback", {"type": 5, "data": {}})
    status, message = await call(clocked, "POST", followup, {"content": "hello <@42> @everyone"})
    assert status == 200 and message["mention_everyone"] is True  # no allowed_mentions: Discord pings
    assert record.followups[0].pings.users == (42,)


async def test_gateway_protocol_zlib_stream_heartbeat_and_resume(loopback_discord: LoopbackDiscord) -> None:
    gateway = loopback_discord.gateway
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(gateway.url + "?v=10&encoding=json&compress=zlib-stream")
        inflator = zlib.decompressobj()

        async def receive() -> dict:
            message = await ws.receive_bytes()
            assert message.endswith(b"\x00\x00\xff\xff")
            return json.loads(inflator.decompress(message))

        hello = await receive()
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        await ws.send_json({"op": 2, "d": {"token": loopback_discord.token, "shard": [0, 1]}})
        ready = await receive()
        assert (ready["op"], ready["t"]) == (0, "READY")
        session_id, seq = ready["d"]["session_id"], ready["s"]
        await ws.send_json({"op": 1, "d": seq})
        assert (await receive())["op"] == 11

        await gateway.dispatch("INTERACTION_CREATE", {"n": 1})
        first = await receive()
        assert (first["t"], first["d"]) == ("INTERACTION_CREATE", {"n": 1})
        await gateway.drop()
        await ws.close()
        await gateway.dispatch("INTERACTION_CREATE", {"n": 2})  # missed while disconnected

        ws = await session.ws_connect(gateway.url + "?v=10&encoding=json&compress=zlib-stream")
        inflator = zlib.decompressobj()
        assert (await receive())["op"] == 10
        resume = {"token": loopback_discord.token, "session_id": session_id, "seq": first["s"]}
        await ws.send_json({"op": 6, "d": resume})
        replayed, resumed = await receive(), await receive()
        assert (replayed["t"], replayed["d"], replayed["s"]) == ("INTERACTION_CREATE", {"n": 2}, first["s"] + 1)
        assert resumed["t"] == "RESUMED"

        bad = await session.ws_connect(gateway.url + "?v=10&encoding=json")
        assert json.loads(await bad.receive_str())["op"] == 10
        await bad.send_json({"op": 6, "d": {"token": loopback_discord.token, "session_id": "nope", "seq": 1}})
        assert json.loads(await bad.receive_str()) == {"op": 9, "d": False}
        await bad.send_json({"op": 2, "d": {"token": "wrong"}})
        closed = await bad.receive()
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4004
        await ws.close()
    assert (gateway.identifies, gateway.resumes) == (1, 1)
