"""Secrets never printed: names of every common spelling, URLs with credentials, webhook tokens."""

from __future__ import annotations

import pytest

from intelbot.redaction import MASK, is_secret_key, redacted, redacted_url


@pytest.mark.parametrize(
    "name",
    [
        "api_key", "apikey", "api-key", "API_KEY", "secret_key", "aws_secret_access_key", "passwd", "password",
        "db_password", "token", "bot_token", "webhook_url", "authorization", "dsn", "private_key", "client_secret",
    ],
)  # fmt: skip
def test_secret_names_are_masked(name: str) -> None:
    assert is_secret_key(name)
    assert redacted({name: "hunter2-value"}) == {name: MASK}


@pytest.mark.parametrize("name", ["max_tokens", "timeout_seconds", "base_url", "model", "host", "port", "mode"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_key(name)
    assert redacted({name: "visible"}) == {name: "visible"}


@pytest.mark.parametrize(
    ("url", "hidden"),
    [
        ("postgresql://user:pw-123@db.example/bot", "pw-123"),
        ("https://api.example/v1?apikey=sk-abc123&model=x", "sk-abc123"),
        ("https://api.example/v1?api_key=sk-abc123", "sk-abc123"),
        ("https://api.example/v1?access_token=tok-987", "tok-987"),
        ("https://discord.com/api/webhooks/123456789/AbCdEf-token_XYZ", "AbCdEf-token_XYZ"),
        ("redis://:redispass@127.0.0.1:6379/0", "redispass"),
    ],
)
def test_urls_lose_their_credentials(url: str, hidden: str) -> None:
    shown = redacted_url(url)
    assert hidden not in shown
    assert MASK in shown
    assert redacted({"some_url": url})["some_url"] == shown  # a URL under any name is cleaned


def test_nested_tables_and_lists_are_walked() -> None:
    settings = {"plugins": {"third_party": {"apiKey": "k-1", "endpoints": ["https://x/?token=t-2"], "size": 3}}}
    shown = redacted(settings)
    assert shown["plugins"]["third_party"]["apiKey"] == MASK
    assert "t-2" not in shown["plugins"]["third_party"]["endpoints"][0]
    assert shown["plugins"]["third_party"]["size"] == 3
