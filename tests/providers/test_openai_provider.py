"""OpenAIProvider: request building, parsing and errors (WIRE.md §3), no network."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nvgw_nb.errors import (
    BadRequest,
    ContentFiltered,
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
from nvgw_nb.providers import OpenAIProvider
from nvgw_nb.results import ChatRequest, Message, ToolCall, Usage
from tests.providers.wire import sse_events

BASE = "https://api.openai.test/v1"
PROVIDER = OpenAIProvider(base_url=BASE + "/")
CANARY = "hdr-canary-5f1d0c"


def _request(**kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message(role="user", content="hi")])
    return ChatRequest(**kwargs)


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    request = httpx.Request("POST", f"{BASE}/chat/completions")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


# --- identity and request building ------------------------------------------------------
def test_declares_name_and_key_variable() -> None:
    """The class says who it is and which variable holds its key."""
    assert OpenAIProvider.name == "openai"
    assert OpenAIProvider.key_variables == ("OPENAI_API_KEY",)
    assert OpenAIProvider.can_stream


def test_request_url_and_model_in_body() -> None:
    """POST {base_url}/chat/completions (trailing slash tolerated) with the model in the body."""
    request = PROVIDER.build_request(_request(), "gpt-4o")
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/chat/completions"
    body = _body(request)
    assert body["model"] == "gpt-4o"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "stream" not in body
    assert request.headers["accept"] == "application/json"


def test_request_carries_no_credentials() -> None:
    """The key is the Session's auth's job: no Authorization header here."""
    request = PROVIDER.build_request(_request(), "gpt-4o")
    assert "authorization" not in request.headers
    assert "api-key" not in request.headers
    assert not request.url.params


def test_every_sampling_field_passes_through() -> None:
    """temperature, top_p, max_tokens, stop, seed, tools and tool_choice go out as given."""
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = _request(
        temperature=1.5,
        top_p=0.9,
        max_tokens=64,
        stop=["END"],
        seed=7,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    body = _body(PROVIDER.build_request(request, "gpt-4o"))
    assert body["temperature"] == 1.5
    assert body["top_p"] == 0.9
    assert body["max_tokens"] == 64
    assert body["stop"] == ["END"]
    assert body["seed"] == 7
    assert body["tools"] == tools
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}


def test_streaming_request_asks_for_usage() -> None:
    """stream=True: SSE accept header, stream and stream_options.include_usage in the body."""
    request = PROVIDER.build_request(_request(stream=True), "gpt-4o")
    body = _body(request)
    assert request.headers["accept"] == "text/event-stream"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
        },
    ],
)
def test_response_format_passes_through(response_format: dict[str, Any]) -> None:
    """response_format is OpenAI's own shape: sent unchanged."""
    body = _body(PROVIDER.build_request(_request(response_format=response_format), "gpt-4o"))
    assert body["response_format"] == response_format


def test_multi_turn_with_tool_call_and_result() -> None:
    """An assistant tool call and its tool result are sent in OpenAI's shape."""
    request = _request(
        messages=[
            Message(role="system", content="be brief"),
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                tool_calls=[ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})],
            ),
            Message(role="tool", tool_call_id="call_1", content='{"temp_c": 18}'),
        ]
    )
    messages = _body(PROVIDER.build_request(request, "gpt-4o"))["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert messages[3] == {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": "call_1"}


def test_request_id_header() -> None:
    """The request id is OpenAI's x-request-id."""
    assert PROVIDER.request_id(_response(200, {}, **{"x-request-id": "req_1"})) == "req_1"
    assert PROVIDER.request_id(_response(200, {})) is None


