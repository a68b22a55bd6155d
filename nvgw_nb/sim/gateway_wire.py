"""The NVIDIA LLM Gateway as the simulator speaks it: Azure OpenAI behind APIM.

Azure's error envelope (`{"error": {code, message}}`, `code` always a string) and its
pass-through of OpenAI's 400s, content-filter results on the prompt, every choice and every
stream chunk, `system_fingerprint`, and a stream that opens with the prompt's filter
results. Requests are read by `chat_request.py`. Shares no code with the SDK.
"""

from __future__ import annotations

import hashlib
import random
import string

from nvgw_nb.sim import content, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.rendering import Dialect, SimReply
from nvgw_nb.sim.wire import JSON, Events

__all__ = [
    "DIALECT",
    "azure_error",
    "deployment_not_found",
    "invalid_request",
    "rate_limited",
    "unauthorized",
]

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


# --------------------------------------------------------------------- errors


def azure_error(status: int, code: str, message: str, **fields: JSON) -> SimResponse:
    """Azure OpenAI error envelope; `code` is always a string."""
    return wire.json_response(status, {"error": {"code": code, "message": message, **fields}})


def invalid_request(message: str, param: str | None, code: str | None) -> SimResponse:
    """The OpenAI-style 400 `invalid_request_error` that Azure passes through."""
    return wire.json_response(
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


def unauthorized() -> SimResponse:
    """The gateway's 401 for a missing, unknown or expired bearer token."""
    return azure_error(401, "401", "Access denied due to invalid or expired token.")


def rate_limited(seconds: int, retry_after: str) -> SimResponse:
    """Azure's 429; the message names `seconds`, `retry_after` is the header (none if empty)."""
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


def fault_response(
    chat: SimChat, fault: str | None, variant: int, provider_down: bool, time_scale: float
) -> SimResponse | None:
    """N1, R1, R2, X1-X4 and G1 in Azure's and APIM's shapes, else None.

    `provider_down` tells a profile's outage (503) from a one-off server error (N1).
    """
    if fault == "N1":
        if provider_down:
            return azure_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unable to process your request. "
                "Please try again later.",
            )
        return azure_error(
            500,
            "InternalServerError",
            "The server had an error while processing your request. Sorry about that!",
        )
    if fault == "R1":
        return rate_limited(1, wire.fmt_seconds(1.0 * time_scale))
    if fault == "R2":
        resp = rate_limited(30, "")
        resp.headers += [
            ("retry-after-ms", wire.fmt_seconds(200.0 * time_scale)),
            ("retry-after", wire.fmt_seconds(30.0 * time_scale)),
        ]
        return resp
    if fault == "X1":
        return invalid_request("Unrecognized request argument supplied: logit_bias", None, None)
    if fault == "X2":
        return deployment_not_found()
    if fault == "X3":
        used = content.prompt_tokens(chat.body["messages"]) + 131_072
        return invalid_request(
            "This model's maximum context length is 128000 tokens. "
            f"However, your messages resulted in {used} tokens. "
            "Please reduce the length of the messages.",
            "messages",
            "context_length_exceeded",
        )
    if fault == "X4":
        if variant % 2 == 0:
            return azure_error(
                403, "PermissionDenied", "Principal does not have access to API/Operation."
            )
        quota = "Out of call volume quota. Quota will be replenished in 00:00:59."
        return wire.json_response(403, {"statusCode": 403, "message": quota})
    if fault == "G1":
        return unauthorized()
    return None


# --------------------------------------------------------------------- answers


def _response_id(rng: random.Random) -> str:
    """Azure ids are `chatcmpl-<alnum29>`."""
    return "chatcmpl-" + "".join(rng.choices(string.ascii_letters + string.digits, k=29))


def _fingerprint(model: str) -> str:
    return "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10]


def _choice_filter(answer: Answer) -> dict[str, JSON]:
    # Azure says which filter fired exactly when it stopped the answer for it.
    return _FILTERED if answer.finish_reason == "content_filter" else _CHOICE_FILTER


def _answer_headers(
    chat: SimChat, seconds: float, rng: random.Random, fault: str | None
) -> list[tuple[str, str]]:
    return []  # APIM's request id and rate headers come with the route (SimChat.extra_headers)


def _stream_headers(chat: SimChat) -> list[tuple[str, str]]:
    return list(wire.SSE_HEADERS)


def document(chat: SimChat, reply: SimReply) -> dict[str, JSON]:
    """An Azure `chat.completion` with its content-filter results."""
    answer = reply.answer
    message: dict[str, JSON] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    model = chat.served_model
    return {
        "choices": [
            {
                "content_filter_results": _choice_filter(answer),
                "finish_reason": answer.finish_reason,
                "index": 0,
                "logprobs": None,
                "message": message,
            }
        ],
        "created": reply.created,
        "id": reply.response_id,
        "model": model,
        "object": "chat.completion",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}],
        "system_fingerprint": _fingerprint(model),
        "usage": reply.usage,
    }


def stream_events(chat: SimChat, reply: SimReply) -> tuple[Events, int, int]:
    """Azure `chat.completion.chunk` events, opened by the prompt's filter results, with the
    index of the first content event and the index just past the last one."""
    answer = reply.answer
    model = chat.served_model

    def chunk(delta: dict[str, JSON], finish: str | None, cfr: JSON = None) -> bytes:
        choice: dict[str, JSON] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
            "content_filter_results": cfr if cfr is not None else {},
        }
        obj: dict[str, JSON] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": model,
            "choices": [choice],
            "system_fingerprint": _fingerprint(model),
        }
        if chat.include_usage:
            obj["usage"] = None
        return wire.sse(obj)

    prompt_filter = [{"prompt_index": 0, "content_filter_results": _PROMPT_FILTER}]
    opening = {"choices": [], "created": 0, "id": "", "model": "", "object": ""}
    events: Events = [(0, wire.sse({**opening, "prompt_filter_results": prompt_filter}))]
    if answer.tool_calls:
        prologue = len(events) + 1  # after the chunk that opens the first call
        events += wire.tool_call_events(answer, lambda delta: chunk(delta, None))
    else:
        events.append((0, chunk({"role": "assistant", "content": ""}, None)))
        prologue = len(events)
        for piece in content.split_pieces(answer.content or ""):
            delta = {"content": piece}
            events.append((max(1, content.count_tokens(piece)), chunk(delta, None, _CHUNK_FILTER)))
    content_end = len(events)
    final_cfr = _FILTERED if answer.finish_reason == "content_filter" else {}
    events.append((0, chunk({}, answer.finish_reason, final_cfr)))
    if chat.include_usage:
        obj: dict[str, JSON] = {
            "id": reply.response_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": model,
            "choices": [],
            "usage": reply.usage,
            "system_fingerprint": _fingerprint(model),
        }
        events.append((0, wire.sse(obj)))
    events.append((0, wire.SSE_DONE))
    return events, prologue, content_end


# --------------------------------------------------------------------- B3


def _error_object() -> dict[str, JSON]:
    """The in-band error Azure sends with status 200 (B3)."""
    return {"code": "InternalServerError", "message": "The model produced an invalid response."}


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
"""How the LLM Gateway (Azure OpenAI) renders answers."""
