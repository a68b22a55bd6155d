"""The OpenAI chat completions API (`api.openai.com/v1`) as the simulator speaks it.

The body is the one NIM and the gateway accept, so requests go through `chat_request.py`;
what differs is rendered here: dated model names, `refusal` / `annotations`, usage details,
`service_tier`, the `{"error": {message, type, param, code}}` envelope, `x-request-id` and
the `x-ratelimit-*` family. Shares no code with the SDK.
"""

from __future__ import annotations

import hashlib
import json
import random
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
    "error",
    "go_duration",
    "incorrect_key",
    "missing_key",
    "model_not_found",
    "rate_headers",
    "rate_limited",
    "request_id",
]

MODELS: Mapping[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
}
"""Model aliases and the dated snapshot the response names."""

NOMINAL_RPM = 5000  # a tier-2-ish request quota: a modelling guess, shown in x-ratelimit-*
_NOMINAL_TPM = 800_000
_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


def request_id() -> str:
    """A fresh `x-request-id` (`req_<hex32>`)."""
    return "req_" + secrets.token_hex(16)


def go_duration(seconds: float) -> str:
    """A Go-style duration as OpenAI's reset headers use it: `17ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60.0)
    tail = wire.fmt_seconds(round(secs, 3)) + "s"
    return f"{int(minutes)}m{tail}" if minutes else tail


# --------------------------------------------------------------------- errors


def error(
    status: int,
    message: str,
    kind: str,
    param: str | None = None,
    code: str | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> SimResponse:
    """The OpenAI error envelope."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return wire.json_response(status, body, headers)


def missing_key() -> SimResponse:
    """401 for a request without a bearer key."""
    return error(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error",
    )


def incorrect_key(provided: str) -> SimResponse:
    """401 for a wrong key; like the real API it shows only the key's ends."""
    shown = provided[:3] + "*" * max(4, len(provided) - 7) + provided[-4:]
    if len(provided) < 12:
        shown = "*" * len(provided)
    return error(
        401,
        f"Incorrect API key provided: {shown}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        code="invalid_api_key",
    )


