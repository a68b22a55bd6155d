"""SSE parsing holds at any chunk boundary: inside `\\r\\n`, inside a multi-byte character.

Property test: a stream of events in each provider's dialect (OpenAI-style chunks with
`[DONE]`, Anthropic's named events with pings, Gemini's whole responses) is serialised
with LF or CRLF line endings, cut into byte chunks at arbitrary places, and sent through
a real Session (MockTransport upstream). Whatever the cuts, the text that comes out is
the text that went in.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nvgw_nb as nv

ENV = {
    "NVIDIA_NIM_API_KEY": "test-nim-key",
    "NVIDIA_NIM_BASE_URL": "https://nim.test/v1",
    "NVIDIA_LLM_GATEWAY_ENABLED": "false",
    "NVGW_ALLOW_EXTERNAL": "true",
    "ANTHROPIC_API_KEY": "test-anthropic-key",
    "ANTHROPIC_BASE_URL": "https://anthropic.test",
    "GOOGLE_API_KEY": "test-google-key",
    "NVGW_GOOGLE_BASE_URL": "https://google.test",
}

# Text with multi-byte UTF-8 (accents, CJK, emoji) but no surrogates.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=32), min_size=1, max_size=12
)


def _event(data: Any, name: str | None = None) -> list[str]:
    lines = [f"event: {name}"] if name else []
    return [*lines, "data: " + json.dumps(data, ensure_ascii=False), ""]


def openai_events(pieces: list[str]) -> list[str]:
    """OpenAI-style chunks, a comment, a finish chunk and [DONE] (NIM, gateway, OpenAI)."""
    lines = [": keep-alive comment", ""]
    for piece in pieces:
        lines += _event({"choices": [{"index": 0, "delta": {"content": piece}}]})
    lines += _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return [*lines, "data: [DONE]", ""]


def anthropic_events(pieces: list[str]) -> list[str]:
    """Anthropic's named events in order, with pings."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}
    lines = _event({"type": "message_start", "message": message}, "message_start")
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    lines += _event(block, "content_block_start")
    for piece in pieces:
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": piece},
        }
        lines += _event(delta, "content_block_delta") + _event({"type": "ping"}, "ping")
    lines += _event({"type": "content_block_stop", "index": 0}, "content_block_stop")
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 3},
    }
    lines += _event(end, "message_delta")
    return lines + _event({"type": "message_stop"}, "message_stop")


def gemini_events(pieces: list[str]) -> list[str]:
    """Gemini: every event a whole response with the new text; the last one has finishReason."""
    lines: list[str] = []
    for i, piece in enumerate(pieces):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}}
        if i == len(pieces) - 1:
            candidate["finishReason"] = "STOP"
        lines += _event({"candidates": [candidate]})
    return lines


DIALECTS: dict[str, Callable[[list[str]], list[str]]] = {
    "nvidia-nim": openai_events,
    "anthropic": anthropic_events,
    "google-genai": gemini_events,
}


def serialise(provider: str, pieces: list[str], newline: str) -> bytes:
    """The provider's events as bytes; every event, the last included, ends in a blank line."""
    return (newline.join(DIALECTS[provider](pieces)) + newline).encode()


class Chunked(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def cut(blob: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(blob), *(p % (len(blob) + 1) for p in points)})
    return [blob[a:b] for a, b in itertools.pairwise(edges) if b > a]


class Upstream:
    """A MockTransport whose next stream is set by the test."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream; charset=utf-8"}
        return httpx.Response(200, headers=headers, stream=Chunked(self.chunks))


@pytest.fixture(scope="module")
def wired() -> Iterator[tuple[nv.Session, Upstream]]:
    upstream = Upstream()
    session = nv.Session.from_env(env=ENV, env_file=None, transport=httpx.MockTransport(upstream))
    try:
        yield session, upstream
    finally:
        session.close()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    provider=st.sampled_from(sorted(DIALECTS)),
    pieces=st.lists(TEXT, min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunk_boundary_gives_the_same_text(
    wired: tuple[nv.Session, Upstream],
    provider: str,
    pieces: list[str],
    newline: str,
    points: list[int],
) -> None:
    """The streamed text equals the sent text however the bytes are cut."""
    session, upstream = wired
    upstream.chunks = cut(serialise(provider, pieces, newline), points)
    stream = session.stream("hi", providers=[provider])
    received = "".join(chunk.text for chunk in stream)
    assert received == "".join(pieces)
    assert stream.result.content == "".join(pieces)
    assert stream.result.served_by == provider


@pytest.mark.parametrize("provider", sorted(DIALECTS))
def test_every_single_byte_boundary(wired: tuple[nv.Session, Upstream], provider: str) -> None:
    """Exhaustively: one cut at every byte of a CRLF stream with a 4-byte character."""
    session, upstream = wired
    blob = serialise(provider, ["naïve ", "日本", " 🚀 ok"], "\r\n")
    for position in range(1, len(blob)):
        upstream.chunks = [blob[:position], blob[position:]]
        text = "".join(c.text for c in session.stream("hi", providers=[provider]))
        assert text == "naïve 日本 🚀 ok", position
