"""Where credentials may travel: never along a redirect, never to plain http:// off
loopback, never in a header value with CR/LF or another control character.

Each rule has two lines of defence, and each line its test: `Settings` refuses the bad
value before any request, and the auth flows refuse to attach a credential anyway.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import nvgw_nb as nv
from nvgw_nb.auth import ApiKeyAuth, StarfleetAuth
from nvgw_nb.sim import Simulator
from tests.test_secrets import SECRET_VARIABLES

#: the headers a credential travels in, one per provider family
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")
URL_VARIABLES = (
    "NVIDIA_NIM_BASE_URL",
    "STARFLEET_TOKEN_URL",
    "LLM_GATEWAY_BASE_URL",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "NVGW_GOOGLE_BASE_URL",
    "NVGW_NVCF_STATUS_URL",
)
#: provider → the variable of its base URL and the path the simulator serves it under
BASE_URLS = {
    "nvidia-nim": ("NVIDIA_NIM_BASE_URL", "/nim/v1"),
    "nvidia-gateway": ("LLM_GATEWAY_BASE_URL", "/llm/v1/azure"),
    "openai": ("OPENAI_BASE_URL", "/openai/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "/anthropic"),
    "google-genai": ("NVGW_GOOGLE_BASE_URL", "/google"),
}
#: characters that must never reach a header value (CR/LF split it; the rest h11 refuses,
#: echoing the whole value in its error)
BAD_CHARS = ("\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85")

Reply = tuple[int, dict[str, str], bytes]


class LoopbackServer:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers `reply`."""

    def __init__(self, reply: Callable[[str], Reply]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                outer.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                status, headers, body = reply(self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def credentials(self) -> list[str]:
        """Names of the credential headers any request arrived with."""
        return [h for _, _, headers in self.requests for h in CREDENTIAL_HEADERS if h in headers]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def recorder() -> Iterator[LoopbackServer]:
    """Where redirects point: records whatever reaches it, answers 200 {}."""
    with LoopbackServer(lambda path: (200, {"Content-Type": "application/json"}, b"{}")) as s:
        yield s


def redirector(status: int, to: str) -> LoopbackServer:
    """Answers every request with `status` and `Location: to`."""
    return LoopbackServer(lambda path: (status, {"Location": to}, b""))


def _session(sim: Simulator, **env: str) -> nv.Session:
    return nv.Session.from_env(
        env={**sim.env(), "NVGW_ALLOW_EXTERNAL": "true", **env},
        env_file=None,
        retry=nv.RetryPolicy.no_wait(),
    )


# --- (a) redirects are never followed -----------------------------------------------------
REDIRECT_CASES = [
    pytest.param(provider, status, id=f"{provider}-{status}")
    for provider in BASE_URLS
    for status in (302, 307)
] + [
    pytest.param("starfleet", 302, id="starfleet-302"),
    pytest.param("starfleet", 308, id="starfleet-308"),
    pytest.param("nvcf-status", 303, id="nvcf-status-303"),
]


@pytest.mark.parametrize(("target", "status"), REDIRECT_CASES)
def test_authenticated_requests_never_follow_redirects(
    sim: Simulator, recorder: LoopbackServer, target: str, status: int
) -> None:
    """A 3xx from any provider, the token endpoint or the NVCF status poll: nothing (and
    no credential) reaches the Location; the error names the status and the Location's
    host, never its query."""
    signature = secrets.token_hex(12)
    with redirector(status, f"{recorder.url}/landing?sig={signature}") as hop:
        provider = "nvidia-nim" if target == "nvcf-status" else target
        if target == "starfleet":
            provider = "nvidia-gateway"
            env = {"STARFLEET_TOKEN_URL": f"{hop.url}/starfleet/token"}
        elif target == "nvcf-status":
            sim.inject("nvidia-nim", "N2")  # 202 Accepted: the answer is polled
            env = {"NVGW_NVCF_STATUS_URL": f"{hop.url}/nvcf/status"}
        else:
            variable, path = BASE_URLS[target]
            env = {variable: hop.url + path}
        with _session(sim, **env) as session, pytest.raises(nv.NvgwError) as info:
            session.chat("hi", providers=[provider])
        assert len(hop.requests) >= 1, "the redirecting endpoint was asked"
    assert recorder.credentials() == [], "a credential followed the redirect"
    assert recorder.requests == [], "the redirect was followed"
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert f"redirect to {recorder.netloc}" in message
    assert signature not in message
    assert signature not in "".join(a.model_dump_json() for a in info.value.attempts)


def test_session_client_does_not_follow_redirects(session: nv.Session) -> None:
    """The Session's one httpx client is built with follow_redirects=False."""
    assert session._client.follow_redirects is False


# --- (b) credentials go only to https://, or http:// on loopback ----------------------------
@pytest.mark.parametrize("variable", URL_VARIABLES)
def test_settings_refuse_plain_http_off_loopback(sim: Simulator, variable: str) -> None:
    """Every URL setting with http://example.com is refused, naming the variable, before
    any request is sent."""
    before = sim.stats()["requests"]
    with pytest.raises(nv.ConfigError, match=f"{variable} must use https://"):
        _session(sim, **{variable: "http://example.com/v1"})
    assert sim.stats()["requests"] == before


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-goog-api-key"])
@pytest.mark.parametrize("url", ["http://example.invalid/v1/chat", "ftp://example.invalid/v1"])
def test_api_key_auth_refuses_insecure_urls(header: str, url: str) -> None:
    """Second line: the key flow raises before attaching the key to a non-https URL off
    loopback (driven by hand: no network)."""
    key = SecretStr(secrets.token_hex(16))
    auth = ApiKeyAuth(key, variable="OPENAI_API_KEY", header=header)
    request = httpx.Request("POST", url)
    with pytest.raises(nv.ConfigError, match="refusing to send OPENAI_API_KEY") as info:
        next(auth.auth_flow(request))
    assert header.lower() not in request.headers
    assert key.get_secret_value() not in str(info.value)
    assert "example.invalid" in str(info.value)


def _starfleet(token_url: str = "https://starfleet.example.invalid/token") -> StarfleetAuth:
    return StarfleetAuth(
        client_id=SecretStr("client-" + secrets.token_hex(6)),
        client_secret=SecretStr(secrets.token_hex(16)),
        token_url=token_url,
        variables=("STARFLEET_ID", "STARFLEET_SECRET"),
    )


def test_starfleet_auth_refuses_a_plain_http_token_url() -> None:
    """Second line: the client credentials are not sent to an http:// token URL."""
    auth = _starfleet("http://example.invalid/token")
    flow = auth.sync_auth_flow(httpx.Request("POST", "https://gateway.example.invalid/chat"))
    with pytest.raises(nv.ConfigError, match="refusing to send STARFLEET_ID and STARFLEET_SECRET"):
        next(flow)


def test_starfleet_auth_refuses_to_send_the_token_over_plain_http() -> None:
    """Second line: a held token is not attached to an http:// request off loopback."""
    auth = _starfleet()
    token = secrets.token_urlsafe(32)
    auth.cache.store(token, 900)
    request = httpx.Request("POST", "http://example.invalid/chat")
    with pytest.raises(nv.ConfigError, match="refusing to send the Starfleet token") as info:
        next(auth.sync_auth_flow(request))
    assert "authorization" not in request.headers
    assert token not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.invalid/v1",
        "http://127.0.0.1:9/v1",
        "http://127.8.9.10/v1",
        "http://localhost/v1",
        "http://[::1]:9/v1",
    ],
)
def test_https_and_loopback_http_get_the_credential(url: str) -> None:
    """https:// anywhere and http:// on loopback (the simulator) are allowed."""
    request = httpx.Request("POST", url)
    next(ApiKeyAuth(SecretStr("k" * 12), variable="NVIDIA_NIM_API_KEY").auth_flow(request))
    assert request.headers["authorization"] == "Bearer " + "k" * 12
    auth = _starfleet()
    auth.cache.store("t" * 20, 900)
    request = httpx.Request("POST", url)
    next(auth.sync_auth_flow(request))
    assert request.headers["authorization"] == "Bearer " + "t" * 20


