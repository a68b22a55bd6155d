"""nvgw_nb — NVIDIA NIM with the NVIDIA LLM Gateway as its fallback, for notebooks.

>>> import nvgw_nb as nv
>>> session = nv.connect()          # real endpoints with credentials, else the simulator
>>> r = session.chat("Summarise this diff: ...", role="planner")
>>> r.served_by, r.fell_back, r.attempts

Heavy optional parts (the simulator server, widgets, plots) load on first use, so
`import nvgw_nb` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.batch import BatchItem, load_results
from nvgw_nb.compare import Comparison
from nvgw_nb.config import Settings
from nvgw_nb.connect import connect
from nvgw_nb.errors import (
    AllProvidersFailed,
    AuthError,
    BadRequest,
    CircuitOpen,
    ConfigError,
    ContentFiltered,
    ContextTooLong,
    EmptyResponse,
    MalformedResponse,
    ModelNotFound,
    NvgwError,
    PolicyError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    ServerError,
    SessionClosed,
    StreamInterrupted,
    ToolCallError,
    UnsupportedParameter,
    ValidationFailed,
)
from nvgw_nb.results import Attempt, ChatRequest, ChatResult, Message, StreamChunk, ToolCall, Usage
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.roles import Role
from nvgw_nb.session import Session
from nvgw_nb.streams import AsyncChatStream, ChatStream

if TYPE_CHECKING:
    from nvgw_nb import plots, widgets
    from nvgw_nb.sim import Simulator

__version__ = "0.1.0"

__all__ = [
    "AllProvidersFailed",
    "AsyncChatStream",
    "Attempt",
    "AuthError",
    "BadRequest",
    "BatchItem",
    "ChatRequest",
    "ChatResult",
    "ChatStream",
    "CircuitOpen",
    "Comparison",
    "ConfigError",
    "ContentFiltered",
    "ContextTooLong",
    "EmptyResponse",
    "MalformedResponse",
    "Message",
    "ModelNotFound",
    "NvgwError",
    "PolicyError",
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "RetryPolicy",
    "Role",
    "ServerError",
    "Session",
    "SessionClosed",
    "Settings",
    "Simulator",
    "StarfleetAuth",
    "StreamChunk",
    "StreamInterrupted",
    "ToolCall",
    "ToolCallError",
    "UnsupportedParameter",
    "Usage",
    "ValidationFailed",
    "connect",
    "load_results",
    "plots",
    "widgets",
]

_LAZY = {"Simulator": "nvgw_nb.sim"}
#: modules loaded on first use (matplotlib is heavy: `import nvgw_nb` must stay fast)
_LAZY_MODULES = ("plots", "widgets")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"nvgw_nb.{name}")
    raise AttributeError(f"module 'nvgw_nb' has no attribute {name!r}")
