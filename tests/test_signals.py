"""SIGTERM and SIGINT stop ``intelbot run`` cleanly, within a bounded grace period (issue 9, item 4).

The console runs as a real ``intelbot run`` process answering from the loopback OpenAI
server; the Discord front end runs in this process against the loopback Discord, with a
real signal sent to this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from intelbot.data.tables import TurnRecord
from intelbot.frontends.discord.bot import DiscordFrontEnd
from intelbot.frontends.discord.config import DiscordSettings
from intelbot.shutdown import StopSignals
from intelbot.testing.clock import ManualClock
from intelbot.testing.discord.harness import DiscordHarness
from intelbot.testing.discord.interactions import InteractionSender
from intelbot.testing.discord.server import LoopbackDiscord
from intelbot.testing.kernels import KernelFactory
from intelbot.testing.llm_servers import Hang, OpenAIServer, Reply, Slow

INTELBOT = str(Path(sys.executable).parent / "intelbot")
REPOSITORY_SETTINGS = Path(__file__).resolve().parents[1] / "settings.toml"


def console_env(cli_env: dict[str, str], server: OpenAIServer, *, grace: float, plugins: str = "") -> dict[str, str]:
    """The environment of an ``intelbot run`` on the repository's settings, answering from ``server``."""
    directory = Path(cli_env["INTELBOT_SETTINGS_DIR"])
    (directory / "settings.toml").write_text(REPOSITORY_SETTINGS.read_text(encoding="utf-8"), encoding="utf-8")
    env = dict(cli_env)
    env.update(
        {
            "INTELBOT_LLM__DEFAULT_MODEL": "gpt-4o-mini",
            "INTELBOT_PROVIDERS__OPENAI__API_KEY": server.api_key or "none",
            "INTELBOT_PROVIDERS__OPENAI__BASE_URL": server.base_url,
            "INTELBOT_PROVIDERS__OPENAI__MAX_RETRIES": "0",
            "INTELBOT_SHUTDOWN_GRACE_SECONDS": str(grace),
            "INTELBOT_LOAD_PLUGINS": plugins,
            "HF_HUB_OFFLINE": "1",
        }
    )
    return env


def logged_turns(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "intelbot.db") as connection:
        return list(connection.execute("SELECT question, answer FROM turns ORDER BY id"))


def ledger_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "intelbot.db") as connection:
        return int(connection.execute("SELECT count(*) FROM usage_ledger").fetchone()[0])


async def read_answers(process: asyncio.subprocess.Process, count: int) -> list[str]:
    """The first ``count`` answers the console printed (each answer line is followed by its footer)."""
    assert process.stdout is not None and process.stderr is not None
    answers: list[str] = []
    while len(answers) < count:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line:
            errors = await process.stderr.read()
            raise AssertionError(f"intelbot run ended before answering: {errors.decode()[-2000:]}")
        if not line.startswith("  ["):
            answers.append(line.rstrip("\n"))
    return answers


async def wait_for_requests(server: OpenAIServer, count: int) -> None:
    for _ in range(600):
        if sum(1 for request in server.requests if request.path.endswith("/chat/completions")) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never got {count} requests")


