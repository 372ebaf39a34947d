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
from intelbot.kernel import Kernel

HELP = "Type a question. Commands: /health, /stats, /quit."


async def answer_line(kernel: Kernel, line: str, out: TextIO) -> None:
    """Answer one line (a question or a console command) and print the result."""
    text = line.strip()
    if not text:
        return
    if text == "/health":
        for item in await kernel.health():
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
        response = await kernel.ask(text, TurnContext(frontend="console"))
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
    if interactive:
        print(HELP, file=sink)
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            print("you> ", end="", file=sink, flush=True)
        line = await loop.run_in_executor(None, source.readline)
        if not line or line.strip() in ("/quit", "/exit"):
            break
        await answer_line(kernel, line, sink)
