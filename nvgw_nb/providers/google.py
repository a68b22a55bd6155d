"""Google's Gemini API, generativelanguage `v1beta` (WIRE.md §5).

`POST {base_url}/{api_version}/models/{model}:generateContent`, or
`:streamGenerateContent?alt=sse` when streaming. The key is applied as
`x-goog-api-key` by the Session's auth — never as `?key=`, which would put it in
every logged URL (FAULTS.md "Secrets").

>>> p = GoogleProvider(base_url="https://generativelanguage.googleapis.com")
>>> request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
>>> p.build_request(request, "gemini-2.0-flash").url.path
'/v1beta/models/gemini-2.0-flash:generateContent'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from nvgw_nb.errors import (
    BadRequest,
    ConfigError,
    ContextTooLong,
    MalformedResponse,
    ModelNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    ServerError,
    ToolCallError,
)
from nvgw_nb.providers.base import Provider, RawToolCall, Reply, StreamParser, first_header
from nvgw_nb.providers.openai_format import read_json
from nvgw_nb.results import ChatRequest, Message, Usage
from nvgw_nb.retry import parse_retry_after

__all__ = ["GoogleProvider", "GoogleStreamParser", "gemini_schema", "parse_duration"]

_NAME = "google-genai"
_MAX_MESSAGE = 300

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_BAD_TOOL_CALL = frozenset(
    {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"}
)
_SERVER_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


class GoogleProvider(Provider):
    """`google-genai`: Gemini's generateContent, JSON or SSE of whole responses."""

    name = _NAME
    key_variable = "GOOGLE_API_KEY"

    def __init__(self, *, base_url: str, api_version: str = "v1beta") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")

    def build_request(self, request: ChatRequest, model: str) -> httpx.Request:
        model_id = model.removeprefix("models/")
        method = "streamGenerateContent" if request.stream else "generateContent"
        return httpx.Request(
            "POST",
            f"{self.base_url}/{self.api_version}/models/{model_id}:{method}",
            # Without alt=sse the stream endpoint answers one JSON array (WIRE.md §5.1).
            params={"alt": "sse"} if request.stream else None,
            json=request_body(request),
            headers={"Accept": "text/event-stream" if request.stream else "application/json"},
        )

    def parse_response(self, response: httpx.Response) -> Reply:
        return parse_generate_content(read_json(response, self.name))

    def stream_parser(self) -> StreamParser:
        return GoogleStreamParser()

    def request_id(self, response: httpx.Response) -> str | None:
        # Gemini sends no documented request-id header; `responseId` is only in the body.
        return first_header(response, "x-request-id")

    def status_error(self, response: httpx.Response, model: str) -> ProviderError:
        return status_error(response, model=model, request_id=self.request_id(response))


# --- request ----------------------------------------------------------------------------
def request_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a generateContent request (the model is in the URL)."""
    system, contents = _contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config: dict[str, Any] = {}
    for key, name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("max_tokens", "maxOutputTokens"),
        ("stop", "stopSequences"),
        ("seed", "seed"),
    ):
        value = getattr(request, key)
        if value is not None:
            config[name] = value
    if request.response_format:
        schema = request.json_schema
        if schema is not None or request.response_format.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
        if schema is not None:
            config["responseSchema"] = gemini_schema(schema)
    if config:
        body["generationConfig"] = config
    return body


def _contents(messages: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, user/model turns with consecutive same-role turns merged)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the functionResponse
    for index, message in enumerate(messages):
        parts: list[dict[str, Any]] = []
        if message.role in ("system", "developer"):
            if message.content:
                system.append({"text": message.content})
            continue
        if message.role == "tool":
            role = "user"
            name = names.get(message.tool_call_id or "") or message.name
            if name is None:
                raise ConfigError(
                    f"messages[{index}]: tool_call_id {message.tool_call_id!r} answers no "
                    "earlier assistant tool call, and Gemini needs the function's name"
                )
            parts.append(
                {"functionResponse": {"name": name, "response": _tool_response(message.content)}}
            )
        else:
            role = "model" if message.role == "assistant" else "user"
            if message.content:
                parts.append({"text": message.content})
            for call in message.tool_calls or ():
                names[call.id] = call.name
                # No `id`: Gemini's ids are optional and ours may be synthesized elsewhere.
                parts.append({"functionCall": {"name": call.name, "args": call.arguments}})
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            # Several tool results answer one model turn: Gemini wants them in one turn.
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _tool_response(content: str | None) -> dict[str, Any]:
    """`functionResponse.response` must be an object: the tool's JSON object, or wrapped text."""
    text = content or ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"content": text}


