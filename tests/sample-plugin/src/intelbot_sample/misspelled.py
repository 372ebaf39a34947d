"""A plugin implementing a hook that does not exist: it must be refused, loudly."""

from intelbot import hookimpl


@hookimpl
def before_llm_cal(request: object, ctx: object) -> None:
    return None
