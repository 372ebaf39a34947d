"""intelbot: a plugin-based framework for LLM-powered Discord bots.

The names a plugin author needs are importable from here::

    from intelbot import hookimpl, LLMRequest, LLMResponse, TurnContext
"""

from intelbot.catalog import ModelCatalog, ModelSpec
from intelbot.contract import (
    GiveUp,
    LLMRequest,
    LLMResponse,
    MemoryHit,
    MemoryQuery,
    MemoryRecord,
    Message,
    RecoveryDecision,
    Retry,
    Source,
    StopReason,
    TurnContext,
    Usage,
)
from intelbot.errors import CallRejected, ErrorCategory, IntelbotError, ProviderError
from intelbot.hookspecs import hookimpl, hookspec
from intelbot.kernel import Kernel

__all__ = [
    "CallRejected",
    "ErrorCategory",
    "GiveUp",
    "IntelbotError",
    "Kernel",
    "LLMRequest",
    "LLMResponse",
    "MemoryHit",
    "MemoryQuery",
    "MemoryRecord",
    "Message",
    "ModelCatalog",
    "ModelSpec",
    "ProviderError",
    "RecoveryDecision",
    "Retry",
    "Source",
    "StopReason",
    "TurnContext",
    "Usage",
    "hookimpl",
    "hookspec",
]
