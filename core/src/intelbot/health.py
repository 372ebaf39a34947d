"""Health lines whose infrastructure details only managers see.

A plugin's ``health_lines`` (and the front ends' own lines) may hold details that
are for the bot's operators only: a Redis or database host, port and db number.
Such a detail is wrapped with :func:`for_managers`; a front end renders each line
with :func:`shown`: to managers (Discord: bot owners, members with Manage Server;
the console's operator) with the detail, to everyone else without it. A line made
only of such a detail is not shown to members at all.
"""

from __future__ import annotations

import re
from typing import Final

_START: Final = "\ue000"
_END: Final = "\ue001"
_DETAIL: Final = re.compile(f"{_START}[^{_END}]*{_END}")


def for_managers(detail: str) -> str:
    """``detail`` marked as shown to managers only (markers are private-use characters, stripped by :func:`shown`)."""
    return f"{_START}{detail.replace(_START, '').replace(_END, '')}{_END}"


def shown(line: str, *, to_managers: bool) -> str | None:
    """``line`` as a manager (details kept) or a member (details removed; None when nothing is left) sees it."""
    if to_managers:
        return line.replace(_START, "").replace(_END, "")
    text = " ".join(_DETAIL.sub("", line).split())
    return text or None


def shown_lines(lines: list[str], *, to_managers: bool) -> list[str]:
    """Each of ``lines`` through :func:`shown`, dropping those left empty."""
    return [text for text in (shown(line, to_managers=to_managers) for line in lines) if text is not None]
