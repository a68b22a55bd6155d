"""Proxies on both transports: a real forward proxy (pproxy, from PyPI) on loopback.

The simulator is served over https by a `TLSFront`; the proxy logs every connection it
opens. Set by HTTPS_PROXY (either case), ALL_PROXY or NVGW_PROXY, every connection to the
front goes through it; NO_PROXY sends a host directly. A mandatory proxy left unset (the
hosts are a blackhole: connects never complete) fails within one connect timeout per
provider, naming the proxy variables. Proxy URLs are validated, their credentials never
shown.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from netkit import (
    Proxy,
    TLSFront,
    blackhole_connects_hang,
    https_env,
    pem_file,
    use_environment,
)

import nvgw_nb as nv
from nvgw_nb.network import Network
from nvgw_nb.sim import Simulator

NIM, GW = "nvidia-nim", "nvidia-gateway"
CONNECT_S = 0.5
SLACK_S = 1.5


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports must route the same."""
    value: str = request.param
    return value


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """The CA of the https front."""
    return trustme.CA()


@pytest.fixture
def front(sim: Simulator, ca: trustme.CA) -> Iterator[TLSFront]:
    """The simulator over https on 127.0.0.1."""
    with TLSFront(ca.issue_cert("127.0.0.1"), int(sim.url.rsplit(":", 1)[1])) as tls:
        yield tls


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    """pproxy listening on 127.0.0.1 (one process for the module)."""
    with Proxy() as running:
        yield running


def _session(transport: str, **overrides: Any) -> nv.Session:
    """A Session from the process environment, as `Session.from_env()` makes."""
    return nv.Session.from_env(
        env_file=None, transport=transport, retry=nv.RetryPolicy.no_wait(), **overrides
    )


def _https_env(sim: Simulator, front: TLSFront, ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    env = https_env(sim, front, ("nim", "gateway", "token"))
    env["NVGW_CA_BUNDLE"] = pem_file(ca, tmp_path / "ca.pem")
    return env


def _use_everything(session: nv.Session) -> None:
    """NIM, the Starfleet token and the gateway, a stream: every kind of request."""
    assert session.chat("hi", providers=[NIM]).served_by == NIM
    assert session.chat("hi", providers=[GW]).served_by == GW
    stream = session.stream("stream please", providers=[NIM])
    assert "".join(str(chunk) for chunk in stream)


# --- every connection through the proxy ---------------------------------------------------------
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "NVGW_PROXY"])
def test_every_connection_goes_through_the_proxy(
    sim: Simulator,
    front: TLSFront,
    ca: trustme.CA,
    proxy: Proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    variable: str,
) -> None:
    """Each TLS connection the front accepted was opened by the proxy (a CONNECT)."""
    env = _https_env(sim, front, ca, tmp_path)
    env[variable] = proxy.url()
    use_environment(monkeypatch, env)
    with _session(transport) as session:
        _use_everything(session)
    assert front.accepted >= 1
    assert proxy.connections_to(front.port) == front.accepted, "none went around the proxy"


