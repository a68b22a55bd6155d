"""NVIDIA NIM as the simulator speaks it: NVCF in front of a vLLM container.

NVCF's platform errors are RFC 7807 problem details, its 401 is a bare challenge, and its
answers carry `nvcf-reqid` / `nvcf-status` (a 202 to poll under N2); the container's own
errors and completions have vLLM's layout (`chatcmpl-<hex32>`, `stop_reason`, no filters).
Requests are read by `chat_request.py`. Shares no code with the SDK.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from nvgw_nb.sim import content, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.rendering import Dialect, SimReply
from nvgw_nb.sim.wire import JSON, Events

__all__ = [
    "DIALECT",
    "REQUEST_ID_HEADER",
    "model_list",
    "problem",
    "unauthorized",
    "vllm_error",
]

REQUEST_ID_HEADER = "nvcf-reqid"
"""The header that names an NVCF request (the id a 202 is polled by)."""

_CREATED = 735790403


# --------------------------------------------------------------------- errors


def problem(status: int, title: str, detail: str | None = None, **extra: str) -> SimResponse:
    """NVCF platform error: RFC 7807 problem details."""
    obj: dict[str, JSON] = {"status": status, "title": title}
    if detail is not None:
        obj["detail"] = detail
    return wire.json_response(status, obj, list(extra.items()), "application/problem+json")


def vllm_error(message: str, status: int = 400) -> SimResponse:
    """Model-container error passed through by NIM."""
    kind = "BadRequestError" if status == 400 else "InternalServerError"
    return wire.json_response(
        status,
        {"object": "error", "message": message, "type": kind, "param": None, "code": status},
    )


def unauthorized(description: str) -> SimResponse:
    """NVCF's 401: no JSON body, only the challenge header."""
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return SimResponse(401, [("www-authenticate", challenge), ("content-length", "0")])


def model_list(models: Sequence[str]) -> SimResponse:
    """NIM's `GET /v1/models` answer; `owned_by` is the id's organisation ("meta", "nvidia")."""
    data = [
        {
            "id": m,
            "object": "model",
            "created": _CREATED,
            "owned_by": m.partition("/")[0],
            "root": m,
        }
        for m in models
    ]
    return wire.json_response(200, {"object": "list", "data": data})


def fault_response(
    chat: SimChat, fault: str | None, variant: int, provider_down: bool, time_scale: float
) -> SimResponse | None:
    """N1, R1, R2, X1-X4 in NVCF's and vLLM's shapes, else None."""
    if fault == "N1":
        return problem(
            503,
            "Service Unavailable",
            "Worker local total request limit reached (33/32)",
            **{REQUEST_ID_HEADER: str(uuid.uuid4()), "nvcf-status": "errored"},
        )
    if fault == "R1":
        resp = problem(429, "Too Many Requests")
        resp.headers.append(("retry-after", wire.fmt_seconds(1.0 * time_scale)))
        return resp
    if fault == "R2":
        resp = problem(429, "Too Many Requests")
        resp.headers += [
            ("retry-after-ms", wire.fmt_seconds(200.0 * time_scale)),
            ("retry-after", wire.fmt_seconds(30.0 * time_scale)),
        ]
        return resp
    if fault == "X1":
        return vllm_error("Unsupported parameter: 'logit_bias' is not supported.")
    if fault == "X2":
        return problem(
            404, "Not Found", f"Function '{uuid.uuid4()}': Not found for account 'sim-account'"
        )
    if fault == "X3":
        used = content.prompt_tokens(chat.body["messages"]) + 131_072
        return problem(
            413,
            "Payload Too Large",
            f"This model's maximum context length is 131072 tokens. However, you "
            f"requested {used} tokens. Please reduce the length of the messages.",
        )
    if fault == "X4":
        if variant % 2 == 0:
            return unauthorized("Bearer token is not authorized for this function")
        return problem(403, "Forbidden", "Authorization failed")
    return None


# --------------------------------------------------------------------- answers


def _response_id(rng: random.Random) -> str:
    """vLLM ids are `chatcmpl-<hex32>`."""
    return "chatcmpl-" + "".join(rng.choices("0123456789abcdef", k=32))


def _answer_headers(
    chat: SimChat, seconds: float, rng: random.Random, fault: str | None
) -> list[tuple[str, str]]:
    """NVCF's request id (drawn from `rng`) and status: in progress under N2 (a 202)."""
    reqid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return [
        (REQUEST_ID_HEADER, reqid),
        ("nvcf-status", "in-progress" if fault == "N2" else "fulfilled"),
        ("access-control-expose-headers", REQUEST_ID_HEADER),
    ]


def _stream_headers(chat: SimChat) -> list[tuple[str, str]]:
    return list(wire.SSE_HEADERS)


def document(chat: SimChat, reply: SimReply) -> dict[str, JSON]:
    """A vLLM `chat.completion`."""
    answer = reply.answer
    tool_calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in answer.tool_calls
    ] or None
    message = {"role": "assistant", "content": answer.content, "tool_calls": tool_calls}
    return {
        "id": reply.response_id,
        "object": "chat.completion",
        "created": reply.created,
        "model": chat.served_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
                "stop_reason": None,
            }
        ],
        "usage": reply.usage,
    }


def stream_events(chat: SimChat, reply: SimReply) -> tuple[Events, int, int]:
    """vLLM `chat.completion.chunk` events, with the index of the first content event and
    the index just past the last one."""
    answer = reply.answer

    def chunk(delta: dict[str, JSON], finish: str | None) -> bytes:
        choice: dict[str, JSON] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        obj: dict[str, JSON] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": chat.served_model,
            "choices": [choice],
        }
        if chat.include_usage:
            obj["usage"] = None
        return wire.sse(obj)

    events: Events = []
    if answer.tool_calls:
        prologue = len(events) + 1  # after the chunk that opens the first call
        events += wire.tool_call_events(answer, lambda delta: chunk(delta, None))
    else:
        events.append((0, chunk({"role": "assistant", "content": ""}, None)))
        prologue = len(events)
        for piece in content.split_pieces(answer.content or ""):
            events.append((max(1, content.count_tokens(piece)), chunk({"content": piece}, None)))
    content_end = len(events)
    events.append((0, chunk({}, answer.finish_reason)))
    if chat.include_usage:
        obj: dict[str, JSON] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": chat.served_model,
            "choices": [],
            "usage": reply.usage,
        }
        events.append((0, wire.sse(obj)))
    events.append((0, wire.SSE_DONE))
    return events, prologue, content_end


# --------------------------------------------------------------------- B3


def _error_object() -> dict[str, JSON]:
    """The in-band error vLLM sends with status 200 (B3)."""
    return {
        "object": "error",
        "message": "Internal server error",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }


b3_document, b3_stream = wire.completion_b3(_error_object)

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
"""How NIM renders answers."""
