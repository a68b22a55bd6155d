"""The providers' wire shapes, as the simulator emits them: bodies, headers and SSE events.

NIM (NVCF in front of a vLLM container), Azure OpenAI behind the LLM Gateway and the
Starfleet token endpoint each have their own error envelopes and completion layout
(WIRE.md). This module only renders them; `core.py` and `faults.py` decide which one a
request gets. Like the rest of the simulator it shares no code with the SDK.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import string
from collections.abc import Sequence
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
    "azure_429",
    "azure_error",
    "completion_document",
    "completion_id",
    "count_usage",
    "deployment_not_found",
    "dumps",
    "fmt_seconds",
    "gateway_unauthorized",
    "json_response",
    "nim_model_list",
    "nim_unauthorized",
    "oauth_error",
    "openai_error",
    "problem",
    "sse",
    "sso_login_page",
    "stream_events",
    "token_grant",
    "vllm_error",
]

JSON = Any
Events = list[tuple[int, bytes]]  # SSE events as (tokens generated before it, bytes)

SSE_DONE = b"data: [DONE]\n\n"
SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
)
_NIM_CREATED = 735790403

_SAFE = {"filtered": False, "severity": "safe"}
_PROMPT_FILTER = {
    "hate": _SAFE,
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_CHOICE_FILTER = {
    "hate": _SAFE,
    "protected_material_code": {"filtered": False, "detected": False},
    "protected_material_text": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
_CHUNK_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_FILTERED = {**_CHOICE_FILTER, "violence": {"filtered": True, "severity": "medium"}}

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


# --------------------------------------------------------------------- errors


def problem(status: int, title: str, detail: str | None = None, **extra: str) -> SimResponse:
    """NVCF platform error: RFC 7807 problem details (WIRE 1.6a)."""
    obj: dict[str, JSON] = {"status": status, "title": title}
    if detail is not None:
        obj["detail"] = detail
    return json_response(status, obj, list(extra.items()), "application/problem+json")


def vllm_error(message: str, status: int = 400) -> SimResponse:
    """Model-container error passed through by NIM (WIRE 1.6b)."""
    kind = "BadRequestError" if status == 400 else "InternalServerError"
    return json_response(
        status,
        {"object": "error", "message": message, "type": kind, "param": None, "code": status},
    )


def nim_unauthorized(description: str) -> SimResponse:
    """NVCF's 401: no JSON body, only the challenge header (WIRE 1.6)."""
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return SimResponse(401, [("www-authenticate", challenge), ("content-length", "0")])


def azure_error(status: int, code: str, message: str, **fields: JSON) -> SimResponse:
    """Azure OpenAI error envelope (WIRE 2.4); `code` is always a string."""
    return json_response(status, {"error": {"code": code, "message": message, **fields}})


def openai_error(message: str, param: str | None, code: str | None) -> SimResponse:
    """The OpenAI-style 400 `invalid_request_error` that Azure passes through."""
    return json_response(
        400,
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        },
    )


def gateway_unauthorized() -> SimResponse:
    """The gateway's 401 for a missing, unknown or expired bearer token."""
    return azure_error(401, "401", "Access denied due to invalid or expired token.")


def azure_429(seconds: int, retry_after: str) -> SimResponse:
    """Azure's rate-limit answer; the message names `seconds`, `retry_after` is the header."""
    resp = azure_error(
        429,
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-12-01-preview have exceeded call rate limit of your current OpenAI S0 pricing "
        f"tier. Please retry after {seconds} second{'' if seconds == 1 else 's'}. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit.",
    )
    resp.headers.append(("x-ratelimit-remaining-requests", "0"))
    if retry_after:
        resp.headers.append(("retry-after", retry_after))
    return resp


def deployment_not_found() -> SimResponse:
    """Azure's 404 for a deployment name the resource does not have."""
    return azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    )


def oauth_error(status: int, error: str, description: str) -> SimResponse:
    """An RFC 6749 section 5.2 token-endpoint error (with a Basic challenge on 401)."""
    headers = [("www-authenticate", 'Basic realm="starfleet"')] if status == 401 else []
    headers.append(("cache-control", "no-store"))
    return json_response(status, {"error": error, "error_description": description}, headers)


# --------------------------------------------------------------------- successes


