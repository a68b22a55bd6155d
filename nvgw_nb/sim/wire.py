"""What every wire format the simulator speaks shares: JSON and SSE framing, and the pieces
of the OpenAI-style chat completion that NIM, the gateway and OpenAI have in common.

Each provider's own shapes live in its dialect module (`nim_wire.py`, `gateway_wire.py`,
`openai_wire.py`, `anthropic_wire.py`, `gemini_wire.py`) and the token endpoint's in
`starfleet_wire.py`. Like the rest of the simulator it shares no code with the SDK.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from nvgw_nb.sim import content
from nvgw_nb.sim.content import Answer
from nvgw_nb.sim.plan import SimResponse

__all__ = [
    "JSON",
    "SSE_DONE",
    "SSE_HEADERS",
    "Events",
    "arg_pieces",
    "b3_completion_document",
    "b3_completion_stream",
    "count_usage",
    "dumps",
    "fmt_seconds",
    "json_response",
    "sse",
    "sso_login_page",
    "tool_call_events",
]

JSON = Any
Events = list[tuple[int, bytes]]  # SSE events as (tokens generated before it, bytes)

SSE_DONE = b"data: [DONE]\n\n"
SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
)

_SSO_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    b'<body><form method="post" action="/sso/login">'
    b"<p>Your session has expired. Please sign in to continue.</p>"
    b'<input type="hidden" name="RelayState" value="sim"/></form></body></html>\n'
)

# --------------------------------------------------------------------- formatting


def dumps(obj: JSON) -> bytes:
    """Compact UTF-8 JSON, as the providers send it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(
    status: int,
    obj: JSON,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> SimResponse:
    """A complete JSON response with a true Content-Length."""
    body = dumps(obj)
    return SimResponse(
        status,
        [("content-type", content_type), ("content-length", str(len(body))), *(headers or [])],
        body,
    )


def sse(obj: JSON) -> bytes:
    """One server-sent event carrying `obj`."""
    return b"data: " + dumps(obj) + b"\n\n"


def fmt_seconds(value: float) -> str:
    """Seconds for a retry header: an integer when integral, else a short decimal."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def sso_login_page(content_type: str) -> SimResponse:
    """A 200 HTML sign-in page: what a proxy serves when it intercepts an API call."""
    return SimResponse(
        200, [("content-type", content_type), ("content-length", str(len(_SSO_PAGE)))], _SSO_PAGE
    )


# --------------------------------------------------------------------- chat completions


def count_usage(messages: list[dict[str, Any]], answer: Answer) -> dict[str, int]:
    """The `usage` object: prompt, completion and total tokens (OpenAI's names)."""
    prompt = content.prompt_tokens(messages)
    text = answer.content or ""
    text += "".join(c.name + c.arguments for c in answer.tool_calls)
    completion = content.count_tokens(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def arg_pieces(arguments: str) -> list[str]:
    """Tool-call arguments in about four stream deltas."""
    if not arguments:
        return []
    size = max(1, math.ceil(len(arguments) / 4))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def tool_call_events(answer: Answer, chunk: Callable[[dict[str, JSON]], bytes]) -> Events:
    """Streamed tool calls as vLLM and Azure send them, each delta framed by `chunk`.

    The first event opens the assistant message with the first call's id and name; each
    further call opens with its own; the arguments follow in about four deltas per call.
    """
    opening = [
        {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
        for i, c in enumerate(answer.tool_calls)
    ]
    events: Events = [(0, chunk({"role": "assistant", "content": None, "tool_calls": opening[:1]}))]
    for i, call in enumerate(answer.tool_calls):
        if i > 0:
            events.append((0, chunk({"tool_calls": [opening[i]]})))
        for piece in arg_pieces(call.arguments):
            delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
            events.append((content.count_tokens(piece), chunk(delta)))
    return events


def completion_b3(
    error: Callable[[], dict[str, JSON]],
) -> tuple[
    Callable[[Any, dict[str, JSON], int], dict[str, JSON]],
    Callable[[Any, Events, int, int], Events],
]:
    """A chat-completion dialect's B3 renderers (document, stream), with `error()` as the
    in-band error object of the variants that send one."""

    def document(chat: Any, doc: dict[str, JSON], variant: int) -> dict[str, JSON]:
        return b3_completion_document(doc, variant, error())

    def stream(chat: Any, events: Events, prologue: int, variant: int) -> Events:
        return b3_completion_stream(events, prologue, variant, error())

    return document, stream


def b3_completion_document(
    doc: dict[str, JSON], variant: int, error: dict[str, JSON]
) -> dict[str, JSON]:
    """B3 on a `chat.completion`: no `choices`, or `{"error": error}`, alternating by variant."""
    if variant % 2 == 0:
        return {k: v for k, v in doc.items() if k != "choices"}
    return {"error": error}


def b3_completion_stream(
    events: Events, prologue: int, variant: int, error: dict[str, JSON]
) -> Events:
    """B3 on a chunk stream: an `{"error": error}` event after the prologue, or every chunk
    without `choices`, alternating by variant."""
    if variant % 2 == 1:
        return [*events[:prologue], (0, sse({"error": error})), (0, SSE_DONE)]
    out: Events = []
    for tokens, data in events:
        if data.startswith(b"data: {"):
            obj = json.loads(data[6:])
            obj.pop("choices", None)
            data = sse(obj)
        out.append((tokens, data))
    return out
