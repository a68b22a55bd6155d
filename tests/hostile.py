"""`HostileServer`: a raw loopback HTTP server that answers every request with one attack.

Huge, endless or compressed-bomb bodies (200 and 503), SSE lines and events that never end,
SSE faster than it is read, an error body that trickles, JSON nested 100k deep, usage that
is infinite or negative, an HTML model list, a 5 MB error code and a 5 MB model name. Each
connection is served by a daemon thread until the client goes away; the bombs are made as
they are sent (a 2 GiB gzip stream is 2 MB of repeated deflate blocks), never held whole.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from types import TracebackType

__all__ = ["MODES", "HostileServer", "gzip_bomb"]

_BLOCK = 64 * 1024
_MIB = 1024 * 1024
_DEEP = 100_000


def _completion(content: str = "hello", **extra: object) -> bytes:
    body: dict[str, object] = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "model": "meta/llama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    body.update(extra)
    return json.dumps(body, allow_nan=True).encode()


def gzip_bomb(decoded_bytes: int = 2 * 1024 * _MIB) -> Iterator[bytes]:
    """A gzip stream of `decoded_bytes` zeros, made as it is sent: one deflate block that
    inflates to 1 MiB, flushed so it references nothing before it, repeated."""
    zeros = bytes(_MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip header, no name, no mtime
    crc = 0
    for _ in range(decoded_bytes // _MIB):
        crc = zlib.crc32(zeros, crc)
        yield block
    yield b"\x03\x00"  # the last, empty, final block
    yield struct.pack("<II", crc, decoded_bytes & 0xFFFFFFFF)


def _head(status: int, ctype: str, *headers: str) -> bytes:
    reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}", *headers, "", ""]
    return "\r\n".join(lines).encode()


def _sized(status: int, ctype: str, body: bytes) -> Iterator[bytes]:
    yield _head(status, ctype, f"Content-Length: {len(body)}", "Connection: close") + body


def _chunked(status: int, ctype: str, parts: Iterator[bytes], *headers: str) -> Iterator[bytes]:
    yield _head(status, ctype, "Transfer-Encoding: chunked", "Connection: close", *headers)
    for part in parts:
        if part:
            yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def _forever(block: bytes, pause_s: float = 0.0) -> Iterator[bytes]:
    while True:
        yield block
        if pause_s:
            time.sleep(pause_s)


def _big(status: int) -> Iterator[bytes]:
    size = 500 * _MIB
    yield _head(status, "application/json", f"Content-Length: {size}", "Connection: close")
    spaces = b" " * _BLOCK
    for _ in range(size // _BLOCK):
        yield spaces


def _endless(status: int) -> Iterator[bytes]:
    return _chunked(status, "application/json", _forever(b" " * _BLOCK))


def _bomb(status: int) -> Iterator[bytes]:
    return _chunked(status, "application/json", gzip_bomb(), "Content-Encoding: gzip")


def _sse(parts: Iterator[bytes]) -> Iterator[bytes]:
    return _chunked(200, "text/event-stream", parts)


def _sse_endless_line() -> Iterator[bytes]:
    def parts() -> Iterator[bytes]:
        yield b"data: "
        yield from _forever(b"x" * _BLOCK)

    return _sse(parts())


def _sse_no_blank_line() -> Iterator[bytes]:
    line = b'data: {"choices": []}\n'
    return _sse(_forever(line * (_BLOCK // len(line))))


def _sse_fast(event: bytes, pause_s: float) -> Iterator[bytes]:
    return _sse(_forever(event * (4096 // len(event)), pause_s=pause_s))


def _chunk_event(text: str) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _trickle_503() -> Iterator[bytes]:
    yield _head(503, "application/json", "Content-Length: 1000", "Connection: close")
    for _ in range(1000):
        time.sleep(0.5)
        yield b" "


def _deep() -> bytes:
    return b"[" * _DEEP + b"]" * _DEEP


def _deep_sse() -> Iterator[bytes]:
    return _sse(iter([b"data: " + _deep() + b"\n\n"]))


def _usage(value: float) -> Iterator[bytes]:
    usage = {"prompt_tokens": value, "completion_tokens": value, "total_tokens": value}
    return _sized(200, "application/json", _completion(usage=usage))


_ERROR_5MB = json.dumps(
    {"error": {"code": "E" * (5 * _MIB), "message": "failed " * 1000, "type": "T" * 999}}
).encode()
_MODEL_5MB = _completion(model="m" * 5 * _MIB)


def _big_code(status: int) -> Iterator[bytes]:
    return _sized(status, "application/json", _ERROR_5MB)


def _html() -> Iterator[bytes]:
    page = b"<!doctype html><html><body><h1>Sign in</h1>" + b"<p>proxy</p>" * 100 + b"</html>"
    return _sized(200, "text/html; charset=utf-8", page)


#: every mode: (request path) -> the bytes to send, in pieces
MODES: dict[str, Callable[[str], Iterator[bytes]]] = {
    "ok": lambda path: _sized(200, "application/json", _completion()),
    "big_200": lambda path: _big(200),
    "big_503": lambda path: _big(503),
    "endless_200": lambda path: _endless(200),
    "endless_503": lambda path: _endless(503),
    "gzip_bomb_200": lambda path: _bomb(200),
    "gzip_bomb_503": lambda path: _bomb(503),
    "sse_endless_line": lambda path: _sse_endless_line(),
    "sse_no_blank_line": lambda path: _sse_no_blank_line(),
    # one-byte comment lines, unpaced: there is always more to read (no wait to cancel),
    # yet parsing them is slow enough to stay under the 16 MiB stream limit for seconds
    "sse_fast_comments": lambda path: _sse_fast(b":\n", pause_s=0.0),
    # ~4 MB/s of text events: the text is shown, then the deadline ends the stream
    "sse_fast_text": lambda path: _sse_fast(_chunk_event("word "), pause_s=0.001),
    "trickle_503": lambda path: _trickle_503(),
    "deep_json_200": lambda path: _sized(200, "application/json", _deep()),
    "deep_json_503": lambda path: _sized(503, "application/json", _deep()),
    "deep_json_sse": lambda path: _deep_sse(),
    "usage_infinity": lambda path: _usage(float("inf")),
    "usage_negative": lambda path: _usage(-1e9),
    "models_html": lambda path: _html(),
    "code_5mb_503": lambda path: _big_code(503),
    "code_5mb_200": lambda path: _big_code(200),
    "model_5mb": lambda path: _sized(200, "application/json", _MODEL_5MB),
}


class HostileServer:
    """A loopback server answering every request in `mode` (see `MODES`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._answer = MODES[mode]
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                path = _read_request(conn)
                for piece in self._answer(path):
                    conn.sendall(piece)
            except OSError:
                return  # the client went away: what every attack here waits for


def _read_request(conn: socket.socket) -> str:
    """Read one request (head and Content-Length body); its path."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            raise ConnectionResetError
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        (
            int(v)
            for k, _, v in (h.partition(":") for h in lines[1:])
            if k.lower() == "content-length"
        ),
        0,
    )
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            break
        body += more
    return lines[0].split(" ")[1]
