"""Fuzzing the response parsers: whatever a provider sends, only NvgwError escapes.

Hypothesis feeds every provider's JSON parser, stream parser and status-error mapping
arbitrary JSON values, arbitrary text and mutated valid bodies (issue 7, item 3).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

import nvgw_nb as nv
from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.providers import (
    AnthropicProvider,
    GatewayProvider,
    GoogleProvider,
    NimProvider,
    OpenAIProvider,
    Provider,
)

#: long runs: `make test-fast` leaves them out (`make test` and CI run them)
pytestmark = pytest.mark.slow

PROVIDERS: list[Provider] = [
    NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status"),
    GatewayProvider(base_url="https://gw.test/llm/v1/azure", api_version="2024-12-01-preview"),
    OpenAIProvider(base_url="https://openai.test/v1"),
    AnthropicProvider(base_url="https://anthropic.test"),
    GoogleProvider(base_url="https://google.test"),
]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "choices",
                    "message",
                    "content",
                    "delta",
                    "tool_calls",
                    "function",
                    "arguments",
                    "name",
                    "id",
                    "index",
                    "finish_reason",
                    "usage",
                    "error",
                    "type",
                    "candidates",
                    "parts",
                    "text",
                    "functionCall",
                    "args",
                    "finishReason",
                    "usageMetadata",
                    "stop_reason",
                    "input",
                    "content_block",
                    "message_stop",
                    "promptFeedback",
                    "prompt_tokens",
                    "completion_tokens",
                    "status",
                    "details",
                    "code",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _response(status: int, body: bytes, ctype: str = "application/json") -> httpx.Response:
    request = httpx.Request("POST", "https://provider.test/x")
    return httpx.Response(status, content=body, headers={"content-type": ctype}, request=request)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
@FUZZ
@given(data=JSON)
def test_parse_response_raises_only_nvgw_errors(provider: Provider, data: Any) -> None:
    """Any JSON value as a 200 body: a Reply or an NvgwError, nothing else."""
    with contextlib.suppress(nv.NvgwError):
        provider.parse_response(_response(200, json.dumps(data).encode()))


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
@FUZZ
@given(body=st.binary(max_size=200), ctype=st.sampled_from(["application/json", "text/html", ""]))
def test_parse_response_survives_arbitrary_bytes(
    provider: Provider, body: bytes, ctype: str
) -> None:
    """Arbitrary bytes (truncated JSON, HTML, binary) never escape as anything but NvgwError."""
    with contextlib.suppress(nv.NvgwError):
        provider.parse_response(_response(200, body, ctype))


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
@FUZZ
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["", "message_start", "content_block_delta", "error", "ping", "x"]),
            JSON.map(json.dumps) | st.text(max_size=30) | st.just("[DONE]"),
        ),
        max_size=8,
    )
)
def test_stream_parser_raises_only_nvgw_errors(
    provider: Provider, events: list[tuple[str, str]]
) -> None:
    """Any sequence of SSE events: text, then a Reply or an NvgwError."""
    parser = provider.stream_parser()
    try:
        for event, data in events:
            text = parser.feed(event, data)
            assert text is None or isinstance(text, str)
            if parser.done:
                break
        parser.reply()
    except nv.NvgwError:
        pass


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
@FUZZ
@given(status=st.integers(min_value=300, max_value=599), data=JSON | st.text(max_size=40))
def test_status_error_always_maps(provider: Provider, status: int, data: Any) -> None:
    """Any error status and body maps to a ProviderError whose message is bounded."""
    body = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    error = provider.status_error(_response(status, body), "some-model")
    assert isinstance(error, nv.ProviderError)
    assert len(str(error)) < 1000


@FUZZ
@given(status=st.integers(min_value=100, max_value=599), data=JSON)
def test_token_responses_never_escape_as_other_errors(status: int, data: Any) -> None:
    """Any token-endpoint answer: a stored token or an AuthError."""
    auth = StarfleetAuth(
        client_id=SecretStr("id"),
        client_secret=SecretStr("secret"),
        token_url="https://starfleet.test/token",
        variables=("STARFLEET_ID", "STARFLEET_SECRET"),
    )
    with contextlib.suppress(nv.AuthError):
        auth.take_token_response(_response(status, json.dumps(data).encode()))


OPENAI_BODY = {
    "id": "chatcmpl-1",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "hi",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}
ANTHROPIC_BODY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 1, "output_tokens": 2},
}
GEMINI_BODY = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [{"text": "hi"}, {"functionCall": {"name": "f", "args": {}}}],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
}
TEMPLATES = {
    "nvidia-nim": OPENAI_BODY,
    "nvidia-gateway": OPENAI_BODY,
    "openai": OPENAI_BODY,
    "anthropic": ANTHROPIC_BODY,
    "google-genai": GEMINI_BODY,
}


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """A valid document with random subtrees replaced by arbitrary JSON or dropped."""
    if draw(st.integers(0, 7)) == 0:
        return draw(JSON)
    if isinstance(value, dict):
        return {
            key: draw(mutated(child))
            for key, child in value.items()
            if draw(st.integers(0, 7)) != 0
        }
    if isinstance(value, list):
        return [draw(mutated(child)) for child in value]
    return value


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
@FUZZ
@given(data=st.data())
def test_mutated_valid_bodies_raise_only_nvgw_errors(
    provider: Provider, data: st.DataObject
) -> None:
    """Near-valid bodies (the usual shape, a field missing or of the wrong type)."""
    body = data.draw(mutated(TEMPLATES[provider.name]))
    with contextlib.suppress(nv.NvgwError):
        provider.parse_response(_response(200, json.dumps(body).encode()))


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_the_valid_template_parses(provider: Provider) -> None:
    """The unmutated template is a valid answer with text and one tool call."""
    reply = provider.parse_response(_response(200, json.dumps(TEMPLATES[provider.name]).encode()))
    assert reply.content == "hi"
    assert [call.name for call in reply.tool_calls] == ["f"]
