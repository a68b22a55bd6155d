"""Anthropic's Messages API.

`POST {base_url}/v1/messages` with an `anthropic-version` header; the key is applied as
`x-api-key` by the Session's auth, never here. The OpenAI-shaped `ChatRequest` is
translated: system text goes top level, tool calls and results become `tool_use` /
`tool_result` blocks, and turns alternate user/assistant as the API requires.

>>> p = AnthropicProvider(base_url="https://api.anthropic.com")
>>> request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
>>> p.build_request(request, "claude-sonnet-4-5").headers["anthropic-version"]
'2023-06-01'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from nvgw_nb.errors import (
    MalformedResponse,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    ServerError,
    UnsupportedParameter,
)
from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser, first_header
from nvgw_nb.providers.http_status import (
    HttpFailure,
    classify,
    clip,
    key_hint,
    parse_retry_after,
)
from nvgw_nb.providers.openai_format import read_json, unreadable_event, usage_of
from nvgw_nb.results import ChatRequest, Message, Usage
from nvgw_nb.untrusted import UnreadableJson, cut, loads, token_count

__all__ = ["JSON_SCHEMA_MARKER", "AnthropicProvider", "AnthropicStreamParser"]

#: the line appended to `system` for structured output; the simulator looks for it
JSON_SCHEMA_MARKER = "Respond with only a JSON document matching this JSON schema:"
#: Anthropic requires max_tokens; used when the request has none
DEFAULT_MAX_TOKENS = 4096
_NAME = "anthropic"

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "model_context_window_exceeded": "length",
}
_SERVER_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "timeout_error"})


class AnthropicProvider(Provider):
    """`anthropic`: the Messages API, non-streaming JSON or named SSE events."""

    name = _NAME
    external = True
    key_variables = ("ANTHROPIC_API_KEY",)
    base_url_variable = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"
    default_models: ClassVar[Mapping[str, str]] = {
        "small": "claude-haiku-4-5",
        "large": "claude-sonnet-4-5",
    }
    setup_hint = "put ANTHROPIC_API_KEY=<a key from console.anthropic.com> in .env"
    color = "#d9773b"  # clay orange

    key_header = "x-api-key"

    def __init__(self, *, base_url: str, version: str = "2023-06-01") -> None:
        super().__init__(base_url=base_url)
        self.version = version

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/v1/messages",
            json=request_body(request, model),
            headers={
                "anthropic-version": self.version,
                "Accept": "text/event-stream" if request.stream else "application/json",
            },
        )

    def parse_response(self, response: httpx.Response) -> Reply:
        return parse_message(read_json(response, self.name))

    def stream_parser(self) -> StreamParser:
        return AnthropicStreamParser()

    def request_id(self, response: httpx.Response) -> str | None:
        return first_header(response, "request-id", "x-request-id")

    def status_error(self, response: httpx.Response, model: str) -> ProviderError:
        return classify(
            http_failure(
                response,
                model=model,
                request_id=self.request_id(response),
                auth_hint=key_hint(self.key_variables),
            )
        )


# --- request ----------------------------------------------------------------------------
def request_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The JSON body of a Messages request; `UnsupportedParameter` for what Anthropic lacks."""
    if request.temperature is not None and request.temperature > 1.0:
        raise UnsupportedParameter(
            f"anthropic accepts temperature 0-1, not {request.temperature:g}",
            provider=_NAME,
        )
    system, messages = _translate_messages(request.messages)
    instruction = _json_instruction(request.response_format)
    if instruction:
        system.append(instruction)
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    # `seed` is dropped: the Messages API has no seed parameter and rejects unknown fields,
    # so sending it would turn a best-effort hint into a 400.
    if request.tools:
        body["tools"] = [_tool(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.stream:
        body["stream"] = True
    return body


def _translate_messages(
    messages: list[Message],
) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, alternating user/assistant turns of content blocks)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            if message.content:
                system.append(message.content)
            continue
        blocks: list[dict[str, Any]] = []
        if message.role == "tool":
            role = "user"
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.content or "",
                }
            )
        else:
            role = message.role
            # Empty text blocks are rejected by the API; an assistant turn that only calls
            # tools has content None.
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls or ():
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                )
        if turns and turns[-1]["role"] == role:
            # The API requires alternating roles: consecutive turns of one role merge
            # (several tool results answering one assistant turn become one user turn).
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _json_instruction(response_format: dict[str, Any] | None) -> str | None:
    """Anthropic has no JSON mode: ask in the system prompt; the engine validates."""
    if not response_format:
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if isinstance(schema, dict):
        return f"{JSON_SCHEMA_MARKER} {json.dumps(schema, separators=(',', ':'))}"
    if response_format.get("type") == "json_object":
        return "Respond with only a JSON document."
    return None


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    out["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    name = choice if isinstance(choice, str) else (choice.get("function") or {}).get("name")
    return {"type": "tool", "name": name}


# --- response ---------------------------------------------------------------------------
def parse_message(data: Any) -> Reply:
    """A Messages `message` object → `Reply`; `MalformedResponse` when it is not one (B3)."""
    if not isinstance(data, dict):
        raise MalformedResponse("anthropic answered JSON that is not an object", provider=_NAME)
    if data.get("type") == "error":
        kind, message = _error_detail(data)
        raise MalformedResponse(
            clip(f"anthropic answered 200 with an error object: {message or kind or '?'}"),
            provider=_NAME,
        )
    content = data.get("content")
    if not isinstance(content, list):
        raise MalformedResponse("anthropic answered JSON without `content`", provider=_NAME)
    text: list[str] = []
    calls: list[RawToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text.append(block["text"])
        elif block.get("type") == "tool_use":
            calls.append(
                RawToolCall(
                    id=_str_or_none(block.get("id")),
                    name=_str_or_none(block.get("name")),
                    arguments=_arguments(block.get("input")),
                )
            )
    model = data.get("model")
    return Reply(
        content="".join(text),
        finish_reason=_finish_reason(data.get("stop_reason")),
        tool_calls=calls,
        usage=_usage(data.get("usage")),
        model=model if isinstance(model, str) else None,
    )


def _finish_reason(stop_reason: Any) -> str:
    # Unknown (and `pause_turn`, which only server-side tools produce): a normal stop.
    return _STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _arguments(value: Any) -> str | Mapping[str, Any] | None:
    """`input` as it came: an object normally, a string from a broken upstream."""
    if value is None or isinstance(value, str | Mapping):
        return value
    # A list or number is not an object either; keep it visible to the engine as JSON text.
    return json.dumps(value)


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    # `input_tokens` excludes cached tokens; count them as prompt like OpenAI does.
    inputs = [
        token_count(data.get(key))
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if None in inputs:
        return None  # not a count: missing, so the engine estimates it
    return usage_of(sum(n or 0 for n in inputs), data.get("output_tokens"))


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- stream -----------------------------------------------------------------------------
class AnthropicStreamParser(StreamParser):
    """Accumulates the named events of Anthropic's stream until `message_stop`."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._tools: dict[int, dict[str, Any]] = {}
        self._stop_reason: Any = None
        self._input_usage: dict[str, Any] = {}
        self._output_tokens: int | None = None
        self._model: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        if event == "ping":
            return None  # keep-alive; its data is not parsed (as in the official SDK)
        try:
            payload = loads(data)
        except UnreadableJson as err:
            raise unreadable_event(_NAME, err) from None
        if not isinstance(payload, dict):
            raise MalformedResponse(
                "anthropic sent a stream event that is not an object", provider=_NAME
            )
        # httpx-sse reports an unnamed event as "message"; the data repeats the name.
        kind = event if event and event != "message" else payload.get("type")
        if kind == "error":
            raise _stream_error(payload)
        if kind == "message_start":
            self._start(payload.get("message"))
        elif kind == "content_block_start":
            return self._block_start(payload)
        elif kind == "content_block_delta":
            return self._block_delta(payload)
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._stop_reason = delta["stop_reason"]
            self._update_usage(payload.get("usage"))
        elif kind == "message_stop":
            self._done = True
        # content_block_stop, ping with another name, and future events carry nothing we need
        return None

    def _start(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if isinstance(message.get("model"), str):
            self._model = message["model"]
        self._update_usage(message.get("usage"))

    def _update_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
            if usage.get(key) is not None:
                self._input_usage[key] = usage[key]
        if usage.get("output_tokens") is not None:
            # cumulative in message_delta, so the last value wins
            self._output_tokens = usage["output_tokens"]

    def _block_start(self, payload: dict[str, Any]) -> str | None:
        block = payload.get("content_block")
        if not isinstance(block, dict):
            return None
        if block.get("type") == "text":
            return self._add_text(block.get("text"))
        if block.get("type") == "tool_use":
            self._tools[_index(payload)] = {
                "id": _str_or_none(block.get("id")),
                "name": _str_or_none(block.get("name")),
                "start": block.get("input"),
                "parts": [],
            }
        return None

    def _block_delta(self, payload: dict[str, Any]) -> str | None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return None
        if delta.get("type") == "text_delta":
            return self._add_text(delta.get("text"))
        if delta.get("type") == "input_json_delta":
            slot = self._tools.setdefault(
                _index(payload), {"id": None, "name": None, "start": None, "parts": []}
            )
            if isinstance(delta.get("partial_json"), str):
                slot["parts"].append(delta["partial_json"])
        return None  # thinking / signature / citation deltas are not shown

    def _add_text(self, text: Any) -> str | None:
        if not isinstance(text, str) or not text:
            return None
        self._text.append(text)
        return text

    def reply(self) -> Reply:
        if not self._done:
            raise MalformedResponse(
                "anthropic ended the stream before message_stop", provider=_NAME
            )
        calls = []
        for _, slot in sorted(self._tools.items()):
            arguments: str | Mapping[str, Any] | None = "".join(slot["parts"])
            if not slot["parts"] and slot["start"]:
                arguments = _arguments(slot["start"])  # input given whole, with no deltas
            calls.append(RawToolCall(id=slot["id"], name=slot["name"], arguments=arguments))
        usage = None
        if self._input_usage or self._output_tokens is not None:
            usage = _usage({**self._input_usage, "output_tokens": self._output_tokens})
        return Reply(
            content="".join(self._text),
            finish_reason=_finish_reason(self._stop_reason),
            tool_calls=calls,
            usage=usage,
            model=self._model,
        )


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) else 0


def _stream_error(payload: dict[str, Any]) -> ProviderError:
    """`event: error` after a 200 (e.g. overloaded mid-stream)."""
    kind, message = _error_detail(payload)
    text = clip(f"anthropic reported {kind or 'an error'} mid-stream: {message or 'no message'}")
    if kind == "rate_limit_error":
        return RateLimited(text, retry_after_s=None, provider=_NAME)
    if kind in _SERVER_ERROR_TYPES:
        return ServerError(text, provider=_NAME)
    return ProviderStatusError(text, provider=_NAME)


# --- errors -----------------------------------------------------------------------------
def _error_detail(data: Any) -> tuple[str | None, str | None]:
    """(error.type, error.message) of the §4.4 body."""
    inner = data.get("error") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return None, None
    kind, message = inner.get("type"), inner.get("message")
    return (
        cut(kind) if isinstance(kind, str) else None,
        cut(message) if isinstance(message, str) else None,
    )


def _is_prompt_too_long(message: str | None) -> bool:
    # "prompt is too long: 208000 tokens > 200000 maximum", and "input length and
    # `max_tokens` exceed context limit: …" when the two together do not fit.
    lowered = (message or "").lower()
    return "prompt is too long" in lowered or "exceed context limit" in lowered


def http_failure(
    response: httpx.Response, *, model: str, request_id: str | None, auth_hint: str
) -> HttpFailure:
    """What a non-2xx Messages response says (§4.4: `error.type` and `error.message`)."""
    try:
        data = loads(response.content)
    except UnreadableJson:  # not JSON, or too deep: the status alone decides
        data = None
    kind, message = _error_detail(data)
    if request_id is None and isinstance(data, dict) and isinstance(data.get("request_id"), str):
        request_id = cut(data["request_id"])
    return HttpFailure(
        provider=_NAME,
        model=model,
        status=response.status_code,
        auth_hint=auth_hint,
        request_id=request_id,
        error_type=kind,
        message=message,
        retry_after_s=parse_retry_after(response.headers),
        context_too_long=response.status_code == 400 and _is_prompt_too_long(message),
        server_fault=kind in _SERVER_ERROR_TYPES,  # 529 overloaded_error is the busy signal
    )
