"""`SocketFaultServer`: faults below HTTP that the JSON simulator cannot express.

A raw TCP server on a loopback port that misbehaves the same way on every connection:
it resets a connection mid-body, accepts and never answers, trickles bytes slower than
anything but a wall-clock deadline notices, closes before the status line, or answers a
TLS client in plaintext. It counts the connections it accepted, so a test can check how
often the SDK retried.

Example::

    with Simulator(time_scale=0) as sim, SocketFaultServer("reset_mid_body") as raw:
        with sim.session(nvidia_nim_base_url=raw.url + "/v1") as session:
            session.chat("hi")  # NIM fails three times (C3), then the gateway answers
    assert raw.accepted == 3
"""

from __future__ import annotations

import ipaddress
import math
import selectors
import socket
import struct
import threading
import time
from types import TracebackType
from typing import Literal, get_args

__all__ = ["SOCKET_FAULTS", "SocketFault", "SocketFaultServer"]

SocketFault = Literal[
    "reset_mid_body",
    "accept_never_answer",
    "trickle",
    "close_before_status",
    "plain_http_to_tls",
]
#: every mode of `SocketFaultServer`
SOCKET_FAULTS: tuple[SocketFault, ...] = get_args(SocketFault)

_POLL_S = 0.02  # how often a waiting connection looks at the stop flag
_MAX_HEAD = 64 * 1024
_BODY_LENGTH = 100_000  # announced by reset_mid_body and trickle; never delivered
_PARTIAL_BODY = b'{"id": "chatcmpl-socket-fault", "object": "chat.completion", "choices": ['
_PLAIN_BODY = b"This server speaks plain HTTP, not TLS.\n"
_PLAIN_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_PLAIN_BODY), _PLAIN_BODY)
)


