"""AnthropicProvider: translation, parsing, SSE and errors (WIRE.md §4), no network."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nvgw_nb.errors import (
    BadRequest,
    ContextTooLong,
    MalformedResponse,
    ModelNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    ServerError,
    UnsupportedParameter,
)
from nvgw_nb.providers import AnthropicProvider
from nvgw_nb.providers.anthropic import JSON_SCHEMA_MARKER
from nvgw_nb.results import ChatRequest, Message, ToolCall, Usage
from tests.providers.wire import sse_events

BASE = "https://api.anthropic.test"
PROVIDER = AnthropicProvider(base_url=BASE + "/")
MODEL = "claude-sonnet-4-5"
CANARY = "hdr-canary-a41c77"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _request(**kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message(role="user", content="hi")])
    return ChatRequest(**kwargs)


def _body(request: ChatRequest, model: str = MODEL) -> Any:
    return json.loads(PROVIDER.build_request(request, model).content)


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", f"{BASE}/v1/messages")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def _message(content: Any, stop_reason: Any = "end_turn", **extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6},
        **extra,
    }


# --- identity and request building ------------------------------------------------------
def test_declares_name_and_key_variable() -> None:
    """The class says who it is and which variable holds its key."""
    assert AnthropicProvider.name == "anthropic"
    assert AnthropicProvider.key_variables == ("ANTHROPIC_API_KEY",)


def test_request_url_and_headers() -> None:
    """POST {base}/v1/messages with anthropic-version; no key header (the Session's auth)."""
    request = PROVIDER.build_request(_request(), MODEL)
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v1/messages"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert "x-api-key" not in request.headers
    assert "authorization" not in request.headers
    assert not request.url.params


def test_version_is_configurable() -> None:
    """The anthropic-version header follows the constructor."""
    provider = AnthropicProvider(base_url=BASE, version="2099-01-01")
    assert provider.build_request(_request(), MODEL).headers["anthropic-version"] == "2099-01-01"


def test_minimal_body() -> None:
    """model, a default max_tokens (required by the API) and one user turn of blocks."""
    assert _body(_request()) == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }


def test_sampling_fields() -> None:
    """max_tokens, temperature, top_p and stop (as stop_sequences) are translated."""
    body = _body(_request(max_tokens=64, temperature=0.3, top_p=0.9, stop=["END", "STOP"]))
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.3
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END", "STOP"]
    assert "stop" not in body


def test_seed_is_dropped() -> None:
    """The Messages API has no seed: it is not sent."""
    assert "seed" not in _body(_request(seed=42))


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_temperature_in_range_is_sent(temperature: float) -> None:
    """0-1 is Anthropic's range, both ends included."""
    assert _body(_request(temperature=temperature))["temperature"] == temperature


def test_temperature_above_one_is_unsupported() -> None:
    """temperature > 1 cannot be sent: UnsupportedParameter, so the engine moves on."""
    with pytest.raises(UnsupportedParameter, match="temperature") as info:
        PROVIDER.build_request(_request(temperature=1.5), MODEL)
    assert info.value.falls_over
    assert info.value.provider == "anthropic"


def test_streaming_request() -> None:
    """stream=True: the SSE accept header and stream in the body."""
    request = PROVIDER.build_request(_request(stream=True), MODEL)
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.content)["stream"] is True


def test_system_and_developer_messages_go_top_level() -> None:
    """System and developer texts join into the top-level system string."""
    body = _body(
        _request(
            messages=[
                Message(role="system", content="Be brief."),
                Message(role="developer", content="Use metric units."),
                Message(role="user", content="hi"),
            ]
        )
    )
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_consecutive_same_role_turns_merge() -> None:
    """The API needs alternation: two user turns in a row become one turn of two blocks."""
    body = _body(
        _request(
            messages=[
                Message(role="user", content="one"),
                Message(role="user", content="two"),
                Message(role="assistant", content="ok"),
                Message(role="user", content="three"),
            ]
        )
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "three"}]},
    ]


