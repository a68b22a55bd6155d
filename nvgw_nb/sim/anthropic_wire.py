"""The Anthropic Messages API (`api.anthropic.com/v1/messages`) as the simulator speaks it.

The wire format: content blocks, `tool_use` with an `input` object, `stop_reason`,
`input_tokens` / `output_tokens`, named SSE events in a fixed order with `ping`s, the
`{"type": "error", "error": {type, message}, "request_id"}` envelope (529 when overloaded),
and `request-id` on every response. Requests are translated by `anthropic_request.py`.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import string
from collections.abc import Mapping

from nvgw_nb.sim import content, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.rendering import Dialect, SimReply
from nvgw_nb.sim.wire import JSON, Events

__all__ = [
    "DIALECT",
    "MODELS",
    "NOMINAL_RPM",
    "VERSIONS",
    "error",
    "rate_headers",
    "rate_limited",
    "request_id",
    "version_ok",
]

MODELS: Mapping[str, str] = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}
"""Model aliases and the dated model the response names."""

VERSIONS: tuple[str, ...] = ("2023-01-01", "2023-06-01")
"""The documented `anthropic-version` values; later dated versions are accepted too."""

NOMINAL_RPM = 4000  # a modelling guess, shown in anthropic-ratelimit-*
_NOMINAL_TPM = 400_000
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_STOP_REASONS: Mapping[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def version_ok(version: str) -> bool:
    """Whether `anthropic-version` is one the API accepts: a known one or a later date.

    Newer SDKs send newer versions (anthropic 2.x sends a 2026 date) [U: the real API's
    list of accepted versions is not published].
    """
    if version in VERSIONS:
        return True
    return bool(re.fullmatch(r"20\d\d-[01]\d-[0-3]\d", version)) and version > VERSIONS[-1]


def request_id() -> str:
    """A fresh `request-id` (`req_011C…`)."""
    return "req_011C" + "".join(secrets.choice(_BASE58) for _ in range(20))


# --------------------------------------------------------------------- errors


def error(status: int, kind: str, message: str, rid: str) -> SimResponse:
    """The Anthropic error envelope, with its `request-id` header."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": rid}
    return wire.json_response(status, body, [("request-id", rid)])


def rate_headers(remaining: int, reset: str) -> list[tuple[str, str]]:
    """The `anthropic-ratelimit-*` family; `reset` is an RFC 3339 timestamp."""
    tokens = remaining * _NOMINAL_TPM // NOMINAL_RPM
    headers = [
        ("anthropic-ratelimit-requests-limit", str(NOMINAL_RPM)),
        ("anthropic-ratelimit-requests-remaining", str(remaining)),
        ("anthropic-ratelimit-requests-reset", reset),
    ]
    for family in ("tokens", "input-tokens", "output-tokens"):
        headers += [
            (f"anthropic-ratelimit-{family}-limit", str(_NOMINAL_TPM)),
            (f"anthropic-ratelimit-{family}-remaining", str(tokens)),
            (f"anthropic-ratelimit-{family}-reset", reset),
        ]
    return headers


def rate_limited(rid: str, retry_after: str) -> SimResponse:
    """429 `rate_limit_error` with `retry-after` (seconds)."""
    resp = error(
        429,
        "rate_limit_error",
        f"This request would exceed the rate limit for your organization of {NOMINAL_RPM:,} "
        "requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
        "You can see the response headers for current usage. Please reduce the prompt length "
        "or the maximum tokens requested, or try again later.",
        rid,
    )
    resp.headers += [("retry-after", retry_after), ("anthropic-ratelimit-requests-remaining", "0")]
    return resp


def _rid(chat: SimChat) -> str:
    return next((v for k, v in chat.extra_headers if k == "request-id"), "") or request_id()


def fault_response(
    chat: SimChat, fault: str | None, variant: int, provider_down: bool, time_scale: float
) -> SimResponse | None:
    """N1, R1, R2, X1-X4 in Anthropic's shapes, else None."""
    rid = _rid(chat)
    if fault == "N1":
        if provider_down or variant % 2 == 0:
            return error(529, "overloaded_error", "Overloaded", rid)
        return error(500, "api_error", "Internal server error", rid)
    if fault == "R1":
        return rate_limited(rid, wire.fmt_seconds(1.0 * time_scale))
    if fault == "R2":
        resp = rate_limited(rid, wire.fmt_seconds(30.0 * time_scale))
        resp.headers.append(("retry-after-ms", wire.fmt_seconds(200.0 * time_scale)))
        return resp
    if fault == "X1":
        return error(
            400, "invalid_request_error", "logit_bias: Extra inputs are not permitted", rid
        )
    if fault == "X2":
        return error(404, "not_found_error", f"model: {chat.model}", rid)
    if fault == "X3":
        if variant % 2 == 0:
            used = content.prompt_tokens(chat.body["messages"]) + 200_000
            message = f"prompt is too long: {used} tokens > 200000 maximum"
            return error(400, "invalid_request_error", message, rid)
        message = "Request exceeds the maximum allowed number of bytes."
        return error(413, "request_too_large", message, rid)
    if fault == "X4":
        if variant % 2 == 0:
            return error(401, "authentication_error", "invalid x-api-key", rid)
        message = "Your API key does not have permission to use the specified resource."
        return error(403, "permission_error", message, rid)
    return None


