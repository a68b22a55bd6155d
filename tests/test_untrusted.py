"""Reading upstream bytes without trust: `nvgw_nb.untrusted` and `nvgw_nb.reading` as tables.

JSON depth found without parsing, text cut at a word, token counts that must be finite and
non-negative; bodies decoded within a size limit (a gzip bomb stops early), SSE lines and
events assembled within theirs, and a deadline that fires although data never stops.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest

from nvgw_nb.reading import TooLarge, aiter_sse, read_body
from nvgw_nb.untrusted import Limits, UnreadableJson, cut, json_depth_exceeds, loads, token_count


class _Chunks(httpx.AsyncByteStream):
    """A body that arrives in the given raw chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


def _response(chunks: Iterable[bytes], **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "http://upstream.test/")
    return httpx.Response(200, headers=headers, stream=_Chunks(chunks), request=request)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _events(response: httpx.Response, limits: Limits) -> list[tuple[str, str]]:
    found = aiter_sse(response, limits=limits, deadline=float("inf"), clock=lambda: 0.0)
    return [(e.event, e.data) async for e in found]


@pytest.mark.parametrize(
    ("raw", "deepest", "exceeds"),
    [
        (b"[[]]", 2, False),
        (b"[[[]]]", 2, True),
        (b'{"a": "[[[[[[[[[["}', 1, False),  # brackets in strings do not nest
        (b'{"a": "\\"[[[["}', 1, False),  # nor behind an escaped quote
        (b"[" * 100_000 + b"]" * 100_000, 100, True),
        (b"[1, 2, [3]]" * 1000, 2, False),
    ],
)
def test_json_depth_is_found_without_parsing(raw: bytes, deepest: int, exceeds: bool) -> None:
    """Nesting deeper than the limit is found by counting brackets outside strings."""
    assert json_depth_exceeds(raw, deepest) is exceeds


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"{" * 5000 + b"}" * 5000, b"<html>"])
def test_loads_raises_only_unreadable_json(raw: bytes) -> None:
    """Too deep or not JSON: UnreadableJson (a ValueError), never RecursionError."""
    with pytest.raises(UnreadableJson):
        loads(raw)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("a long sentence that goes on", 16, "a long sentence…"),
        ("E" * 5_000_000, 300, "E" * 299 + "…"),  # one long word: cut hard
    ],
)
def test_cut_at_a_word(text: str, limit: int, expected: str) -> None:
    """Text over the limit is cut at a word near the end, else hard; the cut is marked."""
    assert cut(text, limit) == expected


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (None, 0),
        (12, 12),
        (12.9, 12),
        ("7", 7),
        (-1, None),
        (-1e9, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        (10**13, None),
        ("many", None),
    ],
)
def test_token_counts_are_finite_and_not_negative(value: object, count: int | None) -> None:
    """A count is a whole number from 0 to 1e12; anything else is not a count (None)."""
    assert token_count(value) == count


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    """Decoded bytes are counted as they are inflated: 64 MiB of zeros stop at 1 MiB."""
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    response = _response([bomb], **{"content-encoding": "gzip"})
    with pytest.raises(TooLarge):
        _run(read_body(response, limit=1024 * 1024, deadline=float("inf"), clock=lambda: 0.0))


def test_a_body_is_decoded_within_the_limit() -> None:
    """Under the limit, the copy holds the decoded body and no Content-Encoding."""
    response = _response([gzip.compress(b'{"ok": true}')], **{"content-encoding": "gzip"})
    read = _run(read_body(response, limit=100, deadline=float("inf"), clock=lambda: 0.0))
    assert (read.json(), "content-encoding" in read.headers) == ({"ok": True}, False)


def test_the_deadline_fires_while_data_keeps_arriving() -> None:
    """An endless body with never a wait still ends at the deadline (the clock is read
    after every chunk)."""
    ticks = itertools.count()
    response = _response(itertools.repeat(b" " * 10))
    with pytest.raises(TimeoutError):
        _run(read_body(response, limit=10**9, deadline=50, clock=lambda: next(ticks)))


@pytest.mark.parametrize(
    ("chunks", "events"),
    [
        ([b"data: a\n\n"], [("message", "a")]),
        ([b"event: x\r\ndata: a\r", b"\ndata: b\r\n\r\n"], [("x", "a\nb")]),  # CRLF cut
        ([b": ping\n\n", b"data:b\r\r"], [("message", "b")]),
        ([b"event: only-a-name\n\n"], []),  # no data: not dispatched (the standard)
        ([b"data: last, never closed"], []),
    ],
)
def test_sse_events_are_assembled_as_the_standard_says(
    chunks: list[bytes], events: list[tuple[str, str]]
) -> None:
    """Lines end in CRLF, LF or CR, even cut between chunks; a blank line dispatches."""
    assert _run(_events(_response(chunks), Limits())) == events


@pytest.mark.parametrize(
    ("chunks", "what"),
    [
        ([b"data: "] + [b"x" * 100] * 20, "SSE line"),  # a line that never ends
        ([b"data: x\n"] * 300, "SSE event"),  # data lines with no blank line
        ([b": keep-alive\n\n"] * 1000, "stream"),  # a stream over the body limit
    ],
)
def test_sse_limits(chunks: list[bytes], what: str) -> None:
    """A line or an event over the event limit, or a stream over the body limit, stop."""
    limits = Limits(body_bytes=10_000, sse_event_bytes=1000)
    with pytest.raises(TooLarge) as raised:
        _run(_events(_response(chunks), limits))
    assert raised.value.what == what
