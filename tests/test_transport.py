"""The transport under the Session's httpx client: chosen by name, and the aiohttp one
behaves as httpx's own does (socket-level faults: tests/test_socket_faults.py)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.transport import AiohttpTransport, make_transport


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("auto", AiohttpTransport),
        ("aiohttp", AiohttpTransport),
        ("httpx", httpx.AsyncHTTPTransport),
    ],
)
def test_transport_by_name(sim: Simulator, name: str, kind: type) -> None:
    with sim.session(transport=name) as session:
        assert isinstance(session._client._transport, kind)
        assert session.chat("hi").content


def test_transport_from_the_environment(sim: Simulator) -> None:
    env = {**sim.env(), "NVGW_TRANSPORT": "httpx"}
    with nv.Session.from_env(env=env, env_file=None, simulator=sim) as session:
        assert isinstance(session._client._transport, httpx.AsyncHTTPTransport)


def test_unknown_transport_is_a_config_error(sim: Simulator) -> None:
    with pytest.raises(nv.ConfigError, match="transport"):
        sim.session(transport="curl")
    with pytest.raises(ValueError, match="transport"):
        make_transport("curl", max_connections=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_streams_tool_calls_and_auth_on_both(sim: Simulator, transport: str) -> None:
    """SSE, the Starfleet flow with a 401 replay, and NVCF polling work over either."""
    with sim.session(transport=transport, retry=nv.RetryPolicy.no_wait()) as session:
        stream = session.stream("stream please")
        assert "".join(str(c) for c in stream) == stream.result.content != ""
        sim.inject("nvidia-gateway", "G1")
        result = session.chat("hi", providers=["nvidia-gateway"])
        assert result.attempts[-1].requests_sent == 2
        sim.inject("nvidia-nim", "N2")
        assert session.chat("long one", providers=["nvidia-nim"]).served_by == "nvidia-nim"
    assert sim.stats()["correlation_ids"]["duplicates"] == 0


@pytest.fixture
def gzip_server() -> Iterator[str]:
    """A one-shot HTTP/1.1 server answering a gzip-encoded chat completion."""
    body = gzip.compress(
        json.dumps(
            {
                "id": "c-1",
                "object": "chat.completion",
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "unzipped"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        ).encode()
    )
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            headers, _, rest = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in headers.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(head + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        thread.join(timeout=10)
        listener.close()


def test_content_encoding_is_decoded_by_httpx(sim: Simulator, gzip_server: str) -> None:
    """aiohttp does not decompress (httpx does, once): a gzip answer parses."""
    with sim.session(transport="aiohttp", nvidia_nim_base_url=gzip_server) as session:
        result = session.chat("hi", providers=["nvidia-nim"], fallbacks=False)
    assert result.content == "unzipped"
