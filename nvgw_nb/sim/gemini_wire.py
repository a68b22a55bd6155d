"""The Gemini API (generativelanguage `v1beta`) as the simulator speaks it.

Answers are `GenerateContentResponse`s: `candidates[].content.parts` (text, or
`functionCall` with an `args` object and no id), `finishReason`, `usageMetadata` (zero
counts omitted, as proto3 JSON does), `modelVersion`, `responseId`. A stream is a series of
whole responses each holding only the new text, framed as SSE (`alt=sse`, CRLF separators,
no `[DONE]`, the connection just closes) or as one JSON array (no `alt`). Errors use the
Google RPC envelope; the retry hint of a 429 is `RetryInfo.retryDelay` in the body, never
a `Retry-After` header. Requests are translated by `gemini_request.py`.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping

from nvgw_nb.sim import content, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.rendering import Dialect, SimReply
from nvgw_nb.sim.wire import JSON, Events

__all__ = [
    "API_VERSIONS",
    "DIALECT",
    "MODELS",
    "NOMINAL_RPM",
    "error",
    "invalid_key",
    "key_in_query",
    "missing_key",
    "model_not_found",
    "rate_limited",
    "retry_delay",
]

MODELS: tuple[str, ...] = ("gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro")
API_VERSIONS: tuple[str, ...] = ("v1", "v1beta")
"""`v1beta` is what nvgw_nb uses; google-genai's default is `v1`."""

NOMINAL_RPM = 2000  # a modelling guess
_THINKING = ("gemini-2.5-flash", "gemini-2.5-pro")  # they report thoughtsTokenCount
_CODES: Mapping[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_FINISH: Mapping[str, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "tool_calls": "STOP",  # Gemini has no tool-specific finish reason
    "content_filter": "SAFETY",
}
_SSE_END = b"\r\n\r\n"  # observed, not documented; clients must parse both
_HELP = "https://ai.google.dev/gemini-api/docs/rate-limits"
_INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


def retry_delay(seconds: float) -> str:
    """A protobuf Duration string: `37s`, `0.37s`."""
    return wire.fmt_seconds(round(seconds, 6)) + "s"


# --------------------------------------------------------------------- errors


def error(status: str, message: str, details: list[JSON] | None = None) -> SimResponse:
    """The Google RPC error envelope; `status` is the canonical code name."""
    code = _CODES[status]
    err: dict[str, JSON] = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return wire.json_response(code, {"error": err}, content_type="application/json; charset=UTF-8")


def _error_info(reason: str) -> dict[str, JSON]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }


def key_in_query() -> SimResponse:
    """The simulator's 400 for `?key=`: keys in URLs end up in logs and proxies."""
    return error(
        "INVALID_ARGUMENT",
        "API key passed in the URL query (?key=): the nvgw_nb simulator refuses keys in URLs. "
        "Send it in the x-goog-api-key header.",
        [_error_info("API_KEY_IN_QUERY")],
    )


def missing_key() -> SimResponse:
    """403 for a request without any credential."""
    return error(
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def invalid_key() -> SimResponse:
    """Gemini answers a wrong key with 400 `API_KEY_INVALID`, not 401."""
    return error(
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            _error_info("API_KEY_INVALID"),
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    )


def model_not_found(model: str, version: str = "v1beta") -> SimResponse:
    """404 for an unknown model."""
    return error(
        "NOT_FOUND",
        f"models/{model} is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def rate_limited(model: str, delay: str) -> SimResponse:
    """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo (`delay`, e.g. "37s")."""
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "quotaDimensions": {"location": "global", "model": model},
        "quotaValue": str(NOMINAL_RPM),
    }
    return error(
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For "
        f"more information on this error, head to: {_HELP}.",
        [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas", "url": _HELP}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
        ],
    )


def fault_response(
    chat: SimChat, fault: str | None, variant: int, provider_down: bool, time_scale: float
) -> SimResponse | None:
    """N1, R1, X1-X4 in Gemini's shapes, else None (R2 does not apply to Gemini)."""
    if fault == "N1":
        return error("UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault == "R1":
        return rate_limited(chat.model, retry_delay(1.0 * time_scale))
    if fault == "X1":
        message = 'Invalid JSON payload received. Unknown name "logit_bias": Cannot find field.'
        violation = {"description": message}
        details = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        ]
        return error("INVALID_ARGUMENT", message, details)
    if fault == "X2":
        return model_not_found(chat.model)
    if fault == "X3":
        used = content.prompt_tokens(chat.body["messages"]) + 1_048_576
        return error(
            "INVALID_ARGUMENT",
            f"The input token count ({used}) exceeds the maximum number of tokens allowed "
            "(1048576).",
        )
    if fault == "X4":
        if variant % 2 == 0:
            message = "Your API key was reported as leaked. Please use another API key."
            return error("PERMISSION_DENIED", message)
        return invalid_key()
    return None


# --------------------------------------------------------------------- answers


def _response_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=22))