def test_multi_turn_with_tool_calls_and_results() -> None:
    """Tool calls become tool_use blocks; tool results one user turn of tool_result blocks."""
    request = _request(
        messages=[
            Message(role="system", content="You check weather."),
            Message(role="user", content="Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=[
                    ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"}),
                    ToolCall(id="toolu_2", name="get_weather", arguments={"city": "Rome"}),
                ],
            ),
            Message(role="tool", tool_call_id="toolu_1", content='{"temp_c": 18}'),
            Message(role="tool", tool_call_id="toolu_2", content='{"temp_c": 24}'),
            Message(role="assistant", content="Paris 18, Rome 24."),
            Message(role="user", content="Thanks"),
        ],
        tools=[WEATHER],
    )
    body = _body(request)
    assert body["system"] == "You check weather."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp_c": 18}'},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": '{"temp_c": 24}'},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Paris 18, Rome 24."}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
    ]


def test_assistant_turn_with_only_tool_calls_has_no_empty_text() -> None:
    """content None on a tool-calling turn sends no (rejected) empty text block."""
    body = _body(
        _request(
            messages=[
                Message(role="user", content="go"),
                Message(role="assistant", tool_calls=[ToolCall(id="t1", name="f", arguments={})]),
                Message(role="tool", tool_call_id="t1", content="done"),
            ]
        )
    )
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    ]


def test_tools_are_translated() -> None:
    """OpenAI function tools become {name, description, input_schema}."""
    bare = {"type": "function", "function": {"name": "now"}}
    body = _body(_request(tools=[WEATHER, bare]))
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": WEATHER["function"]["parameters"],
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    """auto/none/required/named map to Anthropic's tool_choice types."""
    assert _body(_request(tools=[WEATHER], tool_choice=choice))["tool_choice"] == expected


def test_structured_output_appends_the_schema_to_system() -> None:
    """No JSON mode: a marker line with the compact schema ends the system prompt."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    request = _request(
        messages=[Message(role="system", content="Be brief."), Message(role="user", content="hi")],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    system = _body(request)["system"]
    first, last = system.split("\n\n")
    assert first == "Be brief."
    assert last.startswith(JSON_SCHEMA_MARKER + " ")
    assert json.loads(last[len(JSON_SCHEMA_MARKER) :]) == schema
    assert " " not in last[len(JSON_SCHEMA_MARKER) + 1 :]  # compact JSON
    assert JSON_SCHEMA_MARKER == "Respond with only a JSON document matching this JSON schema:"


def test_structured_output_without_other_system_text() -> None:
    """The schema line alone becomes the system prompt."""
    schema = {"type": "object"}
    request = _request(
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    )
    assert _body(request)["system"] == f'{JSON_SCHEMA_MARKER} {{"type":"object"}}'


def test_json_object_mode_asks_for_json() -> None:
    """json_object (no schema) asks for a JSON document without the schema marker."""
    system = _body(_request(response_format={"type": "json_object"}))["system"]
    assert system == "Respond with only a JSON document."


# --- responses ----------------------------------------------------------------------------
def test_parse_text_usage_and_model() -> None:
    """Text blocks join into content; usage counts; the model is reported."""
    body = _message(
        [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
        usage={"input_tokens": 12, "output_tokens": 6, "service_tier": "standard"},
    )
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.content == "Hello there"
    assert reply.finish_reason == "stop"
    assert reply.model == MODEL
    assert reply.tool_calls == []
    assert reply.usage == Usage(prompt_tokens=12, completion_tokens=6, total_tokens=18)


def test_cached_input_tokens_count_as_prompt() -> None:
    """input_tokens excludes cache reads/writes; the prompt count includes them (as OpenAI's)."""
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    }
    reply = PROVIDER.parse_response(
        _response(200, _message([{"type": "text", "text": "x"}], usage=usage))
    )
    assert reply.usage == Usage(prompt_tokens=1110, completion_tokens=5, total_tokens=1115)


def test_parse_tool_use() -> None:
    """tool_use blocks become RawToolCalls with the input object as it came."""
    body = _message(
        [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_01Q",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        stop_reason="tool_use",
    )
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.content == "Checking."
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("toolu_01Q", "get_weather", {"city": "Paris"})
    ]


