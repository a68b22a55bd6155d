"""Real TLS on loopback, certificates made at test time (trustme), on both transports.

A `TLSFront` serves the simulator over https on 127.0.0.1. A private CA is trusted through
SSL_CERT_FILE, NVGW_CA_BUNDLE or REQUESTS_CA_BUNDLE set in the environment as a user's
shell would; an untrusted CA, an expired certificate and a hostname mismatch are each a
`TLSError`: never retried, the next provider is tried, and the message says what failed
and which variable fixes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from netkit import TLSFront, expired_cert, https_env, pem_file, use_environment

import nvgw_nb as nv
from nvgw_nb.network import Network
from nvgw_nb.outcomes import cut
from nvgw_nb.sim import Simulator

NIM, GW = "nvidia-nim", "nvidia-gateway"


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports must trust, refuse and word the same."""
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The private CA: a corporate root, as far as the client knows."""
    return trustme.CA()


def _port(sim: Simulator) -> int:
    return int(sim.url.rsplit(":", 1)[1])


def _session(transport: str, **overrides: Any) -> nv.Session:
    """A Session from the process environment (no .env), as `Session.from_env()` makes."""
    return nv.Session.from_env(
        env_file=None, transport=transport, retry=nv.RetryPolicy.no_wait(), **overrides
    )


# --- a private CA trusted -----------------------------------------------------------------
@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "NVGW_CA_BUNDLE", "REQUESTS_CA_BUNDLE"])
def test_private_ca_is_trusted(
    sim: Simulator,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    variable: str,
) -> None:
    """NIM, the Starfleet token and the gateway all answer over https signed by the CA."""
    with TLSFront(ca.issue_cert("127.0.0.1"), _port(sim)) as front:
        env = https_env(sim, front, ("nim", "gateway", "token"))
        env[variable] = pem_file(ca, tmp_path / "corporate-root.pem")
        use_environment(monkeypatch, env)
        with _session(transport) as session:
            assert session.chat("hi", providers=[NIM]).served_by == NIM
            assert session.chat("hi", providers=[GW]).served_by == GW
        assert front.accepted >= 1, "over the TLS front"


def test_ca_directory_in_nvgw_ca_bundle(
    sim: Simulator, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NVGW_CA_BUNDLE may name a directory hashed by `openssl rehash` (here: none found)."""
    with TLSFront(ca.issue_cert("127.0.0.1"), _port(sim)) as front:
        env = https_env(sim, front, ("nim",))
        env["NVGW_CA_BUNDLE"] = str(tmp_path)  # a directory without the CA: still refused
        use_environment(monkeypatch, env)
        with _session("httpx") as session, pytest.raises(nv.TLSError):
            session.chat("hi", providers=[NIM], fallbacks=False)