def test_no_proxy_sends_a_host_directly(
    sim: Simulator,
    front: TLSFront,
    ca: trustme.CA,
    proxy: Proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """NO_PROXY=127.0.0.1: the proxy is configured but never used."""
    env = _https_env(sim, front, ca, tmp_path)
    env.update(HTTPS_PROXY=proxy.url(), NO_PROXY="localhost,127.0.0.1")
    use_environment(monkeypatch, env)
    with _session(transport) as session:
        assert session.chat("hi", providers=[NIM]).served_by == NIM
    assert front.accepted >= 1
    assert proxy.connections_to(front.port) == 0


def test_simulator_sessions_ignore_the_process_proxy(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """A Session from an explicit mapping (the simulator's) reads no proxy variable."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    with sim.session(transport=transport) as session:
        assert session.chat("hi").served_by == NIM


# --- a mandatory proxy --------------------------------------------------------------------------
def test_unconfigured_mandatory_proxy_fails_fast(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """Hosts reachable only through a proxy, none set: one connect timeout per provider
    (NIM's request, the gateway's token request), each naming the proxy variables."""
    with blackhole_connects_hang() as hole:
        env = sim.env()
        for variable in ("NVIDIA_NIM_BASE_URL", "LLM_GATEWAY_BASE_URL", "STARFLEET_TOKEN_URL"):
            env[variable] = env[variable].replace(sim.url, hole.url)
        use_environment(monkeypatch, env)
        started = time.monotonic()
        with (
            _session(transport, connect_timeout_s=CONNECT_S) as session,
            pytest.raises(nv.AllProvidersFailed) as info,
        ):
            session.chat("hi")
        elapsed = time.monotonic() - started
    assert elapsed < 2 * CONNECT_S + SLACK_S, "one connect timeout per provider"
    error = info.value
    assert sorted(a.provider for a in error.attempts) == sorted([NIM, GW]), "no retries"
    for provider in (NIM, GW):
        said = str(error.errors[provider])
        assert "HTTPS_PROXY" in said
        assert "NVGW_PROXY" in said


def test_dead_proxy_is_named(
    sim: Simulator,
    front: TLSFront,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """A configured proxy that never answers: the timeout names its host and variable."""
    with blackhole_connects_hang() as hole:
        env = _https_env(sim, front, ca, tmp_path)
        env["HTTPS_PROXY"] = f"http://user:pr0xy-pw@127.0.0.1:{hole.port}"
        use_environment(monkeypatch, env)
        started = time.monotonic()
        with (
            _session(transport, connect_timeout_s=CONNECT_S) as session,
            pytest.raises(nv.ProviderTimeout) as info,
        ):
            session.chat("hi", providers=[NIM], fallbacks=False)
        elapsed = time.monotonic() - started
    assert elapsed < CONNECT_S + SLACK_S
    said = str(info.value)
    assert f"127.0.0.1:{hole.port} (HTTPS_PROXY)" in said
    shown = [said, repr(info.value), *map(repr, info.value.attempts)]
    shown.append("".join(traceback.format_exception(info.value)))
    assert not [text for text in shown if "pr0xy-pw" in text or "user:" in text]
    assert front.accepted == 0


def test_proxy_credentials_are_sent_and_never_shown(
    sim: Simulator,
    front: TLSFront,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """A proxy that wants a user and password: given in the URL, they work."""
    with Proxy(auth="alice:s3cr3t-pw") as guarded:
        env = _https_env(sim, front, ca, tmp_path)
        env["NVGW_PROXY"] = guarded.url("alice:s3cr3t-pw")
        use_environment(monkeypatch, env)
        with _session(transport) as session:
            assert session.chat("hi", providers=[NIM]).served_by == NIM
            assert "s3cr3t-pw" not in repr(session.settings)
        assert guarded.connections_to(front.port) == front.accepted >= 1


def test_proxy_refusing_the_credentials(
    sim: Simulator,
    front: TLSFront,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """Wrong proxy credentials (407): not retried, named by the proxy's host only."""
    with Proxy(auth="alice:right-pw") as guarded:
        env = _https_env(sim, front, ca, tmp_path)
        env["NVGW_PROXY"] = guarded.url("alice:wrong-pw")
        use_environment(monkeypatch, env)
        with (
            _session(transport) as session,
            pytest.raises(nv.ProviderUnreachable) as info,
        ):
            session.chat("hi", providers=[NIM], fallbacks=False)
    said = str(info.value)
    assert "407" in said
    assert f"127.0.0.1:{guarded.port} (NVGW_PROXY)" in said
    shown = [said, repr(info.value), *map(repr, info.value.attempts)]
    shown.append("".join(traceback.format_exception(info.value)))
    assert not [text for text in shown if "wrong-pw" in text]
    assert len(info.value.attempts) == 1
    assert front.accepted == 0


def test_http_proxy_carries_plain_http(
    sim: Simulator, proxy: Proxy, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """HTTP_PROXY: http:// URLs go through the proxy too (no CONNECT: absolute-form)."""
    sim_port = int(sim.url.rsplit(":", 1)[1])
    before = proxy.connections_to(sim_port)
    use_environment(monkeypatch, {**sim.env(), "HTTP_PROXY": proxy.url()})
    with _session(transport) as session:
        assert session.chat("hi", providers=[NIM]).served_by == NIM
    assert proxy.connections_to(sim_port) > before


# --- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("socks5://bob:hunter2@proxy.corp:1080", "socks is not supported"),
        ("ftp://bob:hunter2@proxy.corp", "must be an http:// or https:// proxy URL"),
        ("http://bob:hunter2@proxy.corp:notaport", "not a valid proxy URL"),
        ("http://bob:hunter2@:3128", "has no host"),
        ("http://bob:hunter2@proxy.corp:3128\r\nX-Evil: 1", "control character"),
    ],
)
@pytest.mark.parametrize("variable", ["NVGW_PROXY", "HTTPS_PROXY", "ALL_PROXY"])
def test_bad_proxy_url_is_a_config_error(
    sim: Simulator, variable: str, value: str, words: str
) -> None:
    """A bad proxy URL is refused naming its variable, never echoing its password."""
    env = {**sim.env(), variable: value}
    with pytest.raises(nv.ConfigError) as info:
        nv.Session.from_env(env=env, env_file=None)
    said = str(info.value)
    assert variable in said
    assert words in said
    assert "hunter2" not in said


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("", "https://api.example.com/v1", False),
        ("*", "https://api.example.com/v1", True),
        ("example.com", "https://api.example.com/v1", True),
        ("example.com", "https://example.com/v1", True),
        (".example.com", "https://example.com/v1", True),
        ("*.example.com", "https://api.example.com/v1", True),
        ("example.com", "https://badexample.com/v1", False),
        ("api.example.com:8443", "https://api.example.com/v1", False),
        ("api.example.com:443", "https://api.example.com/v1", True),
        ("10.0.0.0/8", "https://10.1.2.3/v1", True),
        ("10.0.0.0/8", "https://11.1.2.3/v1", False),
        ("::1", "https://[::1]:8443/v1", True),
        ("localhost, 127.0.0.1", "http://127.0.0.1:8000/v1", True),
    ],
)
def test_no_proxy_rules(no_proxy: str, url: str, direct: bool) -> None:
    """NO_PROXY matches hosts, domains with their subdomains, ports and networks."""
    env = {"HTTPS_PROXY": "proxy.corp:3128", "HTTP_PROXY": "proxy.corp:3128"}
    network = Network.from_settings(
        nv.Settings.load(env={**env, "NO_PROXY": no_proxy}, env_file=None)
    )
    choice = network.proxy_for(httpx.URL(url))
    assert (choice is None) == direct
    if choice is not None:
        assert choice.host == "proxy.corp:3128"


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({"HTTPS_PROXY": "http://a:1"}, "https://h/", "a:1 (HTTPS_PROXY)"),
        ({"HTTPS_PROXY": "http://a:1"}, "http://h/", None),
        ({"HTTP_PROXY": "http://b:2"}, "http://h/", "b:2 (HTTP_PROXY)"),
        ({"ALL_PROXY": "http://c:3"}, "https://h/", "c:3 (ALL_PROXY)"),
        (
            {"ALL_PROXY": "http://c:3", "HTTPS_PROXY": "http://a:1"},
            "https://h/",
            "a:1 (HTTPS_PROXY)",
        ),
        (
            {"NVGW_PROXY": "http://d:4", "HTTPS_PROXY": "http://a:1"},
            "https://h/",
            "d:4 (NVGW_PROXY)",
        ),
        ({"NVGW_PROXY": "d:4"}, "http://h/", "d:4 (NVGW_PROXY)"),
    ],
)
def test_which_proxy_variable_wins(env: dict[str, str], url: str, expected: str | None) -> None:
    """NVGW_PROXY over the scheme's own variable over ALL_PROXY; none for the other scheme."""
    network = Network.from_settings(nv.Settings.load(env=env, env_file=None))
    choice = network.proxy_for(httpx.URL(url))
    assert (choice.describe() if choice else None) == expected


