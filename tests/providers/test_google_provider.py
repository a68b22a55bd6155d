"""GoogleProvider: translation, parsing, SSE and errors (WIRE.md §5), no network."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

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
from nvgw_nb.providers import GoogleProvider
from nvgw_nb.providers.google import gemini_schema, parse_duration
from nvgw_nb.results import ChatRequest, Message, ToolCall, Usage
from tests.providers.wire import sse_events

BASE = "https://generativelanguage.google.test"
PROVIDER = GoogleProvider(base_url=BASE + "/")
MODEL = "gemini-2.0-flash"
CANARY = "hdr-canary-9b3e21"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _request(**kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message(role="user", content="hi")])
    return ChatRequest(**kwargs)


def _body(request: ChatRequest, model: str = MODEL) -> Any:
    return json.loads(PROVIDER.build_request(request, model).content)


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", f"{BASE}/v1beta/models/{MODEL}:generateContent")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def _candidate(parts: list[dict[str, Any]], finish: str | None = "STOP") -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _answer(parts: list[dict[str, Any]], finish: str | None = "STOP", **extra: Any) -> Any:
    return {
        "candidates": [_candidate(parts, finish)],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15},
        "modelVersion": MODEL,
        "responseId": "8Zc",
        **extra,
    }


# --- identity, URL and headers ------------------------------------------------------------
def test_declares_name_and_key_variable() -> None:
    """The class says who it is and which variable holds its key."""
    assert GoogleProvider.name == "google-genai"
    assert GoogleProvider.key_variables == ("GOOGLE_API_KEY",)


def test_request_url_and_headers() -> None:
    """POST {base}/{api_version}/models/{model}:generateContent; no key header here."""
    request = PROVIDER.build_request(_request(), MODEL)
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v1beta/models/{MODEL}:generateContent"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert "x-goog-api-key" not in request.headers
    assert "authorization" not in request.headers


def test_streaming_url_uses_altsse_events() -> None:
    """stream=True: :streamGenerateContent?alt=sse and the SSE accept header."""
    request = PROVIDER.build_request(_request(stream=True), MODEL)
    assert request.url.path == f"/v1beta/models/{MODEL}:streamGenerateContent"
    assert dict(request.url.params) == {"alt": "sse"}
    assert request.headers["accept"] == "text/event-stream"
    assert "stream" not in json.loads(request.content)


def test_api_version_and_models_prefix() -> None:
    """The api version follows the constructor; a "models/" prefix on the model is not doubled."""
    provider = GoogleProvider(base_url=BASE, api_version="v1")
    request = provider.build_request(_request(), "models/gemini-2.5-pro")
    assert request.url.path == "/v1/models/gemini-2.5-pro:generateContent"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", [MODEL, "models/gemini-2.5-pro", "gemini-2.5-flash-lite"])
def test_key_never_in_the_url(stream: bool, model: str) -> None:
    """No request URL this class builds has a `key` query parameter (FAULTS.md Secrets)."""
    request = PROVIDER.build_request(
        _request(stream=stream, tools=[WEATHER], temperature=0.2), model
    )
    assert "key" not in request.url.params
    assert "key=" not in str(request.url)


# --- body translation ---------------------------------------------------------------------
def test_minimal_body() -> None:
    """One user turn of text parts; nothing else."""
    assert _body(_request()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_system_and_developer_become_system_instruction() -> None:
    """System and developer texts are systemInstruction parts, not turns."""
    body = _body(
        _request(
            messages=[
                Message(role="system", content="Be brief."),
                Message(role="developer", content="Metric units."),
                Message(role="user", content="hi"),
            ]
        )
    )
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Metric units."}]
    }
    assert [c["role"] for c in body["contents"]] == ["user"]


def test_generation_config() -> None:
    """temperature, topP, maxOutputTokens, stopSequences and seed."""
    body = _body(_request(temperature=1.5, top_p=0.9, max_tokens=256, stop=["END"], seed=7))
    assert body["generationConfig"] == {
        "temperature": 1.5,
        "topP": 0.9,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "seed": 7,
    }


def test_multi_turn_with_tool_calls_and_results() -> None:
    """Assistant → model with functionCall parts; tool results → one user turn of
    functionResponse parts named after the earlier call."""
    request = _request(
        messages=[
            Message(role="system", content="You check weather."),
            Message(role="user", content="Paris and Rome?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=[
                    ToolCall(id="call_a", name="get_weather", arguments={"city": "Paris"}),
                    ToolCall(id="call_b", name="get_time", arguments={"city": "Rome"}),
                ],
            ),
            Message(role="tool", tool_call_id="call_a", content='{"temp_c": 18}'),
            Message(role="tool", tool_call_id="call_b", content="14:05"),
            Message(role="assistant", content="Paris 18; Rome 14:05."),
            Message(role="user", content="Thanks"),
        ],
        tools=[WEATHER],
    )
    body = _body(request)
    assert body["systemInstruction"] == {"parts": [{"text": "You check weather."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "14:05"}}},
            ],
        },
        {"role": "model", "parts": [{"text": "Paris 18; Rome 14:05."}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


@pytest.mark.parametrize(
    ("content", "response"),
    [
        ('{"temp_c": 18}', {"temp_c": 18}),
        ("[1, 2]", {"content": "[1, 2]"}),
        ("42", {"content": "42"}),
        ("plain text", {"content": "plain text"}),
        ("", {"content": ""}),
    ],
)
def test_function_response_is_always_an_object(content: str, response: dict[str, Any]) -> None:
    """A JSON object result is sent as is; anything else is wrapped as {"content": text}."""
    body = _body(
        _request(
            messages=[
                Message(role="user", content="go"),
                Message(role="assistant", tool_calls=[ToolCall(id="c1", name="f", arguments={})]),
                Message(role="tool", tool_call_id="c1", content=content),
            ]
        )
    )
    assert body["contents"][-1]["parts"][0]["functionResponse"] == {
        "name": "f",
        "response": response,
    }


def test_tool_result_for_an_unknown_call_uses_its_name_or_fails() -> None:
    """Gemini needs the function name: from the message's name, else a clear ConfigError."""
    named = _request(
        messages=[
            Message(role="user", content="go"),
            Message(role="tool", tool_call_id="zz", name="f", content="ok"),
        ]
    )
    assert _body(named)["contents"][0]["parts"][1]["functionResponse"]["name"] == "f"
    anonymous = _request(
        messages=[
            Message(role="user", content="go"),
            Message(role="tool", tool_call_id="zz", content="ok"),
        ]
    )
    with pytest.raises(ConfigError, match=r"messages\[1\]"):
        PROVIDER.build_request(anonymous, MODEL)