def _declaration(tool: Mapping[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    out: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    if isinstance(parameters, dict):
        converted = gemini_schema(parameters)
        # Gemini rejects an OBJECT with no properties; a tool without arguments omits them.
        if converted.get("properties"):
            out["parameters"] = converted
    return out


def _calling_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    name = choice if isinstance(choice, str) else (choice.get("function") or {}).get("name")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


# --- JSON Schema → Gemini's OpenAPI-subset Schema ---------------------------------------
_TYPES = {
    "object": "OBJECT",
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
}
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_KEPT = ("description", "enum", "minItems", "maxItems", "minimum", "maximum")


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a JSON Schema to the Schema Gemini takes for tools and `responseSchema`.

    Types become upper case, `type: [x, "null"]` and `anyOf: [x, {type: null}]` become
    `nullable`, local `$ref`s are inlined (Gemini has no `$defs`), `const` becomes a
    one-value `enum`, and keywords Gemini rejects (`additionalProperties`, `$schema`,
    `default`, `title`, unsupported `format`s, …) are dropped.

    >>> gemini_schema({"type": "object", "properties": {"n": {"type": ["integer", "null"]}},
    ...                "additionalProperties": False})
    {'type': 'OBJECT', 'properties': {'n': {'type': 'INTEGER', 'nullable': True}}}
    """
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), Mapping):
            defs.update(schema[key])
    return _convert(schema, defs, frozenset())


def _convert(
    schema: Mapping[str, Any], defs: Mapping[str, Any], seen: frozenset[str]
) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        # A recursive or unresolvable reference cannot be expressed: keep only the siblings.
        base = (
            {}
            if name in seen or not isinstance(target, Mapping)
            else _convert(target, defs, seen | {name})
        )
        return {**base, **_convert(siblings, defs, seen)}
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True
    for part in schema.get("allOf") or ():  # pydantic wraps a described $ref in allOf
        if isinstance(part, Mapping):
            out.update(_convert(part, defs, seen))
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if isinstance(v, Mapping) and v.get("type") != "null"]
        nullable = nullable or len(kept) < len(variants)
        if len(kept) == 1:
            out.update(_convert(kept[0], defs, seen))
        elif kept:
            out["anyOf"] = [_convert(v, defs, seen) for v in kept]
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kinds = [k for k in kind if k != "null"]
        if len(kinds) == 1:
            kind = kinds[0]
        else:
            kind = None
            if kinds:
                out["anyOf"] = [{"type": _TYPES[k]} for k in kinds if k in _TYPES]
    if kind == "null":
        nullable, kind = True, None
    if kind is None and "properties" in schema:
        kind = "object"
    if kind is None and "items" in schema:
        kind = "array"
    if isinstance(kind, str) and kind.lower() in _TYPES:
        out["type"] = _TYPES[kind.lower()]
    if schema.get("format") in _FORMATS.get(str(out.get("type")), ()):
        out["format"] = schema["format"]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key in _KEPT:
        if key in schema:
            out[key] = schema[key]
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        out["properties"] = {
            str(name): _convert(sub, defs, seen)
            for name, sub in properties.items()
            if isinstance(sub, Mapping)
        }
    if isinstance(schema.get("required"), list):
        out["required"] = list(schema["required"])
    if isinstance(schema.get("items"), Mapping):
        out["items"] = _convert(schema["items"], defs, seen)
    if nullable:
        out["nullable"] = True
    return out


# --- response ---------------------------------------------------------------------------
def parse_generate_content(data: Any) -> Reply:
    """A GenerateContentResponse → `Reply`; `MalformedResponse` when it is not one (B3)."""
    if not isinstance(data, dict):
        raise MalformedResponse("google-genai answered JSON that is not an object", provider=_NAME)
    if "error" in data:
        _, status, message, _ = _envelope(data)
        raise MalformedResponse(
            _clip(f"google-genai answered 200 with an error object: {message or status or '?'}"),
            provider=_NAME,
        )
    collector = _Collector()
    collector.take(data)
    if collector.finish is None and not collector.blocked and not collector.candidates:
        raise MalformedResponse(
            "google-genai answered JSON without `candidates` or `promptFeedback`", provider=_NAME
        )
    return collector.reply()


class _Collector:
    """What one response (or a stream of them) said: text, calls, finishReason, usage."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[RawToolCall] = []
        self.finish: str | None = None
        self.finish_message: str | None = None
        self.blocked = False
        self.candidates = False
        self.usage: Usage | None = None
        self.model: str | None = None

    def take(self, chunk: dict[str, Any]) -> str:
        """Absorb one GenerateContentResponse; the text it added."""
        if isinstance(chunk.get("modelVersion"), str):
            self.model = chunk["modelVersion"]
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = _usage(chunk["usageMetadata"]) or self.usage
        candidates = chunk.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            feedback = chunk.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                self.blocked = True
            return ""
        self.candidates = True
        candidate = candidates[0] if isinstance(candidates[0], dict) else {}
        added: list[str] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("thought") is True:
                continue  # thought summaries are not part of the answer
            if isinstance(part.get("text"), str):
                added.append(part["text"])
            call = part.get("functionCall")
            if isinstance(call, dict):
                call_id = call.get("id")
                self.calls.append(
                    RawToolCall(
                        # Gemini rarely sends ids; synthesize one, stable within the response.
                        id=call_id if isinstance(call_id, str) and call_id else _call_id(self),
                        name=call.get("name") if isinstance(call.get("name"), str) else None,
                        arguments=_arguments(call.get("args")),
                    )
                )
        if candidate.get("finishReason"):
            self.finish = str(candidate["finishReason"])
            message = candidate.get("finishMessage")
            self.finish_message = message if isinstance(message, str) else None
        self.text.extend(added)
        return "".join(added)

    def reply(self) -> Reply:
        if self.blocked and not self.candidates:
            # The prompt itself was blocked: 200, no candidates (WIRE.md §5.2).
            return Reply(
                content="", finish_reason="content_filter", usage=self.usage, model=self.model
            )
        return Reply(
            content="".join(self.text),
            finish_reason=self._finish_reason(),
            tool_calls=list(self.calls),
            usage=self.usage,
            model=self.model,
        )

    def _finish_reason(self) -> str:
        reason = self.finish
        if reason in _BAD_TOOL_CALL:
            detail = f": {self.finish_message}" if self.finish_message else ""
            raise ToolCallError(
                _clip(f"google-genai stopped with finishReason {reason}{detail}"),
                tool_name=None,
                provider=_NAME,
            )
        if reason == "MAX_TOKENS":
            return "length"
        if reason in _FILTERED:
            return "content_filter"
        # STOP, and unknown values treated as OTHER: a normal stop. Gemini has no
        # tool-specific reason; function-call parts are what make it a tool turn.
        return "tool_calls" if self.calls else "stop"


def _call_id(collector: _Collector) -> str:
    return f"call_{len(collector.calls)}"


def _arguments(value: Any) -> str | Mapping[str, Any] | None:
    """`args` as given: an object normally; anything else stays visible to the engine."""
    if value is None or isinstance(value, str | Mapping):
        return value
    return json.dumps(value)


def _usage(meta: dict[str, Any]) -> Usage | None:
    try:
        # Tool-use prompt tokens are input; thinking tokens are billed as output.
        prompt = int(meta.get("promptTokenCount") or 0) + int(
            meta.get("toolUsePromptTokenCount") or 0
        )
        completion = int(meta.get("candidatesTokenCount") or 0) + int(
            meta.get("thoughtsTokenCount") or 0
        )
        total = int(meta.get("totalTokenCount") or prompt + completion)
    except (TypeError, ValueError):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


# --- stream -----------------------------------------------------------------------------
class GoogleStreamParser(StreamParser):
    """Each `data:` is a whole GenerateContentResponse with only the new text; no `[DONE]`."""

    def __init__(self) -> None:
        self._collector = _Collector()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: str, data: str) -> str | None:
        try:
            payload = json.loads(data)
        except ValueError:
            raise MalformedResponse(
                "google-genai sent a stream event that is not JSON", provider=_NAME
            ) from None
        # Without alt=sse a chunk may be an array of responses; accept both.
        chunks = payload if isinstance(payload, list) else [payload]
        added: list[str] = []
        for chunk in chunks:
            if not isinstance(chunk, dict):
                raise MalformedResponse(
                    "google-genai sent a stream event that is not an object", provider=_NAME
                )
            if "error" in chunk:
                raise _stream_error(chunk)
            added.append(self._collector.take(chunk))
        if self._collector.finish is not None or self._collector.blocked:
            self._done = True
        text = "".join(added)
        return text or None

    def reply(self) -> Reply:
        if self._collector.finish is None and not self._collector.blocked:
            raise MalformedResponse(
                "google-genai ended the stream without a finishReason", provider=_NAME
            )
        return self._collector.reply()


# --- errors -----------------------------------------------------------------------------
def _envelope(data: Any) -> tuple[int | None, str | None, str | None, list[Any]]:
    """(code, status, message, details) of the Google RPC envelope (WIRE.md §5.4)."""
    if isinstance(data, list) and data:
        data = data[0]  # the stream endpoint without alt=sse wraps errors in an array
    inner = data.get("error") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return None, None, None, []
    code = inner.get("code")
    status = inner.get("status")
    message = inner.get("message")
    details = inner.get("details")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        status if isinstance(status, str) else None,
        message[:_MAX_MESSAGE] if isinstance(message, str) else None,
        details if isinstance(details, list) else [],
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON ("37s", "0.5s") as seconds; None if it is not one."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, Mapping):  # {"seconds": "37", "nanos": 0}, seen from some proxies
        try:
            return float(value.get("seconds") or 0) + int(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _detail(details: list[Any], kind: str) -> list[dict[str, Any]]:
    return [
        d
        for d in details
        if isinstance(d, dict) and str(d.get("@type", "")).endswith(f"google.rpc.{kind}")
    ]


def _retry_delay(details: list[Any]) -> float | None:
    for info in _detail(details, "RetryInfo"):
        seconds = parse_duration(info.get("retryDelay"))
        if seconds is not None:
            return seconds
    return None


def _daily_quota(details: list[Any]) -> bool:
    """A per-day quota: waiting seconds will not clear it (WIRE.md §5.4)."""
    for failure in _detail(details, "QuotaFailure"):
        for violation in failure.get("violations") or ():
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _api_key_invalid(details: list[Any]) -> bool:
    return any(info.get("reason") == "API_KEY_INVALID" for info in _detail(details, "ErrorInfo"))


def _too_long(message: str | None) -> bool:
    # "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    lowered = (message or "").lower()
    return any(
        phrase in lowered
        for phrase in ("exceeds the maximum number of tokens", "too long", "token limit")
    )


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _stream_error(chunk: dict[str, Any]) -> ProviderError:
    """`data: {"error": …}` after the 200."""
    code, status, message, details = _envelope(chunk)
    text = _clip(
        f"google-genai reported {status or code or 'an error'} mid-stream: "
        f"{message or 'no message'}"
    )
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return RateLimited(text, retry_after_s=_retry_delay(details), provider=_NAME)
    if (code is not None and code >= 500) or status in _SERVER_STATUSES:
        return ServerError(text, provider=_NAME)
    return ProviderStatusError(text, provider=_NAME)


def status_error(response: httpx.Response, *, model: str, request_id: str | None) -> ProviderError:
    """The error for a non-2xx generateContent response (FAULTS.md N1, R1, X1-X4)."""
    status = response.status_code
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        data = None
    _, rpc_status, message, details = _envelope(data)
    said = f" {rpc_status}" if rpc_status else ""
    said += f": {message}" if message else ""
    common: dict[str, Any] = {"provider": _NAME, "status_code": status, "request_id": request_id}
    if status == 429:
        wait = _retry_delay(details)
        if wait is None:
            wait = parse_retry_after(response.headers)
        waited = f" (retry after {wait:g}s)" if wait is not None else ""
        limited = RateLimited(
            _clip(f"google-genai rate-limited the request{waited}{said}"),
            retry_after_s=wait,
            **common,
        )
        if _daily_quota(details):
            limited.retries = 0
        return limited
    if status in (401, 403) or (status == 400 and _api_key_invalid(details)):
        return ProviderAuthError(
            f"google-genai refused access (HTTP {status}{', ' + rpc_status if rpc_status else ''})"
            ": check GOOGLE_API_KEY",
            **common,
        )
    if status == 413 or (status == 400 and _too_long(message)):
        return ContextTooLong(
            _clip(f"google-genai: the input is too long for {model}{said}"), **common
        )
    if status == 400 and rpc_status == "FAILED_PRECONDITION":
        # e.g. "User location is not supported": this provider cannot serve us, another may.
        refused = ProviderStatusError(
            _clip(f"google-genai cannot serve the request (HTTP 400){said}"), **common
        )
        refused.retries = 0
        return refused
    if status == 400:
        return BadRequest(_clip(f"google-genai rejected the request (HTTP 400){said}"), **common)
    if status == 404:
        return ModelNotFound(
            _clip(f"google-genai has no model {model!r} (HTTP 404){said}"), **common
        )
    if status >= 500:
        return ServerError(_clip(f"google-genai answered HTTP {status}{said}"), **common)
    error = ProviderStatusError(_clip(f"google-genai answered HTTP {status}{said}"), **common)
    if status not in (408, 409):
        error.retries = 0
    return error
