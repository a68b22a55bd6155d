"""Request targets an upstream or a name can steer (issue 14, item 10).

An NVCF request id decides where the NIM key is sent next, and a model name is a segment
of the gateway's and Gemini's URL paths: ids of the wrong shape are a `MalformedResponse`
that falls over before any poll, and names that would change the path are a `ConfigError`
naming where they came from, before any request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import nvgw_nb as nv
from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.engine import Deadlines, Engine, Step
from nvgw_nb.inputs import chat_request
from nvgw_nb.names import check_path_name
from nvgw_nb.providers import GatewayProvider, NimProvider, Provider
from nvgw_nb.providers.google import GoogleProvider
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.sim import Simulator

NIM, GW, GOOGLE = "nvidia-nim", "nvidia-gateway", "google-genai"
STATUS_PATH = "/v2/nvcf/pexec/status"
HOSTILE_IDS = [
    "../../../escape/x?leak=1",
    "..",
    "a/b",
    "%2E%2E",
    "abc?x=1",
    "abc#frag",
    "a b",
    "a\\b",
    "x" * 129,
    "é",
    "",
]
VALID_IDS = [str(uuid.uuid4()), "abc-123", "A" * 128]
BAD_NAMES = [".", "..", "a/b", "../openai", "%2E%2E", "gpt?x=1", "gpt#x", "a\\b", "gpt\x00", ""]
GOOD_NAMES = ["gpt-4o-mini", "gpt-4.1-mini", "my_deployment.v2", "gemini-2.5-pro"]

# --- NVCF request ids -------------------------------------------------------------------


@pytest.mark.parametrize("request_id", HOSTILE_IDS, ids=repr)
def test_poll_refuses_an_id_that_is_not_a_request_id(request_id: str) -> None:
    """An NVCF-REQID that could leave its path segment is malformed: nothing to poll."""
    nim = NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status")
    with pytest.raises(nv.MalformedResponse, match="NVCF-REQID") as info:
        nim.poll_request(request_id)
    assert info.value.falls_over
    assert len(str(info.value)) < 400, "a long id is not copied into the message"


@pytest.mark.parametrize("request_id", VALID_IDS)
def test_poll_goes_to_the_status_url_with_a_valid_id(request_id: str) -> None:
    """A UUID-shaped id is polled at `{status_url}/{id}`."""
    nim = NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status/")
    assert str(nim.poll_request(request_id).url) == f"https://nvcf.test/status/{request_id}"


class _NvcfHandler(BaseHTTPRequestHandler):
    """NIM that answers every POST with 202 and `request_id`; the status URL answers 200."""

    server: _NvcfServer

    def do_POST(self) -> None:
        self._record()
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(202, b"", {"NVCF-REQID": self.server.request_id})

    def do_GET(self) -> None:
        self._record()
        if self.path == f"{STATUS_PATH}/{self.server.request_id}":
            body = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "meta/llama",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "polled"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            self._answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
        else:
            self._answer(404, b"", {})

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("authorization")))

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _NvcfServer(ThreadingHTTPServer):
    """A loopback NIM + NVCF status host that records (method, path, Authorization)."""

    daemon_threads = True
    request_id: str
    seen: list[tuple[str, str, str | None]]

    def __init__(self, request_id: str) -> None:
        super().__init__(("127.0.0.1", 0), _NvcfHandler)
        self.request_id = request_id
        self.seen = []

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def nvcf(request: pytest.FixtureRequest) -> Iterator[_NvcfServer]:
    """The NIM + status server for the id in `request.param`, stopped after the test."""
    server = _NvcfServer(request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports: the aiohttp one re-normalises escaped dots in paths."""
    value: str = request.param
    return value


def _nvcf_session(sim: Simulator, server: _NvcfServer, transport: str) -> nv.Session:
    return sim.session(
        transport=transport,
        nvidia_nim_base_url=f"{server.url}/v1",
        nvcf_status_url=f"{server.url}{STATUS_PATH}",
        retry=nv.RetryPolicy.no_wait(),
    )


@pytest.mark.parametrize("nvcf", ["../../../escape/x?leak=1"], indirect=True)
def test_hostile_request_id_is_never_polled_and_falls_over(
    sim: Simulator, nvcf: _NvcfServer, transport: str
) -> None:
    """A 202 whose NVCF-REQID would escape the status URL: no poll, no key elsewhere,
    a malformed NIM attempt, and the gateway answers."""
    with _nvcf_session(sim, nvcf, transport) as session:
        result = session.chat("hi")
    assert result.served_by == GW
    nim = [a for a in result.attempts if a.provider == NIM]
    assert nim
    assert all(a.error_kind == "malformed" for a in nim)
    paths = Counter((method, path) for method, path, _ in nvcf.seen)
    assert set(paths) == {("POST", "/v1/chat/completions")}, "nothing but the chat route"
    assert paths["POST", "/v1/chat/completions"] == len(nim)
    key = sim.env()["NVIDIA_NIM_API_KEY"]
    assert all(auth == f"Bearer {key}" for _, _, auth in nvcf.seen)


@pytest.mark.parametrize("nvcf", [str(uuid.UUID(int=7))], indirect=True)
def test_valid_request_id_is_polled_at_the_status_url(
    sim: Simulator, nvcf: _NvcfServer, transport: str
) -> None:
    """The control: a UUID is polled at `{NVGW_NVCF_STATUS_URL}/{id}` and NIM answers."""
    with _nvcf_session(sim, nvcf, transport) as session:
        result = session.chat("hi")
    assert (result.served_by, result.content) == (NIM, "polled")
    paths = [(method, path) for method, path, _ in nvcf.seen]
    assert paths == [("POST", "/v1/chat/completions"), ("GET", f"{STATUS_PATH}/{nvcf.request_id}")]