# --- responses ----------------------------------------------------------------------------
def test_parse_text_and_usage() -> None:
    """choices[0].message.content, finish_reason and usage."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.content == "Hi"
    assert reply.finish_reason == "stop"
    assert reply.model == "gpt-4o-2024-08-06"
    assert reply.usage == Usage(prompt_tokens=9, completion_tokens=1, total_tokens=10)


def test_parse_tool_call_keeps_the_json_string() -> None:
    """Tool call arguments stay a string, even invalid JSON: the engine judges them."""
    body = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":'},
                        }
                    ],
                },
            }
        ]
    }
    reply = PROVIDER.parse_response(_response(200, body))
    assert reply.content == ""
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_abc", "get_weather", '{"city":')
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "object": "chat.completion"},
        {"error": {"message": "boom", "type": "server_error"}},
        [1, 2],
        "<html>oops</html>",
    ],
)
def test_malformed_bodies(body: Any) -> None:
    """No choices, an error object, a non-object, or HTML: MalformedResponse."""
    with pytest.raises(MalformedResponse):
        PROVIDER.parse_response(_response(200, body))


# --- stream -------------------------------------------------------------------------------
STREAM = (
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{"role":"assistant","content":"Let me "},"finish_reason":null}],"usage":null}\n\n'
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{"content":"check.","tool_calls":[{"index":0,"id":"call_abc","type":"function",'
    '"function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}\n\n'
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]},'
    '"finish_reason":null}],"usage":null}\n\n'
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},'
    '"finish_reason":null}],"usage":null}\n\n'
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{},"finish_reason":"tool_calls"}],"usage":null}\n\n'
    'data: {"id":"c9","object":"chat.completion.chunk","model":"gpt-4o","choices":[],'
    '"usage":{"prompt_tokens":50,"completion_tokens":17,"total_tokens":67}}\n\n'
    "data: [DONE]\n\n"
)


def test_stream_text_tool_call_and_usage() -> None:
    """Text deltas come out as they arrive; tool fragments join; usage from the last chunk."""
    parser = PROVIDER.stream_parser()
    shown = []
    for event, data in sse_events(STREAM):
        assert not parser.done
        text = parser.feed(event, data)
        if text:
            shown.append(text)
    assert parser.done
    assert shown == ["Let me ", "check."]
    reply = parser.reply()
    assert reply.content == "Let me check."
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_abc", "get_weather", '{"city":"Paris"}')
    ]
    assert reply.usage == Usage(prompt_tokens=50, completion_tokens=17, total_tokens=67)


def test_stream_mid_stream_error() -> None:
    """A data: {"error": …} event after the 200 is a ProviderStatusError."""
    parser = PROVIDER.stream_parser()
    parser.feed("message", sse_events(STREAM)[0][1])
    with pytest.raises(ProviderStatusError, match="overloaded"):
        parser.feed("message", '{"error":{"message":"overloaded","type":"server_error"}}')


def test_stream_ended_early() -> None:
    """A stream cut before finish_reason or [DONE] cannot give a reply."""
    parser = PROVIDER.stream_parser()
    for event, data in sse_events(STREAM)[:2]:
        parser.feed(event, data)
    assert not parser.done
    with pytest.raises(MalformedResponse):
        parser.reply()


# --- errors -------------------------------------------------------------------------------
def _error(code: str | None, message: str = "nope", kind: str = "invalid_request_error") -> Any:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _error(None, "bad 'messages'"), BadRequest),
        (
            400,
            _error(
                "unsupported_parameter",
                "Unsupported parameter: 'max_tokens' is not supported with this model.",
            ),
            UnsupportedParameter,
        ),
        (
            400,
            _error("unsupported_value", "temperature does not support 1.5"),
            UnsupportedParameter,
        ),
        (
            400,
            _error("context_length_exceeded", "maximum context length is 128000"),
            ContextTooLong,
        ),
        (400, _error("content_filter", "filtered"), ContentFiltered),
        (401, _error("invalid_api_key", "Incorrect API key provided"), ProviderAuthError),
        (403, _error(None, "country not supported"), ProviderAuthError),
        (404, _error("model_not_found", "The model `gpt-9` does not exist"), ModelNotFound),
        (413, "request too large", ContextTooLong),
        (429, _error("rate_limit_exceeded", "Rate limit reached", "tokens"), RateLimited),
        (500, _error(None, "The server had an error", "server_error"), ServerError),
        (502, "<html>bad gateway</html>", ServerError),
        (503, _error(None, "overloaded", "server_error"), ServerError),
        (409, _error(None, "conflict"), ProviderStatusError),
    ],
)
def test_status_error_mapping(status: int, body: Any, expected: type[ProviderError]) -> None:
    """Each status / error code maps to its FAULTS.md class, carrying status and request id."""
    response = _response(status, body, **{"x-request-id": "req_9", "x-canary": CANARY})
    error = PROVIDER.status_error(response, "gpt-4o")
    assert type(error) is expected
    assert error.provider == "openai"
    assert error.status_code == status
    assert error.request_id == "req_9"
    assert len(str(error)) <= 300
    assert CANARY not in str(error)


def test_auth_error_names_the_variable() -> None:
    """401 tells the user which variable to check."""
    error = PROVIDER.status_error(_response(401, _error("invalid_api_key")), "gpt-4o")
    assert "OPENAI_API_KEY" in str(error)


def test_unsupported_parameter_moves_on() -> None:
    """A parameter this model lacks is not the caller's fault elsewhere: fall over, no retry."""
    body = _error("unsupported_parameter", "Unsupported parameter: 'max_tokens'")
    error = PROVIDER.status_error(_response(400, body), "o3")
    assert error.falls_over
    assert error.retries == 0


def test_rate_limit_retry_after() -> None:
    """429 carries the wait from the retry headers (retry-after-ms wins)."""
    error = PROVIDER.status_error(
        _response(429, _error("rate_limit_exceeded"), **{"retry-after": "3"}), "gpt-4o"
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 3.0
    error = PROVIDER.status_error(
        _response(429, None, **{"retry-after": "3", "retry-after-ms": "250"}), "gpt-4o"
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 0.25


def test_insufficient_quota_is_not_retried() -> None:
    """An exhausted quota is a 429 that waiting does not clear: no retry, next provider."""
    body = _error("insufficient_quota", "You exceeded your current quota", "insufficient_quota")
    error = PROVIDER.status_error(_response(429, body), "gpt-4o")
    assert isinstance(error, RateLimited)
    assert error.retries == 0
    assert error.falls_over


def test_long_provider_message_is_cut() -> None:
    """A huge provider message is cut so the error stays within 300 characters (FAULTS.md X1)."""
    error = PROVIDER.status_error(_response(400, _error(None, "x" * 5000)), "gpt-4o")
    assert len(str(error)) == 300
    assert str(error).startswith("openai rejected the request (HTTP 400): xxx")
    assert str(error).endswith("x…")