def test_tools_become_function_declarations() -> None:
    """One functionDeclarations entry; parameters converted; no-argument tools omit them."""
    bare = {
        "type": "function",
        "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
    }
    body = _body(_request(tools=[WEATHER, bare]))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING", "description": "City name"}},
                        "required": ["city"],
                    },
                },
                {"name": "now"},
            ]
        }
    ]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    """tool_choice becomes toolConfig.functionCallingConfig."""
    body = _body(_request(tools=[WEATHER], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}


def test_structured_output() -> None:
    """A json_schema response_format → responseMimeType + the converted responseSchema."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Answer",
        "type": "object",
        "properties": {"n": {"type": "integer", "default": 0}},
        "required": ["n"],
        "additionalProperties": False,
    }
    body = _body(
        _request(
            temperature=0.1,
            response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        )
    )
    assert body["generationConfig"] == {
        "temperature": 0.1,
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"n": {"type": "INTEGER"}},
            "required": ["n"],
        },
    }


def test_json_object_mode() -> None:
    """json_object (no schema): responseMimeType only."""
    body = _body(_request(response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


# --- schema conversion --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "converted"),
    [
        ({"type": "string"}, {"type": "STRING"}),
        ({"type": "number"}, {"type": "NUMBER"}),
        ({"type": "integer"}, {"type": "INTEGER"}),
        ({"type": "boolean"}, {"type": "BOOLEAN"}),
        (
            {"type": "array", "items": {"type": "string"}},
            {"type": "ARRAY", "items": {"type": "STRING"}},
        ),
        ({"type": "string", "enum": ["a", "b"]}, {"type": "STRING", "enum": ["a", "b"]}),
        ({"type": "string", "const": "x"}, {"type": "STRING", "enum": ["x"]}),
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        (
            {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None, "title": "N"},
            {"type": "INTEGER", "nullable": True},
        ),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        ),
        ({"type": "string", "nullable": True}, {"type": "STRING", "nullable": True}),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        ({"type": "string", "format": "email"}, {"type": "STRING"}),
        (
            {"type": "integer", "format": "int64", "minimum": 0},
            {"type": "INTEGER", "format": "int64", "minimum": 0},
        ),
        (
            {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
            {"type": "ARRAY", "items": {"type": "INTEGER"}, "minItems": 1, "maxItems": 3},
        ),
        (
            {
                "properties": {"a": {"type": "string", "title": "A"}},
                "additionalProperties": {"type": "string"},
            },
            {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
        ),
    ],
)
def test_gemini_schema_table(schema: dict[str, Any], converted: dict[str, Any]) -> None:
    """JSON Schema keywords map to Gemini's OpenAPI subset; rejected ones are dropped."""
    assert gemini_schema(schema) == converted


def test_gemini_schema_inlines_defs() -> None:
    """Pydantic-style $defs/$ref are inlined (Gemini has no references)."""
    schema = {
        "$defs": {
            "City": {
                "title": "City",
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            }
        },
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/City", "description": "Where you live"},
            "visited": {"type": "array", "items": {"$ref": "#/$defs/City"}},
            "maybe": {"anyOf": [{"$ref": "#/$defs/City"}, {"type": "null"}]},
        },
    }
    city = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}, "required": ["name"]}
    assert gemini_schema(schema) == {
        "type": "OBJECT",
        "properties": {
            "home": {**city, "description": "Where you live"},
            "visited": {"type": "ARRAY", "items": city},
            "maybe": {**city, "nullable": True},
        },
    }