def token_grant(token: str, lifetime: float) -> SimResponse:
    """A client-credentials grant; `expires_in` is an integer when the lifetime is whole."""
    expires_in: int | float = int(lifetime) if lifetime == int(lifetime) else lifetime
    return json_response(
        200,
        {"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
        [("cache-control", "no-store"), ("pragma", "no-cache")],
    )


def nim_model_list(models: Sequence[str]) -> SimResponse:
    """NIM's `GET /v1/models` answer."""
    data = [
        {"id": m, "object": "model", "created": _NIM_CREATED, "owned_by": "meta", "root": m}
        for m in models
    ]
    return json_response(200, {"object": "list", "data": data})


def count_usage(messages: list[dict[str, Any]], answer: Answer) -> dict[str, int]:
    """The `usage` object: prompt, completion and total tokens."""
    prompt = content.prompt_tokens(messages)
    text = answer.content or ""
    text += "".join(c.name + c.arguments for c in answer.tool_calls)
    completion = content.count_tokens(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_id(rng: random.Random, provider: str) -> str:
    """vLLM ids are `chatcmpl-<hex32>`, OpenAI/Azure ids `chatcmpl-<alnum29>`."""
    if provider == "nvidia-nim":
        return "chatcmpl-" + "".join(rng.choices("0123456789abcdef", k=32))
    return "chatcmpl-" + "".join(rng.choices(string.ascii_letters + string.digits, k=29))


def _fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def _choice_filter(answer: Answer) -> dict[str, JSON]:
    # Azure says which filter fired exactly when it stopped the answer for it.
    return _FILTERED if answer.finish_reason == "content_filter" else _CHOICE_FILTER


def completion_document(
    *,
    provider: str,
    model: str,
    cid: str,
    created: int,
    answer: Answer,
    usage: dict[str, int],
) -> dict[str, JSON]:
    """A non-streamed `chat.completion` document in `provider`'s layout."""
    tool_calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in answer.tool_calls
    ] or None
    if provider == "nvidia-nim":
        message = {"role": "assistant", "content": answer.content, "tool_calls": tool_calls}
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                    "stop_reason": None,
                }
            ],
            "usage": usage,
        }
    gw_message: dict[str, JSON] = {"role": "assistant", "content": answer.content, "refusal": None}
    if tool_calls:
        gw_message["tool_calls"] = tool_calls
    return {
        "choices": [
            {
                "content_filter_results": _choice_filter(answer),
                "finish_reason": answer.finish_reason,
                "index": 0,
                "logprobs": None,
                "message": gw_message,
            }
        ],
        "created": created,
        "id": cid,
        "model": model,
        "object": "chat.completion",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}],
        "system_fingerprint": _fingerprint(model),
        "usage": usage,
    }


def stream_events(
    *,
    provider: str,
    model: str,
    cid: str,
    created: int,
    answer: Answer,
    usage: dict[str, int],
    include_usage: bool,
) -> tuple[Events, int, int]:
    """The SSE events of a streamed completion in `provider`'s layout, with the index of the
    first content event and the index just past the last one."""
    gateway = provider == "nvidia-gateway"

    def chunk(delta: dict[str, JSON], finish: str | None, cfr: JSON = None) -> bytes:
        choice: dict[str, JSON] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        obj: dict[str, JSON] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        if gateway:
            choice["content_filter_results"] = cfr if cfr is not None else {}
            obj["system_fingerprint"] = _fingerprint(model)
        if include_usage:
            obj["usage"] = None
        return sse(obj)

    events: Events = []
    if gateway:  # Azure opens every stream with the prompt's filter results
        prompt_filter = [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}]
        opening = {"choices": [], "created": 0, "id": "", "model": "", "object": ""}
        events.append((0, sse({**opening, "prompt_filter_results": prompt_filter})))
    if answer.tool_calls:
        first = [
            {
                "index": i,
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": ""},
            }
            for i, c in enumerate(answer.tool_calls)
        ]
        events.append(
            (0, chunk({"role": "assistant", "content": None, "tool_calls": first[:1]}, None))
        )
        prologue = len(events)
        for i, call in enumerate(answer.tool_calls):
            if i > 0:
                events.append((0, chunk({"tool_calls": [first[i]]}, None)))
            for piece in arg_pieces(call.arguments):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                events.append((content.count_tokens(piece), chunk(delta, None)))
    else:
        events.append((0, chunk({"role": "assistant", "content": ""}, None)))
        prologue = len(events)
        for piece in content.split_pieces(answer.content or ""):
            cfr = _CHUNK_FILTER if gateway else None
            events.append(
                (max(1, content.count_tokens(piece)), chunk({"content": piece}, None, cfr))
            )
    content_end = len(events)
    final_cfr = _FILTERED if answer.finish_reason == "content_filter" else {}
    events.append((0, chunk({}, answer.finish_reason, final_cfr)))
    if include_usage:
        obj: dict[str, JSON] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        if gateway:
            obj["system_fingerprint"] = _fingerprint(model)
        events.append((0, sse(obj)))
    events.append((0, SSE_DONE))
    return events, prologue, content_end


def arg_pieces(arguments: str) -> list[str]:
    """Tool-call arguments in about four stream deltas."""
    if not arguments:
        return []
    size = max(1, math.ceil(len(arguments) / 4))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]
