"""Streaming: real SSE over loopback, transparent fallback before text, S2 after it."""

from __future__ import annotations

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator


def test_stream_yields_chunks_then_a_result(session: nv.Session) -> None:
    """Chunks arrive one by one; the result has the same text and a full record."""
    stream = session.stream("Explain NVCF polling", role="router")
    chunks = [str(chunk) for chunk in stream]
    assert len(chunks) > 1
    result = stream.result
    assert result.content == "".join(chunks)
    assert result.served_by == "nvidia-nim"
    assert result.usage.completion_tokens > 0


def test_stream_from_the_gateway(session: nv.Session) -> None:
    """The gateway's stream (with its empty prompt-filter first event) parses too."""
    stream = session.stream("hi", providers=["nvidia-gateway"])
    text = "".join(str(c) for c in stream)
    assert text == stream.result.content
    assert stream.result.served_by == "nvidia-gateway"


@pytest.mark.parametrize(
    ("fault", "times", "served_by", "trace"),
    [
        ("S1", 1, "nvidia-nim", ["connection", None]),
        ("S1", 3, "nvidia-gateway", ["connection"] * 3 + [None]),
        ("N1", 3, "nvidia-gateway", ["server_error"] * 3 + [None]),
    ],
)
def test_failures_before_text_fall_back_transparently(
    sim: Simulator, session: nv.Session, fault: str, times: int, served_by: str, trace: list
) -> None:
    """S1: a stream that breaks before any text is retried or falls back, unseen by the reader."""
    sim.inject("nvidia-nim", fault, times)
    stream = session.stream("hi")
    text = "".join(str(c) for c in stream)
    assert stream.result.served_by == served_by
    assert [a.error_kind for a in stream.result.attempts] == trace
    assert text == stream.result.content


def test_break_after_text_raises_with_the_partial_text(sim: Simulator, session: nv.Session) -> None:
    """S2: once text was shown, a broken stream is not retried: StreamInterrupted with it."""
    sim.inject("nvidia-nim", "S2")
    stream = session.stream("tell me a story")
    seen: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            seen.append(str(chunk))

    with pytest.raises(nv.StreamInterrupted) as info:
        read_all()
    assert seen
    assert info.value.partial_text == "".join(seen)
    assert [a.provider for a in info.value.attempts] == ["nvidia-nim"]


async def test_astream(session: nv.Session) -> None:
    """`async for` over astream gives the same shape as the sync stream."""
    stream = session.astream("hi", role="reviewer")
    chunks = [chunk.text async for chunk in stream]
    assert "".join(chunks) == stream.result.content


def test_closing_a_stream_early_releases_it(sim: Simulator, session: nv.Session) -> None:
    """Stopping after the first chunk closes the response; the Session keeps working."""
    stream = session.stream("a long answer please")
    next(iter(stream))
    stream.close()
    assert session.chat("still fine?").content
