"""nvgw_nb — NVIDIA NIM with the NVIDIA LLM Gateway as its fallback, for notebooks.

>>> import nvgw_nb as nv
>>> session = nv.connect()          # real endpoints with credentials, else the simulator
>>> r = session.chat("Summarise this diff: ...", role="planner")
>>> r.served_by, r.fell_back, r.attempts

Everything but the error classes loads on first use (the simulator server, widgets and
plots only when used), so `import nvgw_nb` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    MissingCredentials,
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
    ResponseTooLarge,
    ServerError,
    SessionClosed,
    StreamInterrupted,
    TLSError,
    ToolCallError,
    UnsupportedParameter,
    ValidationFailed,
)

if TYPE_CHECKING:
    from nvgw_nb import plots, widgets
    from nvgw_nb.auth import StarfleetAuth
    from nvgw_nb.batch import BatchItem, load_results
    from nvgw_nb.cache import ResponseCache
    from nvgw_nb.compare import Comparison
    from nvgw_nb.config import Settings
    from nvgw_nb.connect import connect
    from nvgw_nb.experiments import checks, judges
    from nvgw_nb.experiments.cases import Case, CasesFileError, load_cases
    from nvgw_nb.experiments.grid import Experiment
    from nvgw_nb.experiments.plan import Plan
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.experiments.scoring import Score
    from nvgw_nb.prompts import PromptsFileError, read_prompts
    from nvgw_nb.results import (
        Attempt,
        ChatRequest,
        ChatResult,
        Message,
        StreamChunk,
        ToolCall,
        Usage,
    )
    from nvgw_nb.retry import RetryPolicy
    from nvgw_nb.roles import Role
    from nvgw_nb.session import Session
    from nvgw_nb.sim import Simulator
    from nvgw_nb.streams import AsyncChatStream, ChatStream

__version__ = "0.1.0"

__all__ = [
    "AllProvidersFailed",
    "AsyncChatStream",
    "Attempt",
    "AuthError",
    "BadRequest",
    "BatchItem",
    "Case",
    "CasesFileError",
    "ChatRequest",
    "ChatResult",
    "ChatStream",
    "CircuitOpen",
    "Comparison",
    "ConfigError",
    "ContentFiltered",
    "ContextTooLong",
    "EmptyResponse",
    "Experiment",
    "MalformedResponse",
    "Message",
    "MissingCredentials",
    "ModelNotFound",
    "NvgwError",
    "Plan",
    "PolicyError",
    "PromptsFileError",
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "ResponseCache",
    "ResponseTooLarge",
    "RetryPolicy",
    "Role",
    "Run",
    "Score",
    "ServerError",
    "Session",
    "SessionClosed",
    "Settings",
    "Simulator",
    "StarfleetAuth",
    "StreamChunk",
    "StreamInterrupted",
    "TLSError",
    "ToolCall",
    "ToolCallError",
    "UnsupportedParameter",
    "Usage",
    "ValidationFailed",
    "checks",
    "connect",
    "judges",
    "load_cases",
    "load_results",
    "plots",
    "read_prompts",
    "widgets",
]

#: where each public name lives: loaded on first use, so `import nvgw_nb` costs only the
#: error classes; the first `nv.connect()` / `nv.Session` pays for httpx and pydantic, and
#: plots and widgets (matplotlib, ipywidgets) load only when used
_LAZY = {
    "Attempt": "nvgw_nb.results",
    "AsyncChatStream": "nvgw_nb.streams",
    "BatchItem": "nvgw_nb.batch",
    "Case": "nvgw_nb.experiments.cases",
    "CasesFileError": "nvgw_nb.experiments.cases",
    "Experiment": "nvgw_nb.experiments.grid",
    "Plan": "nvgw_nb.experiments.plan",
    "Run": "nvgw_nb.experiments.run",
    "Score": "nvgw_nb.experiments.scoring",
    "load_cases": "nvgw_nb.experiments.cases",
    "ChatRequest": "nvgw_nb.results",
    "ChatResult": "nvgw_nb.results",
    "ChatStream": "nvgw_nb.streams",
    "Comparison": "nvgw_nb.compare",
    "Message": "nvgw_nb.results",
    "ResponseCache": "nvgw_nb.cache",
    "RetryPolicy": "nvgw_nb.retry",
    "Role": "nvgw_nb.roles",
    "Session": "nvgw_nb.session",
    "Settings": "nvgw_nb.config",
    "Simulator": "nvgw_nb.sim",
    "StarfleetAuth": "nvgw_nb.auth",
    "StreamChunk": "nvgw_nb.results",
    "ToolCall": "nvgw_nb.results",
    "Usage": "nvgw_nb.results",
    "connect": "nvgw_nb.connect",
    "load_results": "nvgw_nb.batch",
    "PromptsFileError": "nvgw_nb.prompts",
    "read_prompts": "nvgw_nb.prompts",
}
_LAZY_MODULES = {
    "plots": "nvgw_nb.plots",
    "widgets": "nvgw_nb.widgets",
    "checks": "nvgw_nb.experiments.checks",
    "judges": "nvgw_nb.experiments.judges",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'nvgw_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and the module's dunders: tab completion offers no `Any`,
    `TYPE_CHECKING`, `importlib` or submodules loaded along the way."""
    dunders = {name for name in globals() if name.startswith("__") and name.endswith("__")}
    return sorted({*__all__, *dunders})
