"""Shared fixtures: a clean environment, a simulator, and a Session wired to it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

_PREFIXES = ("NVIDIA_", "STARFLEET_", "LLM_GATEWAY_", "NVGW_", "OPENAI_", "ANTHROPIC_", "GOOGLE_")
# A developer's proxy and CA variables: a Session read from the environment honours them
# (nvgw_nb/network.py), and loopback tests must not go through a corporate proxy.
_NETWORK = (
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer credentials or .env leak into a test: clear the variables, run in tmp."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name.upper() in _NETWORK:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A healthy simulator with no latency."""
    with Simulator(seed=0, time_scale=0) as simulator:
        yield simulator


@pytest.fixture
def session(sim: Simulator) -> Iterator[nv.Session]:
    """A Session on `sim` that never sleeps between retries."""
    with sim.session(retry=nv.RetryPolicy.no_wait()) as s:
        yield s


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in the main thread for this test, whatever the runner
    started with: a background job (`make test &`) starts with SIGINT ignored, and then
    `_thread.interrupt_main()` does nothing."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