class SocketFaultServer:
    """A loopback TCP server whose every connection ends in the fault `mode`.

    Modes (`SOCKET_FAULTS`):

    - ``reset_mid_body``: status line, headers with a Content-Length, part of the body,
      then a TCP RST (``SO_LINGER`` 0).
    - ``accept_never_answer``: reads the request and says nothing.
    - ``trickle``: headers, then one body byte every `trickle_interval` seconds, never
      the last one.
    - ``close_before_status``: reads the request, closes before any response byte.
    - ``plain_http_to_tls``: `url` is ``https://``; the TLS client's hello is answered
      with a plaintext HTTP 400.

    A held connection (never-answer, trickle) is let go after `max_hold_s`, so a client
    that never gives up fails its test instead of hanging it.

    Example::

        with SocketFaultServer("trickle", trickle_interval=0.05) as raw:
            raw.url  # 'http://127.0.0.1:53117': headers, then a byte every 50 ms
    """

    def __init__(
        self,
        mode: SocketFault,
        *,
        trickle_interval: float = 0.05,
        max_hold_s: float = 30.0,
        host: str = "127.0.0.1",
    ) -> None:
        if mode not in SOCKET_FAULTS:
            raise ValueError(f"mode: expected one of {', '.join(SOCKET_FAULTS)}, got {mode!r}")
        for name, value in (("trickle_interval", trickle_interval), ("max_hold_s", max_hold_s)):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name}: expected seconds > 0, got {value!r}")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"host: only loopback addresses are served, got {host!r}")
        self.mode: SocketFault = mode
        self.trickle_interval = trickle_interval
        self.max_hold_s = max_hold_s
        self._host = host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._accepted = 0
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._acceptor: threading.Thread | None = None
        self._handlers: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SocketFaultServer:
        """Bind a free port and start accepting (idempotent); returns self."""
        with self._lock:
            if self._listener is not None:
                return self
            self._stop.clear()
            self._listener = socket.create_server((self._host, 0))
            self._wake = socket.socketpair()
            self._acceptor = threading.Thread(
                target=self._serve, name=f"socket-fault-{self.mode}", daemon=True
            )
            self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end every held connection and join every thread (idempotent)."""
        with self._lock:
            listener, wake, acceptor = self._listener, self._wake, self._acceptor
            self._listener = self._wake = self._acceptor = None
        if listener is None or wake is None or acceptor is None:
            return
        self._stop.set()
        wake[1].send(b"\0")
        acceptor.join()
        with self._lock:
            handlers, self._handlers = self._handlers, []
        for handler in handlers:
            handler.join()
        listener.close()
        wake[0].close()
        wake[1].close()

    def __enter__(self) -> SocketFaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses, counts

    @property
    def port(self) -> int:
        """The bound port."""
        listener = self._listener
        if listener is None:
            raise RuntimeError("SocketFaultServer is not running: use it as `with ...:`")
        return int(listener.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``; ``https://`` for ``plain_http_to_tls``."""
        scheme = "https" if self.mode == "plain_http_to_tls" else "http"
        return f"{scheme}://{self._host}:{self.port}"

    @property
    def accepted(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    @property
    def open_connections(self) -> int:
        """Connections whose handler is still running."""
        with self._lock:
            return sum(1 for h in self._handlers if h.is_alive())

    def __repr__(self) -> str:
        where = self.url if self._listener is not None else None
        return f"SocketFaultServer(mode={self.mode!r}, url={where!r}, accepted={self.accepted})"

    # ------------------------------------------------------------------ serving

    def _serve(self) -> None:
        listener, wake = self._listener, self._wake
        assert listener is not None
        assert wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake[0], selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select():
                    if key.fileobj is not listener or self._stop.is_set():
                        continue
                    try:
                        conn, _addr = listener.accept()
                    except OSError:  # the client gave up between select and accept
                        continue
                    handler = threading.Thread(
                        target=self._handle,
                        args=(conn,),
                        name=f"socket-fault-{self.mode}-conn",
                        daemon=True,
                    )
                    with self._lock:
                        self._accepted += 1
                        self._handlers = [h for h in self._handlers if h.is_alive()]
                        self._handlers.append(handler)
                    handler.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL_S)
        try:
            if self.mode == "plain_http_to_tls":
                self._plain_answer(conn)
            elif self._read_request(conn):
                {
                    "reset_mid_body": self._reset_mid_body,
                    "accept_never_answer": self._hold,
                    "trickle": self._trickle,
                    "close_before_status": _close,
                }[self.mode](conn)
        except OSError:  # the client went away: nothing left to misbehave at
            pass
        finally:
            conn.close()

    def _read_request(self, conn: socket.socket) -> bool:
        """Read one request (head and Content-Length body); False if the client left."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._recv(conn)
            if not chunk or len(data) > _MAX_HEAD:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value)
        while len(body) < length:
            chunk = self._recv(conn)
            if not chunk:
                return False
            body += chunk
        return True

    def _recv(self, conn: socket.socket) -> bytes:
        """The next bytes from the client; b"" when it closed or the server is stopping."""
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _hold(self, conn: socket.socket) -> None:
        """Keep the connection open, reading and ignoring, until the client leaves."""
        end = time.monotonic() + self.max_hold_s
        while time.monotonic() < end and not self._stop.is_set():
            try:
                if not conn.recv(65536):
                    return
            except TimeoutError:
                continue

    # ------------------------------------------------------------------ the faults

    def _reset_mid_body(self, conn: socket.socket) -> None:
        conn.sendall(_head_200(_BODY_LENGTH) + _PARTIAL_BODY)
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _trickle(self, conn: socket.socket) -> None:
        conn.sendall(_head_200(_BODY_LENGTH))
        end = time.monotonic() + self.max_hold_s
        # JSON allows leading whitespace: the body is always a valid prefix, never done.
        while time.monotonic() < end and not self._stop.wait(self.trickle_interval):
            conn.sendall(b" ")

    def _plain_answer(self, conn: socket.socket) -> None:
        if not self._recv(conn):  # the ClientHello
            return
        conn.sendall(_PLAIN_ANSWER)
        conn.shutdown(socket.SHUT_WR)
        # Drain until the client hangs up, so close() is a FIN, not an RST.
        self._hold(conn)


def _close(conn: socket.socket) -> None:
    """close_before_status: nothing to send. The whole request was read, so the close
    that follows is a FIN (unread data would turn it into an RST)."""


def _head_200(length: int) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