def test_gemini_schema_survives_recursion() -> None:
    """A recursive $ref ends instead of looping forever."""
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    assert gemini_schema(schema) == {"type": "OBJECT", "properties": {"child": {}}}


# --- responses ----------------------------------------------------------------------------
def test_parse_text_usage_and_model() -> None:
    """Text parts join into content; usage and modelVersion are reported."""
    reply = PROVIDER.parse_response(
        _response(200, _answer([{"text": "Sunny"}, {"text": ", 18°C."}]))
    )
    assert reply.content == "Sunny, 18°C."
    assert reply.finish_reason == "stop"
    assert reply.model == MODEL
    assert reply.tool_calls == []
    assert reply.usage == Usage(prompt_tokens=9, completion_tokens=6, total_tokens=15)


def test_usage_counts_thoughts_as_output() -> None:
    """Thinking tokens are billed as output; tool-use prompt tokens as input."""
    meta = {
        "promptTokenCount": 10,
        "toolUsePromptTokenCount": 2,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 20,
        "totalTokenCount": 37,
    }
    reply = PROVIDER.parse_response(_response(200, _answer([{"text": "x"}], usageMetadata=meta)))
    assert reply.usage == Usage(prompt_tokens=12, completion_tokens=25, total_tokens=37)


def test_thought_parts_are_not_content() -> None:
    """Parts marked thought: true are not part of the answer."""
    body = _answer([{"text": "thinking...", "thought": True}, {"text": "answer"}])
    assert PROVIDER.parse_response(_response(200, body)).content == "answer"


def test_parse_function_calls_with_synthesized_ids() -> None:
    """functionCall parts → RawToolCalls with args as given and deterministic ids when absent."""
    body = _answer(
        [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}, "id": "g-7"}},
            {"functionCall": {"name": "now"}},
        ]
    )
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris"}),
        ("g-7", "get_weather", {"city": "Rome"}),
        ("call_2", "now", None),
    ]
    again = PROVIDER.parse_response(_response(200, body))
    assert [c.id for c in again.tool_calls] == [c.id for c in reply.tool_calls]


def test_function_call_args_pass_through_unrepaired() -> None:
    """A string or list where an object belongs is passed on for the engine to reject."""
    body = _answer(
        [
            {"functionCall": {"name": "f", "args": '{"a":'}},
            {"functionCall": {"name": "f", "args": [1]}},
        ]
    )
    calls = PROVIDER.parse_response(_response(200, body)).tool_calls
    assert [c.arguments for c in calls] == ['{"a":', "[1]"]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("OTHER", "stop"),
        ("LANGUAGE", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        ("SOMETHING_NEW", "stop"),
    ],
)
def test_finish_reason_mapping(reason: str, finish: str) -> None:
    """Every finishReason maps to one of ours; unknown values are treated as OTHER (stop)."""
    reply = PROVIDER.parse_response(_response(200, _answer([{"text": "x"}], reason)))
    assert reply.finish_reason == finish


