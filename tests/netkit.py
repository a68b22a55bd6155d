"""Loopback pieces for tests/test_tls.py and tests/test_proxy.py: a TLS front for the
simulator (certificates made at test time by trustme), pproxy as a real forward proxy in
a subprocess, and a "blackhole" address whose connects never complete."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme

from nvgw_nb.sim import Simulator

__all__ = [
    "Blackhole",
    "Proxy",
    "TLSFront",
    "expired_cert",
    "https_env",
    "pem_file",
    "use_environment",
]

_LOOPBACK = "127.0.0.1"


def pem_file(ca: trustme.CA, path: Path) -> str:
    """Write `ca`'s certificate as a PEM file; its path."""
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def expired_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A certificate for 127.0.0.1 that expired yesterday."""
    now = datetime.now(timezone.utc)
    return ca.issue_cert(
        _LOOPBACK, not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )


class TLSFront:
    """TLS on 127.0.0.1 in front of a plain-http server (the simulator): each connection's
    bytes are relayed both ways. `accepted` counts the connections whose TLS handshake
    completed (a refused certificate never gets that far)."""

    def __init__(self, cert: trustme.LeafCert, backend_port: int) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self._context)
        self._backend_port = backend_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.accepted = 0
        self.port = 0

    def __enter__(self) -> TLSFront:
        self._thread.start()
        self._loop.set_exception_handler(lambda loop, context: None)  # refused handshakes
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    @property
    def url(self) -> str:
        """``https://127.0.0.1:port``."""
        return f"https://{_LOOPBACK}:{self.port}"

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, _LOOPBACK, 0, ssl=self._context, ssl_handshake_timeout=5
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(_LOOPBACK, self._backend_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with suppress(Exception):
            writer.close()


def https_env(sim: Simulator, front: TLSFront, providers: tuple[str, ...]) -> dict[str, str]:
    """`sim.env()` with the URLs of `providers` ("nim", "gateway", "token") on `front`."""
    env = sim.env()
    variables = {
        "nim": "NVIDIA_NIM_BASE_URL",
        "gateway": "LLM_GATEWAY_BASE_URL",
        "token": "STARFLEET_TOKEN_URL",
    }
    for name in providers:
        variable = variables[name]
        env[variable] = env[variable].replace(sim.url, front.url)
    return env


def use_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Put `env` in os.environ, as a user's shell would."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


_CONNECTION = re.compile(r"^http \S+ -> (\S+)$")


class Proxy:
    """pproxy (from PyPI) as an http forward proxy on 127.0.0.1, in a subprocess; every
    connection it makes is logged (`-v`) and read into `targets` ("host:port")."""

    def __init__(self, auth: str | None = None) -> None:
        self._auth = auth
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.targets: list[str] = []
        self._seen = threading.Condition()
        self.port = 0

    def __enter__(self) -> Proxy:
        listen = f"http://{_LOOPBACK}:0" + (f"#{self._auth}" if self._auth else "")
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self._process.stdout is not None
        first = self._process.stdout.readline()  # "Serving on ipv? 127.0.0.1:PORT by http"
        match = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert match, f"pproxy did not start: {first!r}"
        self.port = int(match.group(1))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            match = _CONNECTION.match(line.strip())
            if match:
                with self._seen:
                    self.targets.append(match.group(1))
                    self._seen.notify_all()

    def url(self, credentials: str = "") -> str:
        """``http://[credentials@]127.0.0.1:port``."""
        return f"http://{credentials + '@' if credentials else ''}{_LOOPBACK}:{self.port}"

    def connections_to(self, port: int) -> int:
        """How many connections the proxy opened to 127.0.0.1:`port` so far.

        Its log is read in a thread: a marker CONNECT (to port 9, where nothing listens)
        is sent last and awaited, so every line logged before it has been read."""
        marker = f"{_LOOPBACK}:9"
        wanted = self.targets.count(marker) + 1
        with socket.create_connection((_LOOPBACK, self.port), timeout=5) as probe:
            auth = ""
            if self._auth:
                token = base64.b64encode(self._auth.encode()).decode()
                auth = f"Proxy-Authorization: Basic {token}\r\n"
            probe.sendall(f"CONNECT {marker} HTTP/1.1\r\nHost: {marker}\r\n{auth}\r\n".encode())
            with self._seen:
                seen = self._seen.wait_for(lambda: self.targets.count(marker) >= wanted, 5)
        assert seen, "the proxy's log did not show the marker"
        return self.targets.count(f"{_LOOPBACK}:{port}")


class Blackhole:
    """An address on 127.0.0.1 whose TCP connects never complete: a listening socket that
    never accepts, its one-slot backlog filled, so the kernel drops further SYNs (the way
    a firewall drops packets to a host reachable only through a proxy)."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._fillers: list[socket.socket] = []
        self.port = 0

    def __enter__(self) -> Blackhole:
        self._listener.bind((_LOOPBACK, 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        # Fill the accept queue; once full, SYNs are dropped and connects hang.
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect((_LOOPBACK, self.port))
            self._fillers.append(filler)
        return self

    def __exit__(self, *exc: object) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://{_LOOPBACK}:{self.port}"


@contextmanager
def blackhole_connects_hang() -> Iterator[Blackhole]:
    """A `Blackhole`, checked: a plain connect to it times out."""
    with Blackhole() as hole:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.3)
        try:
            with pytest.raises(TimeoutError):
                probe.connect((_LOOPBACK, hole.port))
        finally:
            probe.close()
        yield hole
