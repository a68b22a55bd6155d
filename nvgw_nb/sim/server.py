"""Two thin adapters that carry out `SimCore` plans.

`SimServer` serves them over real loopback HTTP (uvicorn in a background thread, with
delays, streamed chunks, aborted connections and stalls). `make_mock_transport` returns
an `httpx.MockTransport` that answers with the same plans instantly, for unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn

from nvgw_nb.sim.core import SimCore, SimRequest, SimResponse

__all__ = ["SimServer", "make_mock_transport"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_STALL_CAP_S = 600.0


class _AbortConnection(Exception):
    """Raised after partial data so uvicorn drops the connection without a clean end."""


class _ClientGone(Exception):
    """The client disconnected: the request ends quietly (nothing is left to answer)."""


class _DropAborts(logging.Filter):
    """Keeps the intentional aborts out of uvicorn's error log (no traceback spam)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, _AbortConnection)


_FILTER_LOCK = threading.Lock()


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    with _FILTER_LOCK:
        if not any(isinstance(f, _DropAborts) for f in logger.filters):
            logger.addFilter(_DropAborts())


class _App:
    """Raw ASGI application: parse the request, ask the core, play the plan."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.closing: asyncio.Event | None = None  # set on stop(): wakes sleeps and stalls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        req = SimRequest(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=bytes(body),
        )
        # A client that goes away (cancelled, Ctrl-C) ends its request at the next wait,
        # as a real server's would: writes to a closed connection are silently dropped, so
        # without this a paced stream would play on, counted in flight, to its planned end.
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            with self.core.in_flight(req):
                await self._play(self.core.handle(req), gone, send)
        except _ClientGone:
            return
        finally:
            gone.cancel()

    async def _wait(self, gone: asyncio.Future[None], seconds: float) -> None:
        """Wait up to `seconds`; raises if the client went away (`_ClientGone`) or the
        simulator is stopping (`_AbortConnection`)."""
        assert self.closing is not None
        closing = asyncio.ensure_future(self.closing.wait())
        either: set[asyncio.Future[Any]] = {gone, closing}
        try:
            await asyncio.wait(either, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if gone.done():
            raise _ClientGone
        if closing.done() and not closing.cancelled():
            raise _AbortConnection("simulator stopping")

    async def _sleep(self, seconds: float, gone: asyncio.Future[None]) -> None:
        if seconds > 0:
            await self._wait(gone, seconds)

    async def _play(self, plan: SimResponse, gone: asyncio.Future[None], send: Send) -> None:
        if plan.stall:
            # Held until the client gives up (or the simulator stops); at the cap, the
            # request is dropped (uvicorn answers 500 if it can).
            await self._wait(gone, _STALL_CAP_S)
            raise _AbortConnection("stall ended")
        await self._sleep(plan.delay_s, gone)
        await send(
            {
                "type": "http.response.start",
                "status": plan.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.headers],
            }
        )
        parts = [(0.0, plan.body)] if plan.chunks is None else plan.chunks
        for delay, data in parts:
            await self._sleep(delay, gone)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        if plan.abort:
            raise _AbortConnection("simulated connection reset")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class SimServer:
    """uvicorn serving a `SimCore` on a pre-bound loopback socket in a daemon thread."""

    def __init__(self, core: SimCore, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = _App(core)
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self.port = 0

    def start(self, timeout: float = 10.0) -> None:
        """Bind, start the thread and wait until uvicorn accepts connections."""
        _install_log_filter()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it every keep-alive response waits ~40 ms (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            http="httptools",
            ws="none",
            lifespan="off",
            interface="asgi3",
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"nvgw-sim-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"simulator server failed to start: {self._error!r}")
            time.sleep(0.005)

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as err:  # surfaced by start(); a thread cannot raise to us
            self._error = err
        finally:
            sock.close()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        self._app.closing = asyncio.Event()
        await self._server.serve(sockets=[sock])

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, wake sleeping handlers and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        loop, closing = self._loop, self._app.closing
        if loop is not None and closing is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(closing.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None


class _PlanStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Response body of a plan; raises `RemoteProtocolError` after the data on abort."""

    def __init__(self, parts: list[bytes], abort: bool) -> None:
        self._parts = parts
        self._abort = abort

    def _error(self) -> httpx.RemoteProtocolError:
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body (simulated)"
        )

    def __iter__(self) -> Iterator[bytes]:
        yield from (p for p in self._parts if p)
        if self._abort:
            raise self._error()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            if part:
                yield part
        if self._abort:
            raise self._error()


def make_mock_transport(core: SimCore) -> httpx.MockTransport:
    """An `httpx.MockTransport` answering with `core`'s plans, without any sleeping.

    Example::

        client = httpx.Client(transport=make_mock_transport(core), base_url="http://sim")
    """

    def handler(request: httpx.Request) -> httpx.Response:
        req = SimRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.content,
        )
        with core.in_flight(req):
            plan = core.handle(req)
        if plan.stall:
            raise httpx.ReadTimeout("simulated stall: the server never answered", request=request)
        parts = [plan.body] if plan.chunks is None else [data for _, data in plan.chunks]
        return httpx.Response(
            plan.status, headers=plan.headers, stream=_PlanStream(parts, plan.abort)
        )

    return httpx.MockTransport(handler)
