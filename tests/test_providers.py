"""Wire formats, unit by unit (httpx.MockTransport only here), and the retry arithmetic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import nvgw_nb as nv
from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.engine import Deadlines, Engine, Step
from nvgw_nb.inputs import chat_request
from nvgw_nb.providers import GatewayProvider, NimProvider
from nvgw_nb.providers.openai_format import OpenAIStreamParser, error_detail, parse_completion
from nvgw_nb.retry import RetryPolicy

NIM = NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status")
GATEWAY = GatewayProvider(base_url="https://gw.test/llm/v1/azure", api_version="2024-12-01-preview")


def test_nim_request_shape() -> None:
    """NIM: POST {base}/chat/completions with the model in the body."""
    request = NIM.build_request(
        chat_request("hi", temperature=0.1), "meta/llama-4-scout-17b-16e-instruct"
    )
    body = json.loads(request.content)
    assert str(request.url) == "https://nim.test/v1/chat/completions"
    assert body["model"] == "meta/llama-4-scout-17b-16e-instruct"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["temperature"] == 0.1
    assert "authorization" not in request.headers  # applied by the Session's auth, not here


def test_gateway_request_shape() -> None:
    """Gateway: the Azure deployment route, api-version query, a fresh correlationId each time."""
    first = GATEWAY.build_request(chat_request("hi", stream=True), "gpt-4o")
    second = GATEWAY.build_request(chat_request("hi"), "gpt-4o")
    assert first.url.path == "/llm/v1/azure/openai/deployments/gpt-4o/chat/completions"
    assert first.url.params["api-version"] == "2024-12-01-preview"
    assert first.headers["correlationId"] != second.headers["correlationId"]
    body = json.loads(first.content)
    assert "model" not in body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert first.headers["accept"] == "text/event-stream"


def test_tool_call_history_is_serialised_openai_style() -> None:
    """An assistant tool call in the history goes out with JSON-string arguments."""
    call = nv.ToolCall(id="call_1", name="lookup", arguments={"q": "x"})
    request = chat_request(
        messages=[
            {"role": "user", "content": "find x"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ]
    )
    body = json.loads(NIM.build_request(request, "m").content)
    sent = body["messages"][1]["tool_calls"][0]
    assert sent == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
    }
    assert body["messages"][2]["tool_call_id"] == "call_1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"status": 429, "title": "Too Many Requests"}, ("Too Many Requests", "Too Many Requests")),
        (
            {"status": 404, "title": "Not Found", "detail": "Function 'x': Not found"},
            ("Not Found", "Function 'x': Not found"),
        ),
        (
            {
                "object": "error",
                "message": "max_tokens must be at least 1",
                "type": "BadRequestError",
            },
            ("BadRequestError", "max_tokens must be at least 1"),
        ),
        (
            {"error": {"code": "429", "message": "Please retry after 6 seconds."}},
            ("429", "Please retry after 6 seconds."),
        ),
        (
            {"error": {"code": "content_filter", "message": "filtered", "innererror": {}}},
            ("content_filter", "filtered"),
        ),
        (
            {"error": {"type": "tokens", "message": "Rate limit", "code": None}},
            ("tokens", "Rate limit"),
        ),
        ({"error": "invalid_client", "error_description": "bad"}, ("invalid_client", "bad")),
        ({"error": {"message": "x" * 1000}}, (None, "x" * 299 + "…")),
        ([1, 2], (None, None)),
    ],
)
def test_error_detail_reads_every_shape(body: Any, expected: tuple[str | None, str | None]) -> None:
    """Problem+json, vLLM, Azure/OpenAI envelope and OAuth errors; messages cut to 300."""
    assert error_detail(body) == expected


@pytest.mark.parametrize(("retry", "expected"), [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (9, 8.0)])
def test_backoff_formula(retry: int, expected: float) -> None:
    """min(0.5·2^(n-1), 8 s) plus jitter."""
    policy = RetryPolicy()
    assert policy.backoff(retry, jitter=0.0) == expected
    assert expected <= policy.backoff(retry) <= expected + policy.wait_jitter


def test_azure_stream_skips_the_prompt_filter_event() -> None:
    """Azure's first SSE event has empty choices; tool-call fragments join by index."""
    parser = OpenAIStreamParser("nvidia-gateway")
    events = [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [],
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ],
                    },
                }
            ],
            "model": "gpt-4o",
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        },
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}},
    ]
    assert all(parser.feed("", json.dumps(e)) is None for e in events)
    assert parser.feed("", "[DONE]") is None
    reply = parser.reply()
    assert reply.tool_calls[0].arguments == '{"a": 1}'
    assert reply.finish_reason == "tool_calls"
    assert reply.usage == nv.Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7)