def test_safety_stop_without_content() -> None:
    """A SAFETY candidate often has no content at all: content_filter with empty text."""
    body = {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": []}]}
    reply = PROVIDER.parse_response(_response(200, body))
    assert (reply.content, reply.finish_reason) == ("", "content_filter")


@pytest.mark.parametrize(
    "reason", ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"]
)
def test_bad_tool_call_finish_reasons(reason: str) -> None:
    """Gemini's own tool-call failures are ToolCallErrors naming the finishReason."""
    body = _answer([], reason)
    body["candidates"][0]["finishMessage"] = "Malformed function call: print(x"
    with pytest.raises(ToolCallError, match=reason) as info:
        PROVIDER.parse_response(_response(200, body))
    assert info.value.tool_name is None
    assert info.value.provider == "google-genai"


def test_blocked_prompt_is_content_filter() -> None:
    """No candidates + promptFeedback.blockReason: content_filter with empty content."""
    body = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    }
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.content == ""
    assert reply.finish_reason == "content_filter"
    assert reply.usage == Usage(prompt_tokens=9, completion_tokens=0, total_tokens=9)


@pytest.mark.parametrize(
    "body",
    [
        {"usageMetadata": {"promptTokenCount": 1}},
        {"candidates": []},
        {"error": {"code": 500, "message": "boom", "status": "INTERNAL"}},
        [{"candidates": []}],
        "<html>oops</html>",
    ],
)
def test_malformed_bodies(body: Any) -> None:
    """No candidates and no promptFeedback, an error object, or non-JSON: MalformedResponse."""
    with pytest.raises(MalformedResponse):
        PROVIDER.parse_response(_response(200, body))


def test_request_id() -> None:
    """x-request-id if a proxy adds one; otherwise None (Gemini sends no such header)."""
    assert PROVIDER.request_id(_response(200, {}, **{"x-request-id": "r-1"})) == "r-1"
    assert PROVIDER.request_id(_response(200, {})) is None


# --- stream -------------------------------------------------------------------------------
def _chunk(parts: list[dict[str, Any]], finish: str | None = None, usage: Any = None) -> str:
    chunk: dict[str, Any] = {
        "candidates": [_candidate(parts, finish)],
        "modelVersion": MODEL,
        "responseId": "8Zc",
    }
    if usage is not None:
        chunk["usageMetadata"] = usage
    return "data: " + json.dumps(chunk)


STREAM = (
    "\r\n\r\n".join(
        [
            _chunk([{"text": "Sunny"}], usage={"promptTokenCount": 9, "totalTokenCount": 9}),
            _chunk([{"text": ", 18"}]),
            _chunk(
                [{"text": "°C."}],
                "STOP",
                {"promptTokenCount": 9, "candidatesTokenCount": 6, "totalTokenCount": 15},
            ),
        ]
    )
    + "\r\n\r\n"
)


def test_stream_text_usage_and_done() -> None:
    """Each event is a whole response with new text; done at finishReason; CRLF framing."""
    parser = PROVIDER.stream_parser()
    events = sse_events(STREAM)
    assert len(events) == 3
    shown = []
    for event, data in events:
        assert not parser.done
        text = parser.feed(event, data)
        if text:
            shown.append(text)
    assert parser.done
    assert shown == ["Sunny", ", 18", "°C."]
    reply = parser.reply()
    assert reply.content == "Sunny, 18°C."
    assert reply.finish_reason == "stop"
    assert reply.model == MODEL
    assert reply.usage == Usage(prompt_tokens=9, completion_tokens=6, total_tokens=15)


