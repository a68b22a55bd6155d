"""FAULTS.md C1-C3 at the socket level, where the JSON simulator cannot reach.

NIM points at a `SocketFaultServer` that resets mid-body, never answers, trickles bytes,
closes before the status line or answers TLS in plaintext. Each row checks the error the
caller sees, the kind recorded on every NIM attempt, how many attempts (and connections)
NIM got, and — with fallbacks on — that the simulated gateway then serves the call.
"""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator, SocketFault, SocketFaultServer

NIM, GW = "nvidia-nim", "nvidia-gateway"

# Short enough for a fast file, long enough for a loaded machine: the trickle's gap is a
# tenth of the read timeout, and the deadline is above the read timeout, so only a steady
# trickle — never a stall — reaches it.
READ_TIMEOUT_S = 0.4
TRICKLE_GAP_S = 0.04
DEADLINE_S = 1.0
SLACK_S = 5.0


@dataclass(frozen=True)
class Row:
    """One socket fault and the FAULTS.md behaviour it must end in."""

    mode: SocketFault
    fault: str
    error: type[nv.ProviderError]
    kind: str
    attempts: int
    phase: str | None = None


ROWS = [
    Row("reset_mid_body", "C3", nv.ProviderConnectionError, "connection", 3),
    Row("accept_never_answer", "C2", nv.ProviderTimeout, "timeout", 2, phase="read"),
    Row("trickle", "C2", nv.ProviderTimeout, "timeout", 2, phase="deadline"),
    Row("close_before_status", "C3", nv.ProviderConnectionError, "connection", 3),
    Row("plain_http_to_tls", "C1", nv.ProviderUnreachable, "unreachable", 3),
]


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports under the Session's httpx client must map every fault the same way."""
    value: str = request.param
    return value


@pytest.fixture(params=ROWS, ids=[f"{r.fault}-{r.mode}" for r in ROWS])
def row(request: pytest.FixtureRequest) -> Row:
    """Each socket fault in turn."""
    value: Row = request.param
    return value


@pytest.fixture
def raw(row: Row) -> Iterator[SocketFaultServer]:
    """The misbehaving server for `row`; every connection handler is gone once it stops."""
    server = SocketFaultServer(row.mode, trickle_interval=TRICKLE_GAP_S, max_hold_s=SLACK_S)
    with server:
        yield server
    assert server.open_connections == 0
    assert not _server_threads()


def _server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("socket-fault-")]


def _session(sim: Simulator, raw: SocketFaultServer, transport: str) -> nv.Session:
    return sim.session(
        transport=transport,
        nvidia_nim_base_url=f"{raw.url}/v1",
        retry=nv.RetryPolicy.no_wait(),
        read_timeout_s=READ_TIMEOUT_S,
        attempt_deadline_s=DEADLINE_S,
    )


def _check_attempts(attempts: list[nv.Attempt], row: Row) -> None:
    nim = [a for a in attempts if a.provider == NIM]
    assert [a.error_kind for a in nim] == [row.kind] * row.attempts
    assert [a.attempt for a in nim] == list(range(1, row.attempts + 1))
    if row.phase == "deadline":
        # Ended by the wall-clock attempt deadline, not by the trickle ending.
        assert all(DEADLINE_S * 0.9 <= a.elapsed_s < DEADLINE_S + SLACK_S for a in nim)
    if row.mode == "reset_mid_body":
        assert all(a.status_code == 200 for a in nim), "the reset came after the status line"


def test_socket_fault_without_fallback(
    sim: Simulator, raw: SocketFaultServer, row: Row, transport: str
) -> None:
    """A single-provider call retries per FAULTS.md, then raises NIM's own error."""
    started = time.monotonic()
    with _session(sim, raw, transport) as session, pytest.raises(row.error) as info:
        session.chat("hi", providers=[NIM], fallbacks=False)
    elapsed = time.monotonic() - started
    error = info.value
    assert type(error) is row.error
    assert error.provider == NIM
    _check_attempts(error.attempts, row)
    assert [a.provider for a in error.attempts] == [NIM] * row.attempts
    assert raw.accepted == row.attempts, "one connection per attempt"
    if isinstance(error, nv.ProviderTimeout):
        assert error.phase == row.phase
        assert error.elapsed_s > 0
    else:
        assert "127.0.0.1" in str(error), "the host is named"
    if row.mode == "plain_http_to_tls":
        assert "TLS handshake failed" in str(error), "the cause is said in words"
    if row.phase == "deadline":
        assert isinstance(error, nv.ProviderTimeout)
        assert DEADLINE_S * 0.9 <= error.elapsed_s < DEADLINE_S + SLACK_S
        assert elapsed < row.attempts * DEADLINE_S + SLACK_S
    key = sim.env()["NVIDIA_NIM_API_KEY"]
    shown = [str(error), repr(error), *map(repr, error.attempts)]
    shown.append("".join(traceback.format_exception(error)))
    assert not [text for text in shown if key in text]


def test_socket_fault_falls_back_to_gateway(
    sim: Simulator, raw: SocketFaultServer, row: Row, transport: str
) -> None:
    """After NIM's attempts fail at the socket level, the simulated gateway answers."""
    with _session(sim, raw, transport) as session:
        result = session.chat("hi")
    assert result.served_by == GW
    assert result.fell_back
    _check_attempts(result.attempts, row)
    assert [(a.provider, a.error_kind) for a in result.attempts[row.attempts :]] == [(GW, None)]
    assert raw.accepted == row.attempts


@pytest.mark.parametrize("mode", ["accept_never_answer", "trickle"])
def test_server_stops_with_a_connection_held(mode: SocketFault) -> None:
    """Stopping the server ends a held connection at once and leaves no thread behind."""
    with SocketFaultServer(mode, trickle_interval=TRICKLE_GAP_S) as server:
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        give_up = time.monotonic() + SLACK_S
        while server.open_connections == 0 and time.monotonic() < give_up:
            time.sleep(0.01)  # poll until the handler runs; the assertions need no wait
        started = time.monotonic()
    try:
        assert time.monotonic() - started < SLACK_S
        assert server.accepted == 1
        assert server.open_connections == 0
        assert not _server_threads()
    finally:
        client.close()


def test_server_rejects_unknown_modes_and_non_loopback_hosts() -> None:
    """Bad arguments fail before anything binds."""
    with pytest.raises(ValueError, match="mode"):
        SocketFaultServer("slowloris")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host"):
        SocketFaultServer("trickle", host="0.0.0.0")  # noqa: S104 - the value under test
    with pytest.raises(RuntimeError, match="not running"):
        _ = SocketFaultServer("trickle").url