# --- model names in URL paths -----------------------------------------------------------


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_path_names_that_change_the_path_are_refused(name: str) -> None:
    """`.`, `..`, `/`, `%`, `?`, `#`, `\\`, control characters and "" are a ConfigError
    naming where the name came from."""
    with pytest.raises(nv.ConfigError, match=r"^models\['x'\]"):
        check_path_name(name, "models['x']")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_ordinary_names_pass(name: str) -> None:
    """Deployment and model names with dots, dashes and underscores are kept as given."""
    assert check_path_name(name, "models['x']") == name


def _requests(sim: Simulator) -> int:
    return sum(sum(kinds.values()) for kinds in sim.stats()["requests"].values())


@pytest.mark.parametrize("provider", [GW, GOOGLE])
@pytest.mark.parametrize("name", ["..", ".", "a/b", "%2E%2E"])
def test_models_argument_is_refused_before_any_request(
    sim: Simulator, provider: str, name: str
) -> None:
    """`models={provider: name}` on a call: ConfigError naming models[...], nothing sent."""
    with (
        sim.session(allow_external=True, provider_order=[NIM, GW, GOOGLE]) as session,
        pytest.raises(nv.ConfigError, match=rf"models\['{provider}'\]"),
    ):
        session.chat("hi", models={provider: name})
    assert _requests(sim) == 0


@pytest.mark.parametrize("provider", [GW, GOOGLE])
def test_role_model_is_refused_before_any_request(sim: Simulator, provider: str) -> None:
    """A Role whose model would change the path: ConfigError naming the role."""
    role = nv.Role(name="sneaky", models={provider: ".."})
    with (
        sim.session(allow_external=True, provider_order=[NIM, GW, GOOGLE]) as session,
        pytest.raises(nv.ConfigError, match=rf"role 'sneaky': models\['{provider}'\]"),
    ):
        session.chat("hi", role=role)
    assert _requests(sim) == 0


@pytest.mark.parametrize("name", ["..", ".", "openai/x", "%2e%2e", "a#b", "a?b"])
def test_gateway_model_setting_is_refused(name: str) -> None:
    """LLM_GATEWAY_MODEL that would change the path: ConfigError naming the variable."""
    with pytest.raises(nv.ConfigError, match="LLM_GATEWAY_MODEL"):
        nv.Session.from_env(env={"LLM_GATEWAY_MODEL": name}, env_file=None)


def test_nim_models_keep_their_slash(sim: Simulator) -> None:
    """NIM's model travels in the body, so `meta/llama-…` stays allowed."""
    with sim.session() as session:
        steps = session.plan(models={NIM: "meta/llama-4-scout-17b-16e-instruct"})
    assert steps[0].model == "meta/llama-4-scout-17b-16e-instruct"


def test_gemini_models_prefix_is_allowed(sim: Simulator) -> None:
    """Gemini's own `models/` prefix is dropped, not refused."""
    with sim.session(allow_external=True, provider_order=[GOOGLE]) as session:
        result = session.chat("hi", models={GOOGLE: "models/gemini-2.5-pro"})
    assert result.served_by == GOOGLE


@pytest.mark.parametrize(
    "provider",
    [
        GatewayProvider(base_url="https://gw.test/llm/v1/azure", api_version="2024-12-01-preview"),
        GoogleProvider(base_url="https://gemini.test"),
    ],
    ids=[GW, GOOGLE],
)
@pytest.mark.parametrize("name", ["..", "models/..", "a/b", "%2E%2E"])
def test_build_request_guards_the_path(provider: Provider, name: str) -> None:
    """The last guard: build_request itself refuses a name that would change the path."""
    with pytest.raises(nv.ConfigError, match=r"would change the URL path|is empty"):
        provider.build_request(chat_request("hi"), name)


def test_engine_fails_the_call_on_the_guard_before_any_request() -> None:
    """A ConfigError from build_request ends the call at once: not a provider failure to
    fall over from (nor counted by its breaker), and nothing is sent to any provider."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    gateway = GatewayProvider(base_url="https://gw.test/azure", api_version="v")
    nim = NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status")
    engine = Engine(
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        providers={GW: gateway, NIM: nim},
        auths={},
        policy=RetryPolicy.no_wait(),
        breakers={GW: CircuitBreaker(), NIM: CircuitBreaker()},
        deadlines=Deadlines(attempt_s=5, call_s=5),
    )
    plan = [Step(GW, ".."), Step(NIM, "meta/llama")]
    with pytest.raises(nv.ConfigError) as info:
        asyncio.run(engine.chat(chat_request("hi"), plan))
    assert not isinstance(info.value, nv.AllProvidersFailed)
    assert sent == []
    assert [(a.provider, a.status_code) for a in info.value.attempts] == [(GW, None)]
    assert engine.breakers[GW].failures == 0, "the caller's mistake is not the gateway's"


def test_session_roles_are_checked_when_the_session_is_made(sim: Simulator) -> None:
    """`roles=` with a model that would change the path fails at creation, naming the role."""
    roles = {"sneaky": nv.Role(name="sneaky", models={GW: "../deployments/other"})}
    with pytest.raises(nv.ConfigError, match=r"role 'sneaky': models\['nvidia-gateway'\]"):
        sim.session(roles=roles)
    assert _requests(sim) == 0
