"""Test-local helpers shared by the provider unit tests."""

from __future__ import annotations

import httpx
from httpx_sse import EventSource


def sse_events(raw: str) -> list[tuple[str, str]]:
    """(event, data) pairs of a raw SSE body, as httpx-sse decodes them."""
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=raw.encode()
    )
    return [(e.event, e.data) for e in EventSource(response).iter_sse()]
