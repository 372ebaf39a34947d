"""How a plugin that failed to load is shown in Discord: to members, only that it failed.

The reason is for the bot's owners and members with Manage Server (the caller
decides, on the server side, with :func:`intelbot.frontends.discord.permissions.can_manage_guild`),
and even then an import failure is named by its exception type alone: the text
of an exception raised while importing a plugin may hold paths, settings or secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from intelbot.loading import PluginInfo

FAILED_TO_LOAD: Final = "failed to load"
IMPORT_FAILED: Final = "import failed"
_EXCEPTION_TYPE = re.compile(r"[A-Za-z_][\w.]*")


def failure_reason(error: str) -> str:
    """``error`` (a :class:`PluginInfo` error) fit to show managers: ``import failed: <ExceptionType>`` for imports."""
    if not error.startswith(IMPORT_FAILED):
        return error
    exception_type = error[len(IMPORT_FAILED) :].lstrip(": ").split(":", 1)[0].strip()
    return f"{IMPORT_FAILED}: {exception_type}" if _EXCEPTION_TYPE.fullmatch(exception_type) else IMPORT_FAILED


def describe_failure(info: PluginInfo, *, with_reason: bool) -> str:
    """``failed to load``, with the reason (see :func:`failure_reason`) when ``with_reason``."""
    if not with_reason or not info.error:
        return FAILED_TO_LOAD
    return f"{FAILED_TO_LOAD}: {failure_reason(info.error)}"


def health_lines(lines: Iterable[str], plugins: Iterable[PluginInfo], *, with_reason: bool) -> list[str]:
    """``kernel.health()`` lines with each failed plugin's line rewritten by :func:`describe_failure`.

    A line is a plugin's failure line when it names the plugin and holds its error text.
    """
    failed = [info for info in plugins if info.error]
    shown = []
    for line in lines:
        info = next((info for info in failed if info.error and info.error in line and info.name in line), None)
        shown.append(
            line
            if info is None
            else f"plugin {info.name}: NOT LOADED ({describe_failure(info, with_reason=with_reason)})"
        )
    return shown
