"""Reading a response body within a size limit and a deadline, and its SSE events too.

httpx reads a body whole (`aread`) and decodes gzip without an output limit, so a 500 MB
body or a 2 MB gzip bomb that inflates to 2 GiB is held in memory; `httpx_sse` builds
lines and events with no size limit either, so an endless line grows until the process
dies. Here the raw bytes are read chunk by chunk, decoded in bounded pieces (a bomb stops
at the limit, whatever Content-Length said), and the clock is looked at after every chunk:
a deadline passes even while data keeps arriving, when no wait is left to cancel.

Over a limit: `TooLarge`; past the deadline: `TimeoutError`. The engine turns them into
its typed errors.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import httpx

from nvgw_nb.errors import MalformedResponse, NvgwError, ResponseTooLarge
from nvgw_nb.untrusted import Limits, limits_in_force

__all__ = [
    "ServerSentEvent",
    "TooLarge",
    "aiter_decoded",
    "aiter_sse",
    "parsing",
    "read_body",
    "too_large",
]

logger = logging.getLogger("nvgw_nb")

#: the most decoded bytes produced from one step of a decoder
_PIECE = 64 * 1024
#: raw bytes fed to a decoder that cannot bound its own output, at a time
_RAW_SLICE = 1024
_EOL = re.compile(rb"\r\n|\r|\n")


class TooLarge(Exception):
    """More than `limit` bytes of `what` ("body", "SSE line", "SSE event", "stream")."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} over {limit} bytes")
        self.what = what
        self.limit = limit


# --- decoding with bounded output -------------------------------------------------------
class _Decoder:
    """One Content-Encoding, decoded `_PIECE` bytes at a time."""

    def feed(self, data: bytes) -> Iterator[bytes]:
        raise NotImplementedError

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Identity(_Decoder):
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data