@pytest.mark.parametrize(
    ("signum", "plugins"), [(signal.SIGTERM, "semantic_cache"), (signal.SIGINT, "")], ids=["sigterm", "sigint"]
)
async def test_a_signal_lets_the_turn_in_flight_finish_and_every_answered_turn_is_in_the_ledger(
    cli_env: dict[str, str], tmp_path: Path, openai_server: OpenAIServer, signum: signal.Signals, plugins: str
) -> None:
    openai_server.script(Reply("first answer"), Reply("second answer"), Slow(1.5, Reply("third answer")))
    process = await asyncio.create_subprocess_exec(
        INTELBOT,
        "run",
        env=console_env(cli_env, openai_server, grace=10.0, plugins=plugins),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        # stdin stays open: the console would wait for more lines forever, as under systemd
        process.stdin.write(b"question one\nquestion two\nquestion three\nquestion four\n")
        await process.stdin.drain()
        assert await read_answers(process, 2) == ["first answer", "second answer"]
        await wait_for_requests(openai_server, 3)  # the third turn is in flight (its reply takes 1.5 s)
        process.send_signal(signum)
        rest, errors = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    assert "third answer" in rest.decode()
    assert f"{signum.name} received" in errors.decode()
    data_dir = tmp_path / "data"
    assert logged_turns(data_dir) == [
        ("question one", "first answer"),
        ("question two", "second answer"),
        ("question three", "third answer"),
    ]  # the fourth line was never started
    assert ledger_rows(data_dir) == 3
    if plugins == "semantic_cache":
        assert (data_dir / "semantic_cache" / "index.npz").exists()  # its shutdown hook ran


async def test_the_grace_period_is_bounded_and_answered_turns_are_still_written(
    cli_env: dict[str, str], tmp_path: Path, openai_server: OpenAIServer
) -> None:
    openai_server.script(Reply("first answer"), Hang())
    process = await asyncio.create_subprocess_exec(
        INTELBOT,
        "run",
        env=console_env(cli_env, openai_server, grace=1.0),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(b"question one\nquestion two\n")
        await process.stdin.drain()
        assert await read_answers(process, 1) == ["first answer"]
        await wait_for_requests(openai_server, 2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _rest, errors = await asyncio.wait_for(process.communicate(), timeout=30)
        stopped_after = time.monotonic() - signalled
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, errors.decode()
    assert stopped_after < 8.0  # a 1 s grace, not the 60 s call timeout
    assert "grace period" in errors.decode()
    assert logged_turns(tmp_path / "data") == [("question one", "first answer")]


async def test_sigterm_in_discord_mode_lets_every_command_in_flight_answer_and_log_its_turn(
    make_kernel: KernelFactory, openai_server: OpenAIServer
) -> None:
    kernel = await make_kernel(
        settings={
            "llm": {"default_model": "gpt-4o-mini"},
            "providers": {"openai": openai_server.provider_settings()},
        }
    )
    openai_server.script(*[Slow(1.0, Reply(f"answer {index}")) for index in range(3)])
    async with LoopbackDiscord() as loopback:
        config = DiscordSettings(
            token=loopback.token,
            mode="interactions",
            application_id=loopback.application_id,
            public_key=loopback.public_key_hex,
            host="127.0.0.1",
            port=0,
            rest_url=loopback.rest_url,
        )
        clock = ManualClock()
        frontend = DiscordFrontEnd(kernel, config, clock=clock)
        async with StopSignals() as signals:
            running = asyncio.create_task(frontend.run(stop=signals.requested, grace=10.0))
            for _ in range(200):
                if frontend.interaction_url is not None:
                    break
                await asyncio.sleep(0.05)
            assert frontend.interaction_url is not None
            sender = InteractionSender(loopback.signing_key, frontend.interaction_url)
            harness = DiscordHarness(loopback, frontend, "interactions", clock, sender)
            asks = [asyncio.create_task(harness.slash("ask", question=f"question {index}")) for index in range(3)]
            await wait_for_requests(openai_server, 3)  # three turns in flight
            os.kill(os.getpid(), signal.SIGTERM)
            results = await asyncio.wait_for(asyncio.gather(*asks), timeout=30)
            await asyncio.wait_for(running, timeout=30)
            await sender.aclose()
        assert signals.received == [signal.SIGTERM]
    assert sorted(result.text.split("\n")[0] for result in results) == [f"answer {index}" for index in range(3)]
    await kernel.ledger.flush()
    assert (await kernel.ledger.summary()).calls == 3
    async with kernel.database.session() as session:
        answers = sorted((await session.execute(select(TurnRecord.answer))).scalars().all())
    assert answers == [f"answer {index}" for index in range(3)]
