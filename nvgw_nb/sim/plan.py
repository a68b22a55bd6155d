"""What the simulator's core reads and returns: a request, and the plan of its response.

The core turns a `SimRequest` into a `SimResponse` without I/O; the adapters in `server.py`
carry the plan out. Both types are re-exported by `nvgw_nb.sim.core`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SimRequest", "SimResponse"]


@dataclass(frozen=True)
class SimRequest:
    """An HTTP request as the core sees it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class SimResponse:
    """A response plan.

    `delay_s` comes before the status line; `chunks` (delay, bytes) follow the headers
    instead of `body`; `abort` cuts the connection after the data without a clean end;
    `stall` never answers (the adapter holds until the client gives up).
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    delay_s: float = 0.0
    chunks: list[tuple[float, bytes]] | None = None
    abort: bool = False
    stall: bool = False