def test_mid_stream_error_event_is_an_error() -> None:
    """A `data: {"error": …}` event inside a 200 stream raises."""
    parser = OpenAIStreamParser("nvidia-nim")
    with pytest.raises(nv.ProviderStatusError, match="overloaded"):
        parser.feed("", json.dumps({"error": {"message": "overloaded", "type": "x"}}))


def test_stream_without_end_is_incomplete() -> None:
    """A stream that stops without finish_reason or [DONE] is not a whole answer."""
    parser = OpenAIStreamParser("nvidia-nim")
    parser.feed("", json.dumps({"choices": [{"index": 0, "delta": {"content": "half"}}]}))
    with pytest.raises(nv.MalformedResponse):
        parser.reply()


def test_completion_with_error_object_is_malformed() -> None:
    """B3: a 200 carrying an `error` object is malformed, named by its message."""
    with pytest.raises(nv.MalformedResponse, match="quota"):
        parse_completion({"error": {"message": "quota"}}, "nvidia-gateway")


def _engine(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]) -> Engine:
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Engine(
        client=client,
        providers={"nvidia-nim": NIM, "nvidia-gateway": GATEWAY},
        auths={},
        policy=RetryPolicy(),
        breakers={"nvidia-nim": CircuitBreaker(), "nvidia-gateway": CircuitBreaker()},
        deadlines=Deadlines(),
        sleep=record,
    )


def _completion(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ]
        },
    )


PLAN = [Step("nvidia-nim", "m"), Step("nvidia-gateway", "gpt-4o")]


def test_long_retry_after_moves_on_without_waiting() -> None:
    """R1: a Retry-After above 60 s is not slept: the next provider is asked at once."""
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "nim.test":
            return httpx.Response(429, headers={"retry-after": "120"}, json={"status": 429})
        return _completion("from the gateway")

    result = asyncio.run(_engine(handler, sleeps).chat(chat_request("hi"), PLAN))
    assert result.served_by == "nvidia-gateway"
    assert result.attempts[0].retry_after_s == 120
    assert sleeps == []


def test_short_retry_after_is_slept_exactly() -> None:
    """R1: a Retry-After within 60 s is waited, and recorded as the next attempt's backoff."""
    sleeps: list[float] = []
    calls = iter([httpx.Response(429, headers={"retry-after": "3"}), _completion("ok")])
    result = asyncio.run(_engine(lambda r: next(calls), sleeps).chat(chat_request("hi"), PLAN))
    assert sleeps == [3.0]
    assert result.attempts[1].backoff_s == 3.0


def test_backoff_between_server_errors() -> None:
    """N1: two retries with exponential backoff, then the gateway."""
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "nim.test":
            return httpx.Response(503)
        return _completion("ok")

    result = asyncio.run(_engine(handler, sleeps).chat(chat_request("hi"), PLAN))
    assert result.served_by == "nvidia-gateway"
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 0.75
    assert 1.0 <= sleeps[1] <= 1.25


def test_202_without_request_id_is_malformed() -> None:
    """N2: a 202 with no NVCF-REQID cannot be polled."""
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "nim.test":
            return httpx.Response(202)
        return _completion("ok")

    result = asyncio.run(_engine(handler, sleeps).chat(chat_request("hi"), PLAN))
    assert result.attempts[0].error_kind == "malformed"
    assert "NVCF-REQID" in (result.attempts[0].error or "")


def test_call_deadline_stops_retrying() -> None:
    """The per-call deadline ends retries that would run past it."""
    sleeps: list[float] = []
    engine = _engine(lambda r: httpx.Response(503), sleeps)
    engine.deadlines = Deadlines(attempt_s=10, call_s=0.2)
    with pytest.raises(nv.AllProvidersFailed):
        asyncio.run(engine.chat(chat_request("hi"), PLAN))
    assert sleeps == []