def test_stream_function_calls_arrive_whole() -> None:
    """A functionCall in a chunk is one RawToolCall; ids count across the stream."""
    raw = (
        "\n\n".join(
            [
                _chunk([{"text": "Checking."}]),
                _chunk([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]),
                _chunk(
                    [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}], "STOP"
                ),
            ]
        )
        + "\n\n"
    )
    parser = PROVIDER.stream_parser()
    shown = [parser.feed(e, d) for e, d in sse_events(raw)]
    assert shown == ["Checking.", None, None]
    reply = parser.reply()
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.arguments) for c in reply.tool_calls] == [
        ("call_0", {"city": "Paris"}),
        ("call_1", {"city": "Rome"}),
    ]


def test_stream_bad_tool_call_finish() -> None:
    """MALFORMED_FUNCTION_CALL at the end of a stream is a ToolCallError from reply()."""
    parser = PROVIDER.stream_parser()
    parser.feed("message", _chunk([], "MALFORMED_FUNCTION_CALL").removeprefix("data: "))
    assert parser.done
    with pytest.raises(ToolCallError, match="MALFORMED_FUNCTION_CALL"):
        parser.reply()


def test_stream_blocked_prompt() -> None:
    """A promptFeedback-only chunk ends the stream as content_filter."""
    parser = PROVIDER.stream_parser()
    parser.feed("message", json.dumps({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    assert parser.done
    assert parser.reply().finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
            ServerError,
        ),
        ({"code": 500, "message": "Internal error", "status": "INTERNAL"}, ServerError),
        (
            {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"},
            RateLimited,
        ),
        ({"code": 400, "message": "Bad thing", "status": "INVALID_ARGUMENT"}, ProviderStatusError),
    ],
)
def test_stream_error_event(error: dict[str, Any], expected: type[ProviderError]) -> None:
    """data: {"error": …} after the 200 raises, naming the status and message."""
    parser = PROVIDER.stream_parser()
    parser.feed("message", sse_events(STREAM)[0][1])
    with pytest.raises(ProviderError) as info:
        parser.feed("message", json.dumps({"error": error}))
    assert type(info.value) is expected
    assert error["status"] in str(info.value)
    assert error["message"] in str(info.value)


def test_stream_ended_without_finish_reason() -> None:
    """The connection closed before any finishReason: no reply."""
    parser = PROVIDER.stream_parser()
    for event, data in sse_events(STREAM)[:2]:
        parser.feed(event, data)
    assert not parser.done
    with pytest.raises(MalformedResponse, match="finishReason"):
        parser.reply()


def test_stream_event_that_is_not_json() -> None:
    """A garbled data line is MalformedResponse."""
    with pytest.raises(MalformedResponse):
        PROVIDER.stream_parser().feed("message", '{"candidates": [')


# --- errors -------------------------------------------------------------------------------
def _error(code: int, status: str, message: str = "nope", details: Any = None) -> Any:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


QUOTA_429 = _error(
    429,
    "RESOURCE_EXHAUSTED",
    "You exceeded your current quota, please check your plan and billing details.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": (
                        "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                    ),
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
        {"@type": RETRY_INFO, "retryDelay": "37s"},
    ],
)
KEY_INVALID = _error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
    ],
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."), BadRequest),
        (400, KEY_INVALID, ProviderAuthError),
        (
            400,
            _error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens "
                "allowed (1048576).",
            ),
            ContextTooLong,
        ),
        (
            400,
            _error(400, "FAILED_PRECONDITION", "User location is not supported."),
            ProviderStatusError,
        ),
        (
            401,
            _error(401, "UNAUTHENTICATED", "Request had invalid credentials."),
            ProviderAuthError,
        ),
        (403, _error(403, "PERMISSION_DENIED", "Permission denied."), ProviderAuthError),
        (404, _error(404, "NOT_FOUND", "models/gemini-9 is not found"), ModelNotFound),
        (413, "payload too large", ContextTooLong),
        (429, QUOTA_429, RateLimited),
        (429, _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted"), RateLimited),
        (500, _error(500, "INTERNAL", "An internal error has occurred."), ServerError),
        (503, _error(503, "UNAVAILABLE", "The model is overloaded."), ServerError),
        (504, _error(504, "DEADLINE_EXCEEDED", "Deadline expired."), ServerError),
        (502, "<html>bad gateway</html>", ServerError),
        (409, _error(409, "ABORTED", "conflict"), ProviderStatusError),
    ],
)
def test_status_error_mapping(status: int, body: Any, expected: type[ProviderError]) -> None:
    """Each status / RPC status maps to its FAULTS.md class, with the status code kept."""
    response = _response(status, body, **{"x-canary": CANARY})
    error = PROVIDER.status_error(response, MODEL)
    assert type(error) is expected
    assert error.provider == "google-genai"
    assert error.status_code == status
    assert len(str(error)) <= 300
    assert CANARY not in str(error)