def model_not_found(model: str) -> SimResponse:
    """404 for an unknown model."""
    return error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def rate_headers(remaining: int, reset_s: float) -> list[tuple[str, str]]:
    """The `x-ratelimit-*` family of a response."""
    return [
        ("x-ratelimit-limit-requests", str(NOMINAL_RPM)),
        ("x-ratelimit-limit-tokens", str(_NOMINAL_TPM)),
        ("x-ratelimit-remaining-requests", str(remaining)),
        ("x-ratelimit-remaining-tokens", str(remaining * _NOMINAL_TPM // NOMINAL_RPM)),
        ("x-ratelimit-reset-requests", go_duration(reset_s)),
        ("x-ratelimit-reset-tokens", go_duration(reset_s)),
    ]


def rate_limited(model: str, nominal_s: float, retry_after: str) -> SimResponse:
    """429 `rate_limit_exceeded`; the message names `nominal_s`, `retry_after` is the header."""
    message = (
        f"Rate limit reached for {model} in organization org-simulator on requests per min "
        f"(RPM): Limit {NOMINAL_RPM}, Used {NOMINAL_RPM}, Requested 1. Please try again in "
        f"{wire.fmt_seconds(nominal_s)}s. Visit https://platform.openai.com/account/rate-limits "
        "to learn more."
    )
    headers = [*rate_headers(0, nominal_s), ("retry-after", retry_after)]
    return error(429, message, "requests", code="rate_limit_exceeded", headers=headers)


def fault_response(
    chat: SimChat, fault: str | None, variant: int, provider_down: bool, time_scale: float
) -> SimResponse | None:
    """N1, R1, R2, X1-X4 in OpenAI's shapes, else None."""
    if fault == "N1":
        if provider_down or variant % 2 == 1:
            return error(
                503,
                "The engine is currently overloaded, please try again later.",
                "server_error",
            )
        return error(500, _SERVER_ERROR, "server_error")
    if fault == "R1":
        return rate_limited(chat.model, 1.0, wire.fmt_seconds(1.0 * time_scale))
    if fault == "R2":
        resp = rate_limited(chat.model, 30.0, wire.fmt_seconds(30.0 * time_scale))
        resp.headers.append(("retry-after-ms", wire.fmt_seconds(200.0 * time_scale)))
        return resp
    if fault == "X1":
        return error(
            400, "Unrecognized request argument supplied: logit_bias", "invalid_request_error"
        )
    if fault == "X2":
        return model_not_found(chat.model)
    if fault == "X3":
        used = content.prompt_tokens(chat.body["messages"]) + 128_000
        return error(
            400,
            "This model's maximum context length is 128000 tokens. However, your messages "
            f"resulted in {used} tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "messages",
            "context_length_exceeded",
        )
    if fault == "X4":
        if variant % 2 == 0:
            return error(
                401,
                "You have insufficient permissions for this operation. Missing scopes: "
                "model.request. Check that you have the correct role in your organization.",
                "invalid_request_error",
            )
        return error(
            403,
            "Country, region, or territory not supported",
            "request_forbidden",
            code="unsupported_country_region_territory",
        )
    return None


# --------------------------------------------------------------------- answers


def _response_id(rng: random.Random) -> str:
    return "chatcmpl-" + "".join(rng.choices(string.ascii_letters + string.digits, k=29))


def _fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def _usage(usage: dict[str, int]) -> dict[str, JSON]:
    return {
        **usage,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _answer_headers(
    chat: SimChat, seconds: float, rng: random.Random, fault: str | None
) -> list[tuple[str, str]]:
    return [("openai-processing-ms", str(round(seconds * 1000))), ("openai-version", "2020-10-01")]


def _stream_headers(chat: SimChat) -> list[tuple[str, str]]:
    return list(wire.SSE_HEADERS)


def document(chat: SimChat, reply: SimReply) -> dict[str, JSON]:
    """A `chat.completion`."""
    answer = reply.answer
    message: dict[str, JSON] = {
        "role": "assistant",
        "content": answer.content,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
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
            }
        ],
        "usage": _usage(reply.usage),
        "service_tier": "default",
        "system_fingerprint": _fingerprint(chat.served_model),
    }


def stream_events(chat: SimChat, reply: SimReply) -> tuple[Events, int, int]:
    """`chat.completion.chunk` events, span of the content events."""
    answer = reply.answer

    def chunk(delta: dict[str, JSON], finish: str | None) -> bytes:
        obj: dict[str, JSON] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": chat.served_model,
            "service_tier": "default",
            "system_fingerprint": _fingerprint(chat.served_model),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if chat.include_usage:
            obj["usage"] = None
        return wire.sse(obj)

    events: Events = []
    if answer.tool_calls:
        for i, call in enumerate(answer.tool_calls):
            head = {"index": i, "id": call.id, "type": "function"}
            first = {**head, "function": {"name": call.name, "arguments": ""}}
            opening: dict[str, JSON] = {"tool_calls": [first]}
            if i == 0:
                opening = {"role": "assistant", "content": None, **opening}
            events.append((0, chunk(opening, None)))
            for piece in wire.arg_pieces(call.arguments):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                events.append((content.count_tokens(piece), chunk(delta, None)))
        start = 1
    else:
        events.append((0, chunk({"role": "assistant", "content": "", "refusal": None}, None)))
        start = 1
        for piece in content.split_pieces(answer.content or ""):
            events.append((max(1, content.count_tokens(piece)), chunk({"content": piece}, None)))
    end = len(events)
    events.append((0, chunk({}, answer.finish_reason)))
    if chat.include_usage:
        final = json.loads(chunk({}, None)[6:])
        final["choices"], final["usage"] = [], _usage(reply.usage)
        events.append((0, wire.sse(final)))
    events.append((0, wire.SSE_DONE))
    return events, start, end


# --------------------------------------------------------------------- B3


def _server_error() -> dict[str, JSON]:
    return {"message": _SERVER_ERROR, "type": "server_error", "param": None, "code": None}


b3_document, b3_stream = wire.completion_b3(_server_error)

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
"""How the OpenAI API renders answers."""
