"""Valid answers always parse to the same result (issue 7, item 3, second half).

Hypothesis draws an answer — text with any Unicode, or tool calls with arbitrary JSON
arguments — plus a finish reason and usage. The simulator's own wire renderers (written
apart from the providers, from WIRE.md) encode it as each provider's JSON document and as
its SSE stream; each provider's parser must give back exactly what went in, and the stream
parser exactly what the JSON parser gives. Header fuzzing: whatever `Retry-After` /
`retry-after-ms` hold, parsing them yields None or a finite wait, never an exception.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvgw_nb.providers import (
    AnthropicProvider,
    GatewayProvider,
    GoogleProvider,
    NimProvider,
    OpenAIProvider,
    Provider,
)
from nvgw_nb.providers.base import Reply
from nvgw_nb.providers.http_status import parse_retry_after
from nvgw_nb.sim import anthropic_wire, gemini_wire, openai_wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer, SimToolCall
from nvgw_nb.sim.rendering import Dialect, SimReply

#: long runs: `make test-fast` leaves them out (`make test` and CI run them)
pytestmark = pytest.mark.slow

CASES: list[tuple[Provider, Dialect]] = [
    (
        NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/s"),
        openai_wire.DIALECT,
    ),
    (
        GatewayProvider(base_url="https://gw.test/llm/v1/azure", api_version="2024-12-01-preview"),
        openai_wire.DIALECT,
    ),
    (OpenAIProvider(base_url="https://openai.test/v1"), openai_wire.DIALECT),
    (AnthropicProvider(base_url="https://anthropic.test"), anthropic_wire.DIALECT),
    (GoogleProvider(base_url="https://google.test"), gemini_wire.DIALECT),
]
IDS = [provider.name for provider, _ in CASES]

ROUNDTRIP = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,20}", fullmatch=True)
ARGS = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[Answer, dict[str, int]]:
    """A text answer (stop or length) or one to three tool calls, with usage."""
    if draw(st.booleans()):
        calls = tuple(
            SimToolCall(id=f"call_{i}", name=draw(NAME), arguments=json.dumps(draw(ARGS)))
            for i in range(draw(st.integers(1, 3)))
        )
        answer = Answer(content=None, tool_calls=calls, finish_reason="tool_calls")
    else:
        answer = Answer(content=draw(TEXT), finish_reason=draw(st.sampled_from(["stop", "length"])))
    prompt, completion = draw(st.integers(1, 10**6)), draw(st.integers(1, 10**6))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return answer, usage


def _chat(provider: str, answer: Answer) -> SimChat:
    tools = [
        {"type": "function", "function": {"name": c.name, "parameters": {"type": "object"}}}
        for c in answer.tool_calls
    ]
    body: dict[str, Any] = {
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    if tools:
        body["tools"] = tools
    return SimChat(
        provider=provider,
        model="m",
        served_model="m",
        body=body,
        key="k",
        occurrence=0,
        extra_headers=[],
    )


def _expected(answer: Answer) -> tuple[str, str, list[tuple[str | None, Any]]]:
    return (
        answer.content or "",
        answer.finish_reason,
        [(c.name, json.loads(c.arguments)) for c in answer.tool_calls],
    )


def _got(reply: Reply) -> tuple[str, str, list[tuple[str | None, Any]]]:
    return (
        reply.content,
        reply.finish_reason,
        [(c.name, _arguments(c.arguments)) for c in reply.tool_calls],
    )


def _arguments(arguments: str | Mapping[str, Any] | None) -> Any:
    """Arguments as a JSON value (OpenAI sends a string, Anthropic and Gemini an object)."""
    return json.loads(arguments) if isinstance(arguments, str) else arguments


def _parse_stream(provider: Provider, blob: bytes) -> Reply:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=blob)
    parser = provider.stream_parser()
    for event in EventSource(response).iter_sse():
        parser.feed(event.event, event.data)
        if parser.done:
            break
    return parser.reply()


@pytest.mark.parametrize(("provider", "dialect"), CASES, ids=IDS)
@ROUNDTRIP
@given(drawn=answers())
def test_valid_answers_parse_to_what_was_sent(
    provider: Provider, dialect: Dialect, drawn: tuple[Answer, dict[str, int]]
) -> None:
    answer, usage = drawn
    chat = _chat(provider.name, answer)
    sim_reply = SimReply(response_id="r-1", created=1_700_000_000, answer=answer, usage=usage)

    document = dialect.document(chat, sim_reply)
    request = httpx.Request("POST", "https://provider.test/x")
    parsed = provider.parse_response(
        httpx.Response(
            200,
            content=json.dumps(document).encode(),
            headers={"content-type": "application/json"},
            request=request,
        )
    )
    assert _got(parsed) == _expected(answer)
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )

    events, _, _ = dialect.stream_events(chat, sim_reply)
    streamed = _parse_stream(provider, b"".join(blob for _, blob in events))
    assert _got(streamed) == _got(parsed)
    assert streamed.usage == parsed.usage


@ROUNDTRIP
@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "Retry-After", "x-other"]),
        # What can arrive on the wire: any byte, read as latin-1 (as httpx decodes them).
        st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=40)
        | st.integers(-(10**12), 10**12).map(str)
        | st.floats().map(str),
        max_size=3,
    )
)
def test_retry_headers_never_raise(headers: dict[str, str]) -> None:
    """Any header value: None or a finite, non-negative number of seconds."""
    wait = parse_retry_after(
        httpx.Headers([(k.encode(), v.encode("latin-1")) for k, v in headers.items()])
    )
    assert wait is None or (math.isfinite(wait) and wait >= 0)
