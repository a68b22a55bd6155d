"""SSE parsing holds at any chunk boundary: inside `\\r\\n`, inside a multi-byte character.

Property test: a stream of events is serialised with LF or CRLF line endings, cut into
byte chunks at arbitrary places, and sent through a real Session (MockTransport
upstream). Whatever the cuts, the text that comes out is the text that went in.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nvgw_nb as nv

ENV = {
    "NVIDIA_NIM_API_KEY": "test-nim-key",
    "NVIDIA_NIM_BASE_URL": "https://nim.test/v1",
    "NVIDIA_LLM_GATEWAY_ENABLED": "false",
}

# Text with multi-byte UTF-8 (accents, CJK, emoji) but no surrogates.
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=32), min_size=1, max_size=12
)


class Chunked(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def serialise(pieces: list[str], newline: str) -> bytes:
    """OpenAI chunk events, a comment line, a finish chunk and [DONE]."""
    lines: list[str] = [": keep-alive comment"]
    for piece in pieces:
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        lines += ["data: " + json.dumps(chunk, ensure_ascii=False), ""]
    lines += [
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        "",
    ]
    lines += ["data: [DONE]", ""]
    return newline.join(lines).encode()


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
    pieces=st.lists(TEXT, min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n"]),
    points=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunk_boundary_gives_the_same_text(
    wired: tuple[nv.Session, Upstream], pieces: list[str], newline: str, points: list[int]
) -> None:
    """The streamed text equals the sent text however the bytes are cut."""
    session, upstream = wired
    upstream.chunks = cut(serialise(pieces, newline), points)
    stream = session.stream("hi")
    received = "".join(chunk.text for chunk in stream)
    assert received == "".join(pieces)
    assert stream.result.content == "".join(pieces)


def test_every_single_byte_boundary() -> None:
    """Exhaustively: one cut at every byte of a stream with CRLF and a 4-byte character."""
    blob = serialise(["naïve ", "日本", " 🚀 ok"], "\r\n")
    upstream = Upstream()
    with nv.Session.from_env(
        env=ENV, env_file=None, transport=httpx.MockTransport(upstream)
    ) as session:
        for position in range(1, len(blob)):
            upstream.chunks = [blob[:position], blob[position:]]
            assert "".join(c.text for c in session.stream("hi")) == "naïve 日本 🚀 ok"