@pytest.mark.parametrize(("status", "body"), [(400, KEY_INVALID), (401, None), (403, None)])
def test_auth_error_names_the_variable(status: int, body: Any) -> None:
    """A bad or refused key tells the user to check GOOGLE_API_KEY."""
    error = PROVIDER.status_error(_response(status, body), MODEL)
    assert isinstance(error, ProviderAuthError)
    assert "check GOOGLE_API_KEY" in str(error)


def test_failed_precondition_moves_on() -> None:
    """FAILED_PRECONDITION (e.g. unsupported location): not retried, the next provider may serve."""
    error = PROVIDER.status_error(
        _response(400, _error(400, "FAILED_PRECONDITION", "User location is not supported.")), MODEL
    )
    assert error.falls_over
    assert error.retries == 0


@pytest.mark.parametrize(
    ("delay", "seconds"),
    [
        ("37s", 37.0),
        ("0.5s", 0.5),
        ("1.5s", 1.5),
        ("0s", 0.0),
        ("2", None),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_info_delay(delay: Any, seconds: float | None) -> None:
    """RetryInfo.retryDelay durations ("37s", "0.5s") become the 429's wait."""
    details = [{"@type": RETRY_INFO, "retryDelay": delay}] if delay is not None else []
    error = PROVIDER.status_error(
        _response(429, _error(429, "RESOURCE_EXHAUSTED", details=details)), MODEL
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == seconds


def test_retry_info_from_the_full_quota_body() -> None:
    """The real quota body's RetryInfo is found among the other details."""
    error = PROVIDER.status_error(_response(429, QUOTA_429), MODEL)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 37.0
    assert error.retries > 0


@pytest.mark.parametrize(
    ("headers", "wait"), [({"retry-after": "4"}, 4.0), ({"retry-after-ms": "800"}, 0.8), ({}, None)]
)
def test_retry_after_header_is_the_fallback(headers: dict[str, str], wait: float | None) -> None:
    """Without RetryInfo in the body, the retry headers are used."""
    body = _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted")
    error = PROVIDER.status_error(_response(429, body, **headers), MODEL)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == wait


def test_retry_info_wins_over_the_header() -> None:
    """The body's RetryInfo is Google's own hint; it beats a proxy's Retry-After."""
    error = PROVIDER.status_error(_response(429, QUOTA_429, **{"retry-after": "3"}), MODEL)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 37.0


def test_daily_quota_is_not_retried() -> None:
    """A per-day quota does not clear by waiting seconds: no retry on this provider."""
    body = json.loads(json.dumps(QUOTA_429).replace("PerMinute", "PerDay"))
    error = PROVIDER.status_error(_response(429, body), MODEL)
    assert isinstance(error, RateLimited)
    assert error.retries == 0
    assert error.falls_over


def test_error_wrapped_in_an_array() -> None:
    """The stream endpoint without alt=sse wraps its error in a list; it is still read."""
    error = PROVIDER.status_error(
        _response(404, [_error(404, "NOT_FOUND", "no such model")]), MODEL
    )
    assert isinstance(error, ModelNotFound)
    assert "no such model" in str(error)


def test_long_message_is_cut() -> None:
    """Error messages stay within 300 characters however long Google's is."""
    error = PROVIDER.status_error(
        _response(400, _error(400, "INVALID_ARGUMENT", "z" * 5000)), MODEL
    )
    assert len(str(error)) <= 300


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("37s", 37.0),
        ("0.5s", 0.5),
        ("1.5s", 1.5),
        (" 2s ", 2.0),
        ({"seconds": "3", "nanos": 500000000}, 3.5),
        ("-1s", None),
        ("1m", None),
        (5, None),
    ],
)
def test_parse_duration(value: Any, seconds: float | None) -> None:
    """Protobuf Duration JSON strings (and the object form) as seconds."""
    assert parse_duration(value) == seconds