# --------------------------------------------------------------------- answers


def _response_id(rng: random.Random) -> str:
    return "msg_01" + "".join(rng.choices(string.ascii_letters + string.digits, k=22))


def _usage(usage: dict[str, int], *, output: int | None = None) -> dict[str, JSON]:
    return {
        "input_tokens": usage["prompt_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": usage["completion_tokens"] if output is None else output,
        "service_tier": "standard",
    }


def _tool_input(arguments: str) -> JSON:
    """The `input` object; arguments that are not a JSON object stay a string (B4)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return value if isinstance(value, dict) else arguments


def _blocks(reply: SimReply) -> list[dict[str, JSON]]:
    answer = reply.answer
    blocks: list[dict[str, JSON]] = []
    if answer.content:
        blocks.append({"type": "text", "text": answer.content})
    for call in answer.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": _tool_input(call.arguments),
            }
        )
    return blocks


def document(chat: SimChat, reply: SimReply) -> dict[str, JSON]:
    """A `message`."""
    return {
        "id": reply.response_id,
        "type": "message",
        "role": "assistant",
        "model": chat.served_model,
        "content": _blocks(reply),
        "stop_reason": _STOP_REASONS.get(reply.answer.finish_reason, "end_turn"),
        "stop_sequence": None,
        "usage": _usage(reply.usage),
    }


def _event(name: str, obj: JSON) -> bytes:
    return f"event: {name}\n".encode() + wire.sse(obj)


def _parse_event(data: bytes) -> tuple[str, JSON]:
    head, _, rest = data.partition(b"\ndata: ")
    return head.decode().removeprefix("event: "), json.loads(rest)


def stream_events(chat: SimChat, reply: SimReply) -> tuple[Events, int, int]:
    """Named events in the API's order, span of the content deltas."""
    message = {**document(chat, reply), "content": [], "stop_reason": None}
    message["usage"] = _usage(reply.usage, output=1)
    events: Events = [(0, _event("message_start", {"type": "message_start", "message": message}))]
    start = end = 0
    for index, block in enumerate(_blocks(reply)):
        if block["type"] == "text":
            opening: dict[str, JSON] = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": p} for p in content.split_pieces(block["text"])
            ]
        else:
            opening = {**block, "input": {}}
            raw = block["input"] if isinstance(block["input"], str) else json.dumps(block["input"])
            pieces = ["", *wire.arg_pieces(raw)]  # the first delta is often empty
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        start_event = {"type": "content_block_start", "index": index, "content_block": opening}
        events.append((0, _event("content_block_start", start_event)))
        if index == 0:
            events.append((0, _event("ping", {"type": "ping"})))
            start = len(events)
        for delta in deltas:
            piece = str(delta.get("text", delta.get("partial_json", "")))
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append((content.count_tokens(piece), _event("content_block_delta", event)))
        end = len(events)
        stop = {"type": "content_block_stop", "index": index}
        events.append((0, _event("content_block_stop", stop)))
    if not start:
        start = end = len(events)
    stop_reason = _STOP_REASONS.get(reply.answer.finish_reason, "end_turn")
    message_delta: dict[str, JSON] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": reply.usage["completion_tokens"]},
    }
    events.append((0, _event("message_delta", message_delta)))
    events.append((0, _event("message_stop", {"type": "message_stop"})))
    return events, start, end


def _answer_headers(
    chat: SimChat, seconds: float, rng: random.Random, fault: str | None
) -> list[tuple[str, str]]:
    return []


def _stream_headers(chat: SimChat) -> list[tuple[str, str]]:
    return list(wire.SSE_HEADERS)


# --------------------------------------------------------------------- B3


def _api_error(chat: SimChat) -> dict[str, JSON]:
    return {
        "type": "error",
        "error": {"type": "api_error", "message": "Internal server error"},
        "request_id": _rid(chat),
    }


def b3_document(chat: SimChat, doc: dict[str, JSON], variant: int) -> dict[str, JSON]:
    """A message without `content`, or an error object with status 200."""
    if variant % 2 == 0:
        return {k: v for k, v in doc.items() if k != "content"}
    return _api_error(chat)


def b3_stream(chat: SimChat, events: Events, prologue: int, variant: int) -> Events:
    """A stream whose message has no content at all, or an `error` event after the opening."""
    if variant % 2 == 1:
        error_event = {k: v for k, v in _api_error(chat).items() if k != "request_id"}
        return [*events[:prologue], (0, _event("error", error_event))]
    out: Events = []
    for tokens, data in events:
        name, obj = _parse_event(data)
        if name.startswith("content_block") or name == "ping":
            continue
        if name == "message_start":
            obj["message"].pop("content", None)
            data = _event(name, obj)
        out.append((tokens, data))
    return out


DIALECT = Dialect(
    response_id=_response_id,
    answer_headers=_answer_headers,
    stream_headers=_stream_headers,
    document=document,
    stream_events=stream_events,
    fault_response=fault_response,
    b3_document=b3_document,
    b3_stream=b3_stream,
)
"""How the Anthropic Messages API renders answers."""