def test_lower_case_wins_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in urllib and httpx: https_proxy over HTTPS_PROXY when both are set."""
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("https_proxy", "http://lower:2")
    network = Network.from_settings(nv.Settings.load(env_file=None))
    choice = network.proxy_for(httpx.URL("https://h/"))
    assert choice is not None
    assert choice.host == "lower:2"


def test_check_prints_each_providers_proxy_and_ca(
    sim: Simulator, ca: trustme.CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nvgw-nb check` says which proxy and CA bundle each provider will use."""
    import io

    from nvgw_nb.setup_check import run_check

    bundle = pem_file(ca, tmp_path / "ca.pem")
    env = {
        **sim.env(),
        "HTTP_PROXY": "http://bob:hunter2@proxy.corp:3128",
        "NO_PROXY": "127.0.0.1",
        "NVGW_CA_BUNDLE": bundle,
    }
    out = io.StringIO()
    assert run_check(out, env=env, env_file=None, simulated=True) == 0
    text = out.getvalue()
    assert "nvidia-nim network: requests direct (NO_PROXY)" in text
    assert f"CA: the system store and certifi + NVGW_CA_BUNDLE ({bundle})" in text
    assert "token requests direct (NO_PROXY)" in text
    assert "hunter2" not in text


def test_check_uses_the_proxy_and_ca(
    sim: Simulator, front: TLSFront, ca: trustme.CA, proxy: Proxy, tmp_path: Path
) -> None:
    """`nvgw-nb check`'s own token fetch and probes go through the proxy, trusting the CA."""
    import io

    from nvgw_nb.setup_check import run_check

    env = {**_https_env(sim, front, ca, tmp_path), "HTTPS_PROXY": proxy.url()}
    out = io.StringIO()
    assert run_check(out, env=env, env_file=None) == 0, out.getvalue()
    text = out.getvalue()
    assert f"token requests through 127.0.0.1:{proxy.port} (HTTPS_PROXY)" in text
    assert "Starfleet token (127.0.0.1" in text
    assert proxy.connections_to(front.port) == front.accepted >= 2