@pytest.mark.parametrize(
    ("given", "passed"),
    [
        ('{"city": "Pa', '{"city": "Pa'),  # a broken upstream's string: the engine judges it
        (None, None),
        (["not", "an", "object"], '["not", "an", "object"]'),
    ],
)
def test_tool_use_input_passes_through(given: Any, passed: Any) -> None:
    """A tool_use input is never repaired or dropped; non-objects stay visible to the engine."""
    body = _message([{"type": "tool_use", "id": "t", "name": "f", "input": given}], "tool_use")
    assert PROVIDER.parse_response(_response(200, body)).tool_calls[0].arguments == passed


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("pause_turn", "stop"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reason_mapping(stop_reason: Any, finish: str) -> None:
    """Every stop_reason maps to one of our finish reasons; unknown is a normal stop."""
    body = _message([{"type": "text", "text": "x"}], stop_reason)
    assert PROVIDER.parse_response(_response(200, body)).finish_reason == finish


def test_unknown_blocks_are_ignored() -> None:
    """Thinking and other future blocks are skipped; unknown keys are tolerated."""
    body = _message(
        [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "answer", "citations": None},
        ],
        surprise={"new": True},
    )
    assert PROVIDER.parse_response(_response(200, body)).content == "answer"


@pytest.mark.parametrize(
    "body",
    [
        {"id": "msg_01", "type": "message", "role": "assistant"},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        {"type": "message", "content": "a string, not blocks"},
        ["not", "an", "object"],
        "<html>proxy error</html>",
    ],
)
def test_malformed_bodies(body: Any) -> None:
    """A 200 without content, an error body, or non-JSON: MalformedResponse."""
    with pytest.raises(MalformedResponse):
        PROVIDER.parse_response(_response(200, body))


def test_request_id_header() -> None:
    """The request id is Anthropic's request-id header."""
    assert PROVIDER.request_id(_response(200, {}, **{"request-id": "req_011"})) == "req_011"
    assert PROVIDER.request_id(_response(200, {})) is None


# --- stream -------------------------------------------------------------------------------
def _frame(event: str, data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n"


def _delta(index: int, delta: dict[str, Any]) -> str:
    return _frame(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


# WIRE.md §4.5's example with pings and an empty first input_json_delta, framed as on the wire.
STREAM = "".join(
    [
        _frame(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01AbC",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        _frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _frame("ping", '{"type": "ping"}'),
        _delta(0, {"type": "text_delta", "text": "Let me "}),
        _delta(0, {"type": "text_delta", "text": "check."}),
        _frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01Q",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        _delta(1, {"type": "input_json_delta", "partial_json": ""}),
        _delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        _frame("ping", '{"type": "ping"}'),
        _delta(1, {"type": "input_json_delta", "partial_json": 'ris"}'}),
        _frame("content_block_stop", {"type": "content_block_stop", "index": 1}),
        _frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 42},
            },
        ),
        _frame("message_stop", {"type": "message_stop"}),
    ]
)


def test_stream_full_sequence() -> None:
    """Text deltas come out as they arrive; tool JSON joins per block; done at message_stop."""
    parser = PROVIDER.stream_parser()
    events = sse_events(STREAM)
    assert len(events) == 14
    shown = []
    for event, data in events:
        assert not parser.done
        text = parser.feed(event, data)
        if text:
            shown.append(text)
    assert parser.done
    assert shown == ["Let me ", "check."]
    reply = parser.reply()
    assert reply.content == "Let me check."
    assert reply.finish_reason == "tool_calls"
    assert reply.model == MODEL
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("toolu_01Q", "get_weather", '{"city": "Paris"}')
    ]
    assert reply.usage == Usage(prompt_tokens=25, completion_tokens=42, total_tokens=67)


def test_stream_tool_calls_ordered_by_block_index() -> None:
    """Parallel tool calls keep their block order; a call with no deltas has empty input."""
    parser = PROVIDER.stream_parser()
    for index, name in ((2, "second"), (1, "first")):
        parser.feed(
            "content_block_start",
            json.dumps(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"t{index}",
                        "name": name,
                        "input": {},
                    },
                }
            ),
        )
    parser.feed(
        "content_block_delta",
        '{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}',
    )
    parser.feed("message_stop", '{"type":"message_stop"}')
    calls = parser.reply().tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("first", ""), ("second", "{}")]


def test_stream_events_without_names_use_the_data_type() -> None:
    """An unnamed event (httpx-sse says "message") is recognised by its data's type."""
    parser = PROVIDER.stream_parser()
    for _, data in sse_events(STREAM):
        parser.feed("message", data)
    assert parser.done
    assert parser.reply().content == "Let me check."


