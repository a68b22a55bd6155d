"""Token servers we did not build the SDK against: stdlib `http.server` on 127.0.0.1.

`TokenServer(check="raw")` compares the Basic header as sent (`base64(id:secret)`, what
the integration guide's code sends); `check="form"` form-decodes both parts first (RFC
6749 §2.3.1). A grant is a random token; the same server answers the gateway's chat
route for a token it granted, so a whole Session call runs against it. `body=` makes the
token endpoint hostile instead (huge, endless, deep, trickling or compressed answers).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import unquote_plus

Check = Literal["raw", "form"]
Hostile = Literal["huge", "endless", "deep", "deep-401", "trickle", "gzip-bomb"]

_CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@functools.cache
def _gzip_bomb(mib: int) -> bytes:
    """`mib` MiB of spaces gzipped (~1 KiB per MiB), compressed a MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(mib)) + packer.flush()


class TokenServer:
    """A loopback token endpoint (and gateway chat route) on a thread of its own."""

    def __init__(
        self, client_id: str, secret: str, check: Check = "raw", hostile: Hostile | None = None
    ) -> None:
        self.client_id = client_id
        self.secret = secret
        self.check = check
        self.hostile = hostile
        #: the decoded size of the gzip bomb (its wire size is about a thousandth)
        self.bomb_mib = 32
        self.token_requests = 0
        self.tokens: set[str] = set()
        self.stop_event = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def env(self, token_auth: str) -> dict[str, str]:
        """What a Session needs to use this server as Starfleet and the gateway."""
        return {
            "STARFLEET_ID": self.client_id,
            "STARFLEET_SECRET": self.secret,
            "STARFLEET_TOKEN_URL": self.url + "/token",
            "LLM_GATEWAY_BASE_URL": self.url + "/gw",
            "NVIDIA_LLM_GATEWAY_ENABLED": "true",
            "NVGW_TOKEN_AUTH": token_auth,
        }

    def __enter__(self) -> TokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def accepts(self, header: str) -> bool:
        """Whether the `Authorization` header carries this client, in this server's way."""
        scheme, _, encoded = header.partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        if scheme != "Basic":
            return False
        user, _, password = decoded.partition(":")
        if self.check == "form":
            user, password = unquote_plus(user), unquote_plus(password)
        return (user, password) == (self.client_id, self.secret)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                if self.path == "/token":
                    server.token_requests += 1
                    if server.hostile is not None:
                        server._hostile(self)
                    elif server.accepts(self.headers.get("authorization", "")):
                        token = secrets.token_urlsafe(16)
                        server.tokens.add(token)
                        grant = {"access_token": token, "token_type": "Bearer", "expires_in": 900}
                        self._json(200, grant)
                    else:
                        self._json(401, {"error": "invalid_client"})
                    return
                bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
                if self.path.startswith("/gw/") and bearer in server.tokens:
                    self._json(200, _CHAT)
                else:
                    self._json(401, {"error": {"code": "401", "message": "Access denied"}})

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _hostile(self, handler: BaseHTTPRequestHandler) -> None:
        """The hostile token answers; each stops when the client hangs up or at shutdown."""
        kind = self.hostile
        status = 401 if kind == "deep-401" else 200
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        if kind in ("deep", "deep-401"):
            data = b"[" * 100_000 + b"]" * 100_000
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if kind == "gzip-bomb":
            data = _gzip_bomb(self.bomb_mib)
            handler.send_header("content-encoding", "gzip")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if kind == "huge":
            handler.send_header("content-length", str(500 * 1024 * 1024))
        else:
            handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        try:
            for chunk in self._stream(kind):
                if kind != "huge":
                    chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except OSError:
            return  # the client hung up: what it should do

    def _stream(self, kind: Hostile | None) -> Iterator[bytes]:
        """Body chunks: 1 MiB at a time (huge, endless) or a byte per 50 ms (trickle)."""
        block = b" " * (1024 * 1024)
        sent = 0
        while not self.stop_event.is_set():
            if kind == "trickle":
                time.sleep(0.05)
                yield b" "
                continue
            yield block
            sent += len(block)
            if kind == "huge" and sent >= 500 * 1024 * 1024:
                return