def test_check_words_a_refused_token_certificate(
    sim: Simulator, front: TLSFront, tmp_path: Path
) -> None:
    """Without the CA, the check's token step fails saying what fixes it."""
    import io

    from nvgw_nb.setup_check import run_check

    env = https_env(sim, front, ("token",))
    out = io.StringIO()
    assert run_check(out, env=env, env_file=None) == 1
    text = out.getvalue()
    assert "[FAIL] Starfleet token" in text
    assert "NVGW_CA_BUNDLE" in text


def test_http_proxy_credentials_for_plain_http(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """An http:// URL through a proxy that wants credentials: they go with the request."""
    sim_port = int(sim.url.rsplit(":", 1)[1])
    with Proxy(auth="alice:s3cr3t-pw") as guarded:
        use_environment(monkeypatch, {**sim.env(), "HTTP_PROXY": guarded.url("alice:s3cr3t-pw")})
        with _session(transport) as session:
            assert session.chat("hi", providers=[NIM]).served_by == NIM
        assert guarded.connections_to(sim_port) >= 1


def _failed(cls: type[httpx.TransportError], message: str, via: str | None) -> httpx.TransportError:
    request = httpx.Request("POST", "https://nim.example.test/v1/chat/completions")
    if via is not None:
        request.extensions["nvgw_proxy"] = via
    return cls(message, request=request)


@pytest.mark.parametrize(
    ("case", "err", "words", "retries"),
    [
        (
            "connect timeout, no proxy configured",
            _failed(httpx.ConnectTimeout, "", None),
            ["no proxy is in use", "HTTPS_PROXY", "NVGW_PROXY"],
            0,
        ),
        (
            "connect timeout through a proxy",
            _failed(httpx.ConnectTimeout, "", "proxy.corp:3128 (HTTPS_PROXY)"),
            ["through the proxy proxy.corp:3128 (HTTPS_PROXY)", "NO_PROXY"],
            0,
        ),
        (
            "connect timeout, sent directly by NO_PROXY",
            _failed(httpx.ConnectTimeout, "", ""),
            ["NO_PROXY sends it directly"],
            0,
        ),
        (
            "no such host, no proxy configured",
            _failed(httpx.ConnectError, "[Errno -2] Name or service not known", None),
            ["cannot connect to nim.example.test", "HTTPS_PROXY", "NVGW_PROXY"],
            2,
        ),
        (
            "the proxy refused the connection",
            _failed(httpx.ConnectError, "[Errno 111] refused", "proxy.corp:3128 (NVGW_PROXY)"),
            ["through the proxy proxy.corp:3128 (NVGW_PROXY)", "check the proxy address"],
            2,
        ),
        (
            "a refused connection says nothing of proxies",
            _failed(httpx.ConnectError, "[Errno 111] Connection refused", None),
            ["cannot connect to nim.example.test ([Errno 111] Connection refused)"],
            2,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_connect_failures_name_the_proxy_variables(
    case: str, err: httpx.HTTPError, words: list[str], retries: int
) -> None:
    """Connect timeouts (never retried) and unreachable hosts say what to check."""
    from nvgw_nb.outcomes import transport_error

    error = transport_error(err, NIM, 0.5)
    for word in words:
        assert word in str(error), case
    assert error.retries == retries
    if "refused" in case and "proxy" not in case:
        assert "PROXY" not in str(error)