def test_one_ssl_context_per_session(
    sim: Simulator, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The context is built once: every connection of a Session shares it."""
    env = {**sim.env(), "NVGW_CA_BUNDLE": pem_file(ca, tmp_path / "ca.pem")}
    use_environment(monkeypatch, env)
    settings = nv.Settings.load(env_file=None)
    network = Network.from_settings(settings)
    assert network.ssl_context is network.ssl_context
    assert network.ssl_context.cert_store_stats()["x509_ca"] >= 1


def test_default_context_is_built_once_per_process() -> None:
    """With no CA variable, every Session shares one context: system store and certifi."""
    first, second = Network().ssl_context, Network().ssl_context
    assert first is second
    assert first.cert_store_stats()["x509_ca"] > 10


# --- certificates refused -------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """A certificate the client must refuse, and what the error must say."""

    case: str
    cert: Callable[[trustme.CA, trustme.CA], trustme.LeafCert]  # (trusted CA, other CA)
    trust_ca: bool
    reason: str
    words: tuple[str, ...]


REFUSALS = [
    Refusal(
        "untrusted CA",
        lambda trusted, other: other.issue_cert("127.0.0.1"),
        trust_ca=True,
        reason="unknown_ca",
        words=("does not trust", "NVGW_CA_BUNDLE", "SSL_CERT_FILE"),
    ),
    Refusal(
        "no CA configured",
        lambda trusted, other: trusted.issue_cert("127.0.0.1"),
        trust_ca=False,
        reason="unknown_ca",
        words=("does not trust", "NVGW_CA_BUNDLE"),
    ),
    Refusal(
        "expired certificate",
        lambda trusted, other: expired_cert(trusted),
        trust_ca=True,
        reason="expired",
        words=("expired", "clock"),
    ),
    Refusal(
        "hostname mismatch",
        lambda trusted, other: trusted.issue_cert("nvgw.example.test"),
        trust_ca=True,
        reason="hostname",
        words=("hostname mismatch", "NVIDIA_NIM_BASE_URL"),
    ),
]


@pytest.fixture(params=REFUSALS, ids=[r.case for r in REFUSALS])
def refusal(request: pytest.FixtureRequest) -> Refusal:
    """Each refused certificate in turn."""
    value: Refusal = request.param
    return value


@pytest.fixture
def bad_front(sim: Simulator, ca: trustme.CA, refusal: Refusal) -> Iterator[TLSFront]:
    """The simulator behind `refusal`'s certificate."""
    with TLSFront(refusal.cert(ca, trustme.CA()), _port(sim)) as front:
        yield front


def _refusing_env(
    sim: Simulator, front: TLSFront, refusal: Refusal, ca: trustme.CA, tmp_path: Path
) -> dict[str, str]:
    env = https_env(sim, front, ("nim",))
    if refusal.trust_ca:
        env["NVGW_CA_BUNDLE"] = pem_file(ca, tmp_path / "ca.pem")
    return env


def test_refused_certificate_is_final(
    sim: Simulator,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    refusal: Refusal,
    bad_front: TLSFront,
) -> None:
    """One attempt only, a `TLSError` whose words say what failed and what fixes it."""
    use_environment(monkeypatch, _refusing_env(sim, bad_front, refusal, ca, tmp_path))
    with _session(transport) as session, pytest.raises(nv.TLSError) as info:
        session.chat("hi", providers=[NIM], fallbacks=False)
    error = info.value
    assert error.reason == refusal.reason
    assert (error.kind, error.retries, error.falls_over) == ("tls", 0, True)
    assert [a.error_kind for a in error.attempts] == ["tls"], "never retried"
    assert bad_front.accepted == 0, "no handshake completed: nothing was sent"
    message = str(error)
    for word in refusal.words:
        assert word in message
    assert "URL's scheme" not in message, "not mistaken for plain http"
    assert "…" not in message or message.split("…")[0][-1] != " "


def test_refused_certificate_falls_over(
    sim: Simulator,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    refusal: Refusal,
    bad_front: TLSFront,
) -> None:
    """With the gateway in the plan, it answers after NIM's single TLS attempt."""
    use_environment(monkeypatch, _refusing_env(sim, bad_front, refusal, ca, tmp_path))
    with _session(transport) as session:
        result = session.chat("hi")
    assert result.served_by == GW
    nim = [a for a in result.attempts if a.provider == NIM]
    assert [a.error_kind for a in nim] == ["tls"]


def test_token_endpoint_certificate_refused(
    sim: Simulator, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """The Starfleet token endpoint behind an untrusted CA: one try, a TLSError that
    names the token endpoint and the CA variables."""
    with TLSFront(ca.issue_cert("127.0.0.1"), _port(sim)) as front:
        use_environment(monkeypatch, https_env(sim, front, ("token",)))
        with _session(transport) as session, pytest.raises(nv.TLSError) as info:
            session.chat("hi", providers=[GW], fallbacks=False)
        assert front.accepted == 0, "no handshake completed: nothing was sent"
    message = str(info.value)
    assert "Starfleet token" in message
    assert "NVGW_CA_BUNDLE" in message
    assert info.value.reason == "unknown_ca"


# --- settings ---------------------------------------------------------------------------------
def test_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    """NVGW_CA_BUNDLE naming no file fails when the settings load, naming the variable."""
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(nv.ConfigError, match="NVGW_CA_BUNDLE") as info:
        nv.Settings.load(env={"NVGW_CA_BUNDLE": missing}, env_file=None)
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_missing_ca_file_from_environment(sim: Simulator, tmp_path: Path, variable: str) -> None:
    """A CA variable naming no file fails when the Session is built, naming the variable."""
    env = {**sim.env(), variable: str(tmp_path / "nope.pem")}
    with pytest.raises(nv.ConfigError, match=variable):
        nv.Session.from_env(env=env, env_file=None)


def test_ca_bundle_that_is_not_pem(sim: Simulator, tmp_path: Path) -> None:
    """A file with no certificate in it fails when the Session is built, not on a call."""
    junk = tmp_path / "not-a-cert.pem"
    junk.write_text("hello\n")
    env = {**sim.env(), "NVGW_CA_BUNDLE": str(junk)}
    with pytest.raises(nv.ConfigError, match="NVGW_CA_BUNDLE: no CA certificate"):
        nv.Session.from_env(env=env, env_file=None)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short enough", 200, "short enough"),
        ("certificate verify failed: unable to get local issuer", 30, "certificate verify failed…"),
        ("word " * 60, 200, ("word " * 39).rstrip() + "…"),
        ("see http://bob:hunter2@proxy.corp:3128 now", 200, "see http://proxy.corp:3128 now"),
    ],
)
def test_messages_are_cut_at_a_word(text: str, limit: int, expected: str) -> None:
    """Text kept in an error is cut at a word boundary, never mid-word, credentials gone."""
    assert cut(text, limit) == expected
    assert len(cut(text, limit)) <= limit