def _usage(chat: SimChat, usage: dict[str, int], *, final: bool) -> dict[str, JSON]:
    """usageMetadata; zero counts are omitted, as in proto3 JSON."""
    prompt = usage["prompt_tokens"]
    out: dict[str, JSON] = {"promptTokenCount": prompt}
    total = prompt
    if final:
        candidates = usage["completion_tokens"]
        if candidates:
            out["candidatesTokenCount"] = candidates
        if chat.model in _THINKING:
            out["thoughtsTokenCount"] = 8 + 2 * candidates
        total = prompt + candidates + out.get("thoughtsTokenCount", 0)
    out["totalTokenCount"] = total
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    return out


def _args(arguments: str) -> dict[str, JSON] | None:
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _candidate(reply: SimReply, parts: list[dict[str, JSON]], finish: bool) -> dict[str, JSON]:
    """One candidate holding `parts`; `finish` adds the finishReason (and safety ratings)."""
    answer = reply.answer
    calls = [(c.name, _args(c.arguments)) for c in answer.tool_calls]
    if finish and any(args is None for _, args in calls):
        # B4: the model's call could not be parsed; Gemini drops it and says so.
        name = calls[0][0]
        return {
            "finishReason": "MALFORMED_FUNCTION_CALL",
            "finishMessage": f"Malformed function call: {name}(",
            "index": 0,
        }
    candidate: dict[str, JSON] = {"content": {"role": "model"}}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    if finish:
        reason = _FINISH.get(answer.finish_reason, "OTHER")
        candidate["finishReason"] = reason
        if reason == "SAFETY":
            candidate["safetyRatings"] = [
                {
                    "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                    "probability": "HIGH",
                    "blocked": True,
                },
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
            ]
    candidate["index"] = 0
    return candidate


def _call_parts(reply: SimReply) -> list[dict[str, JSON]]:
    return [
        {"functionCall": {"name": c.name, "args": _args(c.arguments) or {}}}
        for c in reply.answer.tool_calls
    ]


def _response(chat: SimChat, reply: SimReply, candidate: JSON, final: bool) -> dict[str, JSON]:
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(chat, reply.usage, final=final),
        "modelVersion": chat.served_model,
        "responseId": reply.response_id,
    }


def document(chat: SimChat, reply: SimReply) -> dict[str, JSON]:
    """A `GenerateContentResponse`."""
    text = reply.answer.content
    parts = [{"text": text}] if text else _call_parts(reply)
    return _response(chat, reply, _candidate(reply, parts, True), True)


def _frame(chat: SimChat, obj: JSON, first: bool) -> bytes:
    if chat.framing == "json-array":
        return (b"[" if first else b",\r\n") + wire.dumps(obj)
    return b"data: " + wire.dumps(obj) + _SSE_END


def _unframe(data: bytes) -> JSON:
    text = data.strip()
    text = text.removeprefix(b"data: ").removeprefix(b"[").removeprefix(b",")
    return json.loads(text) if text.strip() not in (b"", b"]") else None


def stream_events(chat: SimChat, reply: SimReply) -> tuple[Events, int, int]:
    """Whole responses with only the new text; the last carries finishReason and usage."""
    answer = reply.answer
    if answer.tool_calls:  # a function call arrives whole, in one response
        pieces: list[list[dict[str, JSON]]] = [_call_parts(reply)]
    else:
        pieces = [[{"text": p}] for p in content.split_pieces(answer.content or "")] or [[]]
    events: Events = []
    for i, parts in enumerate(pieces):
        last = i == len(pieces) - 1
        obj = _response(chat, reply, _candidate(reply, parts, last), last)
        tokens = sum(content.count_tokens(str(p.get("text", ""))) for p in parts)
        events.append((max(1, tokens) if parts else 0, _frame(chat, obj, i == 0)))
    end = len(events) - 1 if len(events) > 1 else len(events)
    if chat.framing == "json-array":
        events.append((0, b"]"))
    return events, 0, end


def _answer_headers(
    chat: SimChat, seconds: float, rng: random.Random, fault: str | None
) -> list[tuple[str, str]]:
    return [("server-timing", f"gfet4t7; dur={round(seconds * 1000)}")]


def _stream_headers(chat: SimChat) -> list[tuple[str, str]]:
    if chat.framing == "json-array":
        return [("content-type", "application/json; charset=UTF-8")]
    return [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


# --------------------------------------------------------------------- B3


def _internal() -> dict[str, JSON]:
    return {"error": {"code": 500, "message": _INTERNAL, "status": "INTERNAL"}}


def b3_document(chat: SimChat, doc: dict[str, JSON], variant: int) -> dict[str, JSON]:
    """A response without `candidates`, or an error object with status 200."""
    if variant % 2 == 0:
        return {k: v for k, v in doc.items() if k != "candidates"}
    return _internal()


def b3_stream(chat: SimChat, events: Events, prologue: int, variant: int) -> Events:
    """Responses without `candidates`, or an error object first (undocumented, observed)."""
    closing: Events = [(0, b"]")] if chat.framing == "json-array" else []
    if variant % 2 == 1:
        return [(0, _frame(chat, _internal(), True)), *closing]
    out: Events = []
    for i, (tokens, data) in enumerate(events):
        obj = _unframe(data)
        if obj is None:
            continue
        obj.pop("candidates", None)
        out.append((tokens, _frame(chat, obj, i == 0)))
    return [*out, *closing]


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
"""How the Gemini API renders answers."""