class _Zlib(_Decoder):
    """gzip or deflate; `decompress(max_length=…)` keeps the rest for the next step."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._first = True
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._first and not self._gzip and data:
            # "deflate" is zlib-wrapped by the standard and raw by some servers (as httpx).
            self._first = False
            try:
                zlib.decompressobj().decompress(data[:2])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        pending = data
        while pending:
            try:
                piece = self._z.decompress(pending, _PIECE)
            except zlib.error as err:
                kind = "gzip" if self._gzip else "deflate"
                raise httpx.DecodingError(f"bad {kind} data: {err}") from None
            pending = self._z.unconsumed_tail
            if piece:
                yield piece
            if self._z.eof:
                return  # bytes after the end of the stream are ignored, as httpx does

    def flush(self) -> Iterator[bytes]:
        piece = self._z.flush(_PIECE)
        if piece:
            yield piece


class _Sliced(_Decoder):
    """An httpx decoder with no output limit (br, zstd), fed small raw slices."""

    def __init__(self, inner: httpx._decoders.ContentDecoder) -> None:
        self._inner = inner

    def feed(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), _RAW_SLICE):
            piece = self._inner.decode(data[start : start + _RAW_SLICE])
            for at in range(0, len(piece), _PIECE):
                yield piece[at : at + _PIECE]

    def flush(self) -> Iterator[bytes]:
        yield self._inner.flush()


def _decoders(response: httpx.Response) -> list[_Decoder]:
    """One decoder per Content-Encoding, in the order they apply (unknown ones: none)."""
    out: list[_Decoder] = []
    values = response.headers.get_list("content-encoding", split_commas=True)
    for value in reversed([v.strip().lower() for v in values]):
        if value in ("gzip", "x-gzip"):
            out.append(_Zlib(gzip=True))
        elif value == "deflate":
            out.append(_Zlib(gzip=False))
        elif value in httpx._decoders.SUPPORTED_DECODERS and value != "identity":
            out.append(_Sliced(httpx._decoders.SUPPORTED_DECODERS[value]()))
    return out or [_Identity()]


def _through(decoders: list[_Decoder], data: bytes, *, last: bool = False) -> Iterator[bytes]:
    """`data` through every decoder in turn, a bounded piece at a time (`last`: then
    flush them all)."""
    if not decoders:
        if data:
            yield data
        return
    first, rest = decoders[0], decoders[1:]
    for piece in first.feed(data):
        yield from _through(rest, piece)
    if last:
        for piece in first.flush():
            yield from _through(rest, piece)
        if rest:
            yield from _through(rest, b"", last=True)


# --- the body ---------------------------------------------------------------------------
async def aiter_decoded(
    response: httpx.Response,
    *,
    limit: int,
    deadline: float,
    clock: Callable[[], float],
    what: str = "body",
) -> AsyncGenerator[bytes, None]:
    """The decoded body in bounded pieces; `TooLarge` past `limit` bytes, `TimeoutError`
    at `deadline` (by `clock`), waiting or not."""
    try:
        # Already in memory (a Response built with content=, as httpx.MockTransport's
        # are): its stream is spent, and only its size is left to bound.
        content = response.content
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > limit:
            raise TooLarge(what, limit)
        yield content
        return
    decoders = _decoders(response)
    raw = response.aiter_raw()
    total = 0
    ended = False
    try:
        while not ended:
            _check(deadline, clock)
            with anyio.fail_after(max(0.0, deadline - clock())):
                try:
                    chunk = await raw.__anext__()
                except StopAsyncIteration:
                    ended = True
                    chunk = b""
            for piece in _through(decoders, chunk, last=ended):
                total += len(piece)
                if total > limit:
                    raise TooLarge(what, limit)
                yield piece
                _check(deadline, clock)
    finally:
        await _close(raw)


async def read_body(
    response: httpx.Response, *, limit: int, deadline: float, clock: Callable[[], float]
) -> httpx.Response:
    """`response` with its body read: a copy holding the decoded bytes (Content-Encoding
    dropped), so `.content`, `.json()` and `.text` work as after `aread()`."""
    body = bytearray()
    async for piece in aiter_decoded(response, limit=limit, deadline=deadline, clock=clock):
        body += piece
    headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=bytes(body),
        request=response.request,
        extensions=response.extensions,
        history=response.history,
    )


async def _close(iterator: AsyncIterator[bytes]) -> None:
    """Close an async generator typed as an iterator (httpx's `aiter_raw` is one)."""
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        await closer()


def _check(deadline: float, clock: Callable[[], float]) -> None:
    """TimeoutError once `deadline` has passed: read after every chunk, since a cancel
    scope only fires while a read waits, and a fast upstream never lets it wait."""
    if clock() >= deadline:
        raise TimeoutError


# --- server-sent events -----------------------------------------------------------------
@dataclass(frozen=True)
class ServerSentEvent:
    """One event: its name ("message" when unnamed, as httpx_sse says) and its data."""

    event: str
    data: str


class _Lines:
    """Bytes into lines ending in CRLF, LF or CR, none longer than `limit`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._partial = bytearray()
        self._after_cr = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._after_cr and data.startswith(b"\n"):
            data = data[1:]  # the LF of a CRLF cut between two chunks
        self._after_cr = data.endswith(b"\r")
        start = 0
        for end in _EOL.finditer(data):
            line = data[start : end.start()]
            if self._partial:
                line = bytes(self._partial + line)
                self._partial.clear()
            if len(line) > self._limit:
                raise TooLarge("SSE line", self._limit)
            yield line
            start = end.end()
        self._partial += data[start:]
        if len(self._partial) > self._limit:
            raise TooLarge("SSE line", self._limit)


class _Events:
    """Lines into events as the SSE standard assembles them (an event is dispatched by a
    blank line, when it has data), none carrying more than `limit` bytes of data."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._name = ""
        self._data: list[str] = []
        self._size = 0

    def feed(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._name = value
        elif name == "data":
            self._size += len(raw) + 1
            if self._size > self._limit:
                raise TooLarge("SSE event", self._limit)
            self._data.append(value)
        return None  # id, retry and unknown fields change nothing we read

    def _dispatch(self) -> ServerSentEvent | None:
        name, data = self._name, self._data
        self._name, self._data, self._size = "", [], 0
        if not data:
            return None
        return ServerSentEvent(event=name or "message", data="\n".join(data))


async def aiter_sse(
    response: httpx.Response, *, limits: Limits, deadline: float, clock: Callable[[], float]
) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of an SSE body as they arrive: `TooLarge` for a line or an event over
    `limits.sse_event_bytes` or a stream over `limits.body_bytes`, `TimeoutError` at
    `deadline`. A last event not closed by a blank line is not dispatched (the standard)."""
    lines = _Lines(limits.sse_event_bytes)
    events = _Events(limits.sse_event_bytes)
    chunks = aiter_decoded(
        response, limit=limits.body_bytes, deadline=deadline, clock=clock, what="stream"
    )
    try:
        async for chunk in chunks:
            for line in lines.feed(chunk):
                event = events.feed(line)
                if event is not None:
                    yield event
    finally:
        await chunks.aclose()


# --- what the engine makes of it ---------------------------------------------------------
def too_large(err: TooLarge, name: str, status: int) -> ResponseTooLarge:
    """The error for a body, stream, line or event of `name`'s over its limit."""
    sse = err.what.startswith("SSE")
    setting = "NVGW_MAX_SSE_EVENT_BYTES" if sse else "NVGW_MAX_BODY_BYTES"
    return ResponseTooLarge(
        f"{name} answered HTTP {status} with {'an' if sse else 'a'} {err.what} over "
        f"{err.limit} bytes; reading stopped there (raise {setting} if such answers are "
        "expected)",
        provider=name,
        status_code=status,
    )


@contextmanager
def parsing(name: str, status: int | None, limits: Limits) -> Iterator[None]:
    """Around a provider's parsing of `name`'s answer (synchronous code only): `limits` in
    force, and whatever else the parser raises on bytes it did not foresee becomes a
    `MalformedResponse`, so only NvgwError leaves the engine and the next provider is
    tried."""
    with limits_in_force(limits):
        try:
            yield
        except NvgwError:
            raise
        except Exception as err:
            logger.debug("%s: an answer could not be read", name, exc_info=True)
            raise MalformedResponse(
                f"{name} answered HTTP {status} with a body that could not be read "
                f"({type(err).__name__})",
                provider=name,
                status_code=status,
            ) from None
