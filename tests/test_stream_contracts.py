"""Streaming contracts S1/S2 in both modes, with the cut placed exactly (httpx MockTransport).

The simulator covers S1/S2 end to end (tests/test_stream.py); here the upstream is a
hand-written SSE byte stream so a test can cut it after exactly the third chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

import nvgw_nb as nv

ENV = {
    "NVIDIA_NIM_API_KEY": "test-nim-key",
    "NVIDIA_NIM_BASE_URL": "https://nim.test/v1",
    "STARFLEET_ID": "test-client",
    "STARFLEET_SECRET": "test-secret",
    "STARFLEET_TOKEN_URL": "https://starfleet.test/token",
    "LLM_GATEWAY_BASE_URL": "https://gateway.test/llm/v1/azure",
}


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    body = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class CutStream(httpx.AsyncByteStream):
    """SSE events, then either [DONE] or a connection cut."""

    def __init__(self, events: list[bytes], *, cut: bool) -> None:
        self.events = events
        self.cut = cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self.events:
            yield event
        if self.cut:
            raise httpx.RemoteProtocolError("peer closed connection mid-stream")
        yield b"data: [DONE]\n\n"


def _words(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i} " for i in range(n)]


def make_handler(nim_chunks_before_cut: int | None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        sse = {"content-type": "text/event-stream"}
        if request.url.host == "starfleet.test":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 900})
        if request.url.host == "nim.test":
            if nim_chunks_before_cut is None:
                events = [_chunk(w) for w in _words("nim", 5)] + [_chunk(None, "stop")]
                return httpx.Response(200, headers=sse, stream=CutStream(events, cut=False))
            events = [_chunk(w) for w in _words("nim", nim_chunks_before_cut)]
            return httpx.Response(200, headers=sse, stream=CutStream(events, cut=True))
        events = [_chunk(w) for w in _words("gw", 4)] + [_chunk(None, "stop")]
        return httpx.Response(200, headers=sse, stream=CutStream(events, cut=False))

    return httpx.MockTransport(handler)


@pytest.fixture
def session_cut_after_3() -> Iterator[nv.Session]:
    with nv.Session.from_env(
        env=ENV, env_file=None, transport=make_handler(3), retry=nv.RetryPolicy.no_wait()
    ) as s:
        yield s


def test_cut_after_third_chunk_raises_with_the_partial_text(
    session_cut_after_3: nv.Session,
) -> None:
    """Default mode: exactly three chunks arrive, then StreamInterrupted carries them."""
    seen: list[str] = []

    def read() -> None:
        for chunk in session_cut_after_3.stream("hi"):
            seen.append(chunk.text)

    with pytest.raises(nv.StreamInterrupted) as info:
        read()
    assert seen == ["nim0 ", "nim1 ", "nim2 "]
    assert info.value.partial_text == "nim0 nim1 nim2 "
    assert [a.provider for a in info.value.attempts] == ["nvidia-nim"]


def test_cut_after_third_chunk_restarts_on_the_next_provider(
    session_cut_after_3: nv.Session,
) -> None:
    """restart mode: three chunks, a reset event, then the gateway's whole answer."""
    stream = session_cut_after_3.stream("hi", stream_mode="restart")
    chunks = list(stream)
    assert [c.text for c in chunks[:3]] == ["nim0 ", "nim1 ", "nim2 "]
    assert chunks[3].reset
    assert chunks[3].provider == "nvidia-gateway"
    assert "".join(c.text for c in chunks[4:]) == "gw0 gw1 gw2 gw3 "
    assert stream.text == "gw0 gw1 gw2 gw3 "  # text before the reset is void
    result = stream.result
    assert result.served_by == "nvidia-gateway"
    assert result.content == "gw0 gw1 gw2 gw3 "
    assert [a.error_kind for a in result.attempts] == ["stream_interrupted", None]


def test_restart_on_the_last_provider_still_raises() -> None:
    """With nowhere to restart, restart mode raises StreamInterrupted too."""
    with (
        nv.Session.from_env(
            env=ENV, env_file=None, transport=make_handler(3), retry=nv.RetryPolicy.no_wait()
        ) as s,
        pytest.raises(nv.StreamInterrupted),
    ):
        list(s.stream("hi", stream_mode="restart", fallbacks=False))


def test_cut_before_any_text_is_transparent() -> None:
    """S1: zero chunks then a cut: retried, and the reader sees only whole answers."""
    with nv.Session.from_env(
        env=ENV, env_file=None, transport=make_handler(0), retry=nv.RetryPolicy.no_wait()
    ) as s:
        stream = s.stream("hi")
        chunks = list(stream)
    assert not any(c.reset for c in chunks)
    assert "".join(c.text for c in chunks) == "gw0 gw1 gw2 gw3 "
    assert [a.error_kind for a in stream.result.attempts] == ["connection"] * 3 + [None]


async def test_restart_in_astream(session_cut_after_3: nv.Session) -> None:
    """astream honours stream_mode too."""
    stream = session_cut_after_3.astream("hi", stream_mode="restart")
    resets = [c async for c in stream if c.reset]
    assert len(resets) == 1
    assert stream.text == "gw0 gw1 gw2 gw3 "


def test_unknown_keyword_is_a_type_error(session_cut_after_3: nv.Session) -> None:
    """A misspelt keyword fails like it would on an explicit signature."""
    with pytest.raises(TypeError, match="stream_mod"):
        session_cut_after_3.stream("hi", stream_mod="restart")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="stream_mode"):
        session_cut_after_3.chat("hi", stream_mode="restart")  # type: ignore[call-arg]


def test_unreported_usage_is_estimated_and_flagged(session_cut_after_3: nv.Session) -> None:
    """Attempts that reached a provider but reported no usage get an estimate, flagged."""
    stream = session_cut_after_3.stream("hi", stream_mode="restart")
    result = stream.result
    assert all(a.usage_estimated for a in result.attempts)
    assert result.attempts[0].usage is not None
    assert result.attempts[0].usage.completion_tokens == len("nim0 nim1 nim2 ") // 4
    assert result.cost_estimated
    assert "(est.)" in result.trace()
