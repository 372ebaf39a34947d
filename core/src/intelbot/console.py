"""The console front end: a REPL on a terminal, one question per line otherwise.

Like Errbot's text backend, it runs the whole bot with no chat server, through the
same service API (:meth:`Kernel.ask`) as Discord.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from intelbot.contract import TurnContext
from intelbot.errors import IntelbotError
from intelbot.footer import describe
from intelbot.health import shown_lines
from intelbot.kernel import Kernel
from intelbot.spending import CONSOLE_USER_ID, SpendingCap, ask_within_cap, operator_spending_cap

HELP = "Type a question. Commands: /health, /stats, /quit."


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


async def run_console(kernel: Kernel, stdin: TextIO | None = None, out: TextIO | None = None) -> None:
    """Read questions until end of input (or /quit) and answer each."""
    source = stdin or sys.stdin
    sink = out or sys.stdout
    interactive = source.isatty()
    cap = operator_spending_cap(kernel)
    if interactive:
        print(HELP, file=sink)
    try:
        await _read_and_answer(kernel, source, sink, interactive, cap)
    finally:
        await cap.aclose()


async def _read_and_answer(kernel: Kernel, source: TextIO, sink: TextIO, interactive: bool, cap: SpendingCap) -> None:
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            print("you> ", end="", file=sink, flush=True)
        line = await loop.run_in_executor(None, source.readline)
        if not line or line.strip() in ("/quit", "/exit"):
            break
        await answer_line(kernel, line, sink, cap=cap)