def test_stream_ping_data_is_not_parsed() -> None:
    """ping is skipped whatever its data says."""
    parser = PROVIDER.stream_parser()
    assert parser.feed("ping", "not json at all") is None
    assert not parser.done


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", ServerError),
        ("api_error", ServerError),
        ("timeout_error", ServerError),
        ("rate_limit_error", RateLimited),
        ("invalid_request_error", ProviderStatusError),
    ],
)
def test_stream_error_event(error_type: str, expected: type[ProviderError]) -> None:
    """event: error after the 200 raises an error naming the type and message."""
    parser = PROVIDER.stream_parser()
    events = sse_events(STREAM)
    for event, data in events[:4]:
        parser.feed(event, data)
    payload = json.dumps({"type": "error", "error": {"type": error_type, "message": "Overloaded"}})
    with pytest.raises(ProviderError) as info:
        parser.feed("error", payload)
    assert type(info.value) is expected
    assert error_type in str(info.value)
    assert "Overloaded" in str(info.value)


def test_stream_ended_before_message_stop() -> None:
    """A stream cut before message_stop has no reply."""
    parser = PROVIDER.stream_parser()
    for event, data in sse_events(STREAM)[:-1]:
        parser.feed(event, data)
    assert not parser.done
    with pytest.raises(MalformedResponse, match="message_stop"):
        parser.reply()


def test_stream_event_that_is_not_json() -> None:
    """A garbled data line is MalformedResponse, not a crash."""
    with pytest.raises(MalformedResponse):
        PROVIDER.stream_parser().feed("content_block_delta", "{truncated")


# --- errors -------------------------------------------------------------------------------
def _error(kind: str, message: str = "nope", **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, **extra}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _error("invalid_request_error", "messages: roles must alternate"), BadRequest),
        (
            400,
            _error("invalid_request_error", "prompt is too long: 208000 tokens > 200000 maximum"),
            ContextTooLong,
        ),
        (
            400,
            _error(
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 190000 + 20000 > 200000",
            ),
            ContextTooLong,
        ),
        (401, _error("authentication_error", "invalid x-api-key"), ProviderAuthError),
        (402, _error("billing_error", "credit balance too low"), ProviderStatusError),
        (403, _error("permission_error", "not allowed"), ProviderAuthError),
        (404, _error("not_found_error", "model: claude-9"), ModelNotFound),
        (413, _error("request_too_large", "Request exceeds the maximum size"), ContextTooLong),
        (
            429,
            _error("rate_limit_error", "Number of requests has exceeded your rate limit"),
            RateLimited,
        ),
        (500, _error("api_error", "Internal server error"), ServerError),
        (504, _error("timeout_error", "Request timeout"), ServerError),
        (529, _error("overloaded_error", "Overloaded"), ServerError),
        (502, "<html>bad gateway</html>", ServerError),
    ],
)
def test_status_error_mapping(status: int, body: Any, expected: type[ProviderError]) -> None:
    """Each status / error type maps to its FAULTS.md class, with status and request id."""
    response = _response(status, body, **{"request-id": "req_011", "x-canary": CANARY})
    error = PROVIDER.status_error(response, MODEL)
    assert type(error) is expected
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert error.request_id == "req_011"
    assert len(str(error)) <= 300
    assert CANARY not in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_names_the_variable(status: int) -> None:
    """401/403 tell the user to check ANTHROPIC_API_KEY."""
    error = PROVIDER.status_error(_response(status, _error("authentication_error")), MODEL)
    assert "check ANTHROPIC_API_KEY" in str(error)
    assert error.retries == 0


def test_billing_error_is_not_retried() -> None:
    """402: waiting does not help; move on without retrying."""
    error = PROVIDER.status_error(_response(402, _error("billing_error")), MODEL)
    assert error.retries == 0
    assert error.falls_over


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "7", "retry-after-ms": "1500"}, 1.5),
        ({}, None),
    ],
)
def test_rate_limit_retry_after(headers: dict[str, str], wait: float | None) -> None:
    """429 carries the wait from retry-after(-ms)."""
    error = PROVIDER.status_error(_response(429, _error("rate_limit_error"), **headers), MODEL)
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == wait


def test_request_id_from_body_when_header_missing() -> None:
    """The error body's request_id is used when the header is absent."""
    error = PROVIDER.status_error(
        _response(529, _error("overloaded_error", request_id="req_b")), MODEL
    )
    assert error.request_id == "req_b"


def test_long_message_is_cut() -> None:
    """Error messages stay within 300 characters however long the provider's is."""
    error = PROVIDER.status_error(
        _response(400, _error("invalid_request_error", "y" * 5000)), MODEL
    )
    assert len(str(error)) <= 300
    assert "invalid_request_error" in str(error)
