"""The console front end: a REPL on a terminal, one question per line otherwise.

Like Errbot's text backend, it runs the whole bot with no chat server, through the
same service API (:meth:`Kernel.ask`) as Discord.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from intelbot.contract import TurnContext
from intelbot.errors import IntelbotError
from intelbot.frontends.footer import describe
from intelbot.health import shown_lines
from intelbot.kernel import Kernel
from intelbot.shutdown import DEFAULT_GRACE_SECONDS, finish_within
from intelbot.spending import CONSOLE_USER_ID, SpendingCap, ask_within_cap, operator_spending_cap
from intelbot.usage_report import usage_report

HELP = "Type a question. Commands: /health, /stats, /usage, /quit."


async def answer_line(kernel: Kernel, line: str, out: TextIO, *, cap: SpendingCap | None = None) -> None:
    """Answer one line (a question or a console command) and print the result.

    Questions are the operator's turns (:data:`~intelbot.spending.CONSOLE_USER_ID`), under
    ``spending.daily_user_cap_usd`` (``cap``; made from the kernel's settings when None).
    """
    text = line.strip()
    if not text:
        return
    if text == "/health":
        for item in shown_lines(await kernel.health(), to_managers=True):  # the console's user is the operator
            print(item, file=out)
        return
    if text == "/stats":
        for section, figures in (await kernel.stats()).items():
            print(f"{section}: {figures}", file=out)
        return
    if text == "/usage":
        for item in await usage_report(kernel, guild_id=None, user_id=CONSOLE_USER_ID):
            print(item, file=out)
        return
    if text == "/help":
        print(HELP, file=out)
        return
    try:
        ctx = TurnContext(user_id=CONSOLE_USER_ID, frontend="console")
        turn_cap = cap or operator_spending_cap(kernel)
        try:
            response = await ask_within_cap(kernel, turn_cap, text, ctx)
        finally:
            if turn_cap is not cap:
                await turn_cap.aclose()
    except IntelbotError as error:
        print(f"error ({error.category.value}): {error.user_message or error.message}", file=out)
        return
    print(response.text, file=out)
    print(f"  [{describe(response)}]", file=out)
    out.flush()


class LineReader:
    """Lines of ``source``, read by a daemon thread so that a read blocked on a terminal never holds up a stop."""

    def __init__(self, source: TextIO, loop: asyncio.AbstractEventLoop) -> None:
        self.source = source
        self.loop = loop
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(target=self._read, name="intelbot-console-input", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                line = self.source.readline()
            except (OSError, ValueError):  # closed under us
                line = ""
            try:
                self.loop.call_soon_threadsafe(self.lines.put_nowait, line)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                return
            if not line:
                return


async def run_console(
    kernel: Kernel,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    *,
    stop: asyncio.Event | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> None:
    """Read questions until end of input (or /quit, or ``stop``) and answer each.

    When ``stop`` is set no new line is answered; the turn in flight gets ``grace``
    seconds to finish and is cancelled after that.
    """
    source = stdin or sys.stdin
    sink = out or sys.stdout
    interactive = source.isatty()
    cap = operator_spending_cap(kernel)
    if interactive:
        print(HELP, file=sink)
    stop = stop or asyncio.Event()
    reader = LineReader(source, asyncio.get_running_loop())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            if interactive:
                print("you> ", end="", file=sink, flush=True)
            next_line = asyncio.ensure_future(reader.lines.get())
            await asyncio.wait([next_line, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not next_line.done():
                next_line.cancel()
                break
            line = next_line.result()
            if not line or line.strip() in ("/quit", "/exit"):
                break
            turn = asyncio.ensure_future(answer_line(kernel, line, sink, cap=cap))
            await asyncio.wait([turn, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not turn.done():
                await finish_within(turn, grace, "the console's turn in flight")
                break
            turn.result()
    finally:
        stopped.cancel()
        await cap.aclose()