@pytest.mark.parametrize("provider", list(BASE_URLS))
def test_a_session_with_unchecked_http_settings_sends_nothing(
    sim: Simulator, provider: str
) -> None:
    """Settings bypassed (model_copy does not validate): the call still fails with a
    ConfigError and no request carries a credential anywhere."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 900})
        return httpx.Response(200, json={})

    variable, _ = BASE_URLS[provider]
    settings = nv.Settings.load(env={**sim.env(), "NVGW_ALLOW_EXTERNAL": "true"}, env_file=None)
    field = {
        "NVIDIA_NIM_BASE_URL": "nvidia_nim_base_url",
        "LLM_GATEWAY_BASE_URL": "llm_gateway_base_url",
        "OPENAI_BASE_URL": "openai_base_url",
        "ANTHROPIC_BASE_URL": "anthropic_base_url",
        "NVGW_GOOGLE_BASE_URL": "google_base_url",
    }[variable]
    unchecked = settings.model_copy(update={field: "http://example.invalid/v1"})
    transport = httpx.MockTransport(handler)
    session = nv.Session(unchecked, transport=transport, retry=nv.RetryPolicy.no_wait())
    with session, pytest.raises(nv.ConfigError, match="refusing to send"):
        session.chat("hi", providers=[provider])
    assert [r.url.host for r in sent if r.url.host != "127.0.0.1"] == [], "nothing left loopback"


# --- (c) no CR/LF or other control character in a credential header -----------------------
@pytest.mark.parametrize("variable", SECRET_VARIABLES)
def test_settings_refuse_control_characters_in_secrets(variable: str) -> None:
    """CR, LF and every other control character in a secret: ConfigError naming the
    variable, never echoing the value."""
    marker = secrets.token_hex(8)
    for bad in BAD_CHARS:
        with pytest.raises(nv.ConfigError, match=variable) as info:
            nv.Settings.load(env={variable: f"{marker}{bad}X-Injected:{marker}"}, env_file=None)
        assert marker not in str(info.value), repr(bad)


@pytest.mark.parametrize("variable", ["NVIDIA_NIM_API_KEY", "STARFLEET_SECRET"])
def test_settings_refuse_non_ascii_secrets(variable: str) -> None:
    """A non-ASCII secret cannot travel in a header: refused up front, not as a
    UnicodeEncodeError mid-request."""
    marker = secrets.token_hex(8)
    with pytest.raises(nv.ConfigError, match=f"{variable} contains a control or non-ASCII"):
        nv.Settings.load(env={variable: f"{marker}\u00e9{marker}"}, env_file=None)


@pytest.mark.parametrize("variable", [*URL_VARIABLES, "LLM_GATEWAY_MODEL", "NVGW_TOKEN_SCOPE"])
def test_settings_refuse_control_characters_in_urls_and_names(variable: str) -> None:
    """urlsplit drops CR/LF silently: URL (and name) settings are checked before parsing."""
    for bad in ("\r\n", "\x00", "\x7f"):
        value = f"https://exa{bad}mple.com/v1" if variable in URL_VARIABLES else f"gpt{bad}4o"
        with pytest.raises(nv.ConfigError, match=variable):
            nv.Settings.load(env={variable: value}, env_file=None)


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-goog-api-key"])
def test_api_key_auth_refuses_control_characters(header: str) -> None:
    """Second line: a key built by hand with CR/LF never becomes a header value."""
    marker = secrets.token_hex(8)
    for bad in BAD_CHARS:
        auth = ApiKeyAuth(
            SecretStr(f"{marker}{bad}X-Injected: 1"), variable="ANTHROPIC_API_KEY", header=header
        )
        request = httpx.Request("POST", "https://api.example.invalid/v1/messages")
        with pytest.raises(nv.ConfigError, match="ANTHROPIC_API_KEY") as info:
            next(auth.auth_flow(request))
        assert header.lower() not in request.headers
        assert marker not in str(info.value)


def test_a_token_with_control_characters_is_refused() -> None:
    """A token endpoint answering a token with CR/LF: AuthError naming `access_token`, the
    token neither stored nor echoed."""
    marker = secrets.token_hex(8)
    for bad in BAD_CHARS:
        auth = _starfleet()
        body = {"access_token": f"{marker}{bad}X-Injected: 1", "expires_in": 900}
        response = httpx.Response(200, json=body)
        with pytest.raises(nv.AuthError, match="`access_token` is missing or invalid") as info:
            auth.take_token_response(response)
        assert auth.cache.usable() is None
        assert marker not in str(info.value)


def test_a_control_character_token_never_reaches_the_gateway(sim: Simulator) -> None:
    """End to end over loopback: the bad token is refused, the gateway is never asked and
    the error (and its attempts) hold no part of the token."""
    marker = secrets.token_hex(8)
    token = json.dumps({"access_token": f"{marker}\r\nX-Injected: 1", "expires_in": 900})
    with LoopbackServer(
        lambda path: (200, {"Content-Type": "application/json"}, token.encode())
    ) as starfleet:
        before = sim.stats()["requests"]
        env = {"STARFLEET_TOKEN_URL": f"{starfleet.url}/token"}
        with _session(sim, **env) as session, pytest.raises(nv.AuthError) as info:
            session.chat("hi", providers=["nvidia-gateway"])
        assert starfleet.requests, "the token endpoint was asked"
    assert sim.stats()["requests"] == before, "the gateway was never asked"
    texts = str(info.value) + "".join(a.model_dump_json() for a in info.value.attempts)
    assert "access_token" in str(info.value)
    assert marker not in texts
