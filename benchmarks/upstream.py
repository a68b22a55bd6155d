"""A minimal, fast loopback upstream for `overhead.py`: no latency, fixed answers.

asyncio + httptools (already a dependency of nvgw_nb, through the simulator), HTTP/1.1
keep-alive, one process. It answers:

- `POST .../token` → a Starfleet-style token (any Basic credentials);
- `POST` to a path containing `/fail/` → 500 with an OpenAI-style error;
- `POST .../chat/completions` → one fixed chat completion, or SSE when the body has
  `"stream": true` (a role chunk, 8 content chunks, a finish chunk, `[DONE]`);
- anything else → 404.

    python benchmarks/upstream.py        # prints "port N", serves until killed

The process prints its CPU time on SIGTERM (`cpu S`) so the benchmark can report the
upstream's share of the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import httptools

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The answer is 42."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
    }
).encode()
TOKEN = json.dumps(
    {"access_token": "bench-token", "token_type": "Bearer", "expires_in": 3600}
).encode()
FAIL = json.dumps(
    {"error": {"message": "upstream failed", "type": "server_error", "code": 500}}
).encode()


def _sse() -> bytes:
    def chunk(delta: dict[str, object], finish: str | None) -> bytes:
        obj = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    parts = [chunk({"role": "assistant", "content": ""}, None)]
    parts += [chunk({"content": f"piece {i} "}, None) for i in range(8)]
    parts.append(chunk({}, "stop"))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


STREAM = _sse()


def _response(status: bytes, ctype: bytes, body: bytes, chunked: bool = False) -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype + b"\r\n"
    if chunked:  # one chunk then the terminator: the client sees a streamed body
        return (
            head
            + b"transfer-encoding: chunked\r\n\r\n"
            + (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        )
    return head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        path = self.url.split(b"?", 1)[0]
        if path.endswith(b"/token"):
            out = _response(b"200 OK", b"application/json", TOKEN)
        elif b"/fail/" in path:
            out = _response(b"500 Internal Server Error", b"application/json", FAIL)
        elif path.endswith(b"/chat/completions"):
            if b'"stream": true' in b"".join(self.body) or b'"stream":true' in b"".join(self.body):
                out = _response(b"200 OK", b"text/event-stream", STREAM, chunked=True)
            else:
                out = _response(b"200 OK", b"application/json", COMPLETION)
        else:
            out = _response(b"404 Not Found", b"application/json", b'{"error": "not found"}')
        self.transport.write(out)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    print(f"cpu {time.process_time():.3f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--cpu" and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(sys.argv[2])})
    asyncio.run(_main())
