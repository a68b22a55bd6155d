"""The simulator over real loopback HTTP (uvicorn) and over `transport()`, with httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nvgw_nb.sim import FAULT_IDS, PROFILES, Profile, Simulator
from nvgw_nb.sim.core import SimCore, SimRequest

from .conftest import (
    NIM_MODEL,
    WEATHER_TOOL,
    Outcome,
    WireClient,
    chat_body,
    stream_text,
    stream_tool_calls,
)

ADAPTERS = ["server", "transport"]
CHAT_PROVIDERS = ["nvidia-nim", "nvidia-gateway"]


# ------------------------------------------------------------------------ fault table


def answer_of(out: Outcome, stream: bool) -> dict[str, Any]:
    """content / tool_calls / finish / filters of a 200 chat answer, JSON or SSE."""
    if not stream:
        choice = out.json()["choices"][0]
        message = choice["message"]
        calls = [{"id": c["id"], **c["function"]} for c in message.get("tool_calls") or []]
        return {
            "content": message["content"],
            "tool_calls": calls,
            "finish": choice["finish_reason"],
            "filters": choice.get("content_filter_results"),
        }
    events = [e for e in out.events if isinstance(e, dict)]
    assert out.events[-1] == "[DONE]"
    finals = [c for e in events for c in e.get("choices") or [] if c.get("finish_reason")]
    return {
        "content": stream_text(events),
        "tool_calls": list(stream_tool_calls(events).values()),
        "finish": finals[-1]["finish_reason"],
        "filters": finals[-1].get("content_filter_results"),
    }


def expect_cut(out: Outcome, stream: bool, *, content_seen: bool | None = None) -> None:
    """Connection cut mid-body: the client raises RemoteProtocolError after the headers."""
    assert out.error is httpx.RemoteProtocolError
    assert out.status == 200
    if not stream:
        assert out.body
        with pytest.raises(json.JSONDecodeError):
            json.loads(out.body)
    elif content_seen is not None:
        assert "[DONE]" not in out.events
        assert bool(stream_text([e for e in out.events if isinstance(e, dict)])) is content_seen


def check_chat_fault(
    fault: str, provider: str, stream: bool, out: Outcome, wire: WireClient
) -> None:
    """What a client must observe for `fault` on `provider` (FAULTS.md, WIRE.md)."""
    nim = provider == "nvidia-nim"
    ctype = out.headers.get("content-type", "")
    if fault not in ("C2",):
        assert out.headers.get("x-nvgw-simulator") == "1"
    if fault == "N1":
        assert out.status == (503 if nim else 500)
        if nim:
            assert ctype == "application/problem+json"
            assert out.json()["status"] == 503
            assert out.headers["nvcf-status"] == "errored"
        else:
            assert out.json()["error"]["code"] == "InternalServerError"
    elif fault == "N2":
        reqid = out.headers["nvcf-reqid"]
        assert (out.status, out.body, out.headers["nvcf-status"]) == (202, b"", "in-progress")
        polls = [wire.nim_status(reqid) for _ in range(4)]
        assert [p.status for p in polls] == [202, 202, 200, 404]
        assert polls[2].json()["choices"][0]["message"]["content"]
    elif fault in ("R1", "R2"):
        assert out.status == 429
        assert out.headers["retry-after"] == "0"  # time_scale=0
        if fault == "R2":
            assert out.headers["retry-after-ms"] == "0"
        if nim:
            assert out.json()["title"] == "Too Many Requests"
        else:
            assert out.json()["error"]["code"] == "429"
    elif fault == "C2":
        assert out.error is httpx.ReadTimeout
        assert out.status is None
    elif fault == "C3":
        expect_cut(out, stream)
    elif fault == "S1":
        expect_cut(out, stream, content_seen=False)
    elif fault == "S2":
        expect_cut(out, stream, content_seen=True)
    elif fault == "B1":
        assert out.status == 200
        assert out.error is None
        if stream:
            assert any(isinstance(e, str) and e != "[DONE]" for e in out.events)
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(out.body)
    elif fault == "B2":
        assert out.status == 200
        assert ctype.startswith("text/html")
        assert b"<html>" in out.body
    elif fault == "B3":
        assert out.status == 200
        if stream:
            events = [e for e in out.events if isinstance(e, dict)]
            assert stream_text(events) == ""
            assert any("error" in e for e in events) or not any("choices" in e for e in events)
        else:
            body = out.json()
            assert "choices" not in body
            assert "error" in body or body["object"] == "chat.completion"
    elif fault in ("B4", "B5"):
        answer = answer_of(out, stream)
        assert answer["finish"] == "tool_calls"
        (call,) = answer["tool_calls"]
        if fault == "B4":
            with pytest.raises(json.JSONDecodeError):
                json.loads(call["arguments"])
        else:
            json.loads(call["arguments"])
            assert call["name"] == "run_shell_command"
    elif fault == "B6":
        # No structured output was asked for: prose that is not JSON (test_structured_output
        # covers B6 with a schema).
        answer = answer_of(out, stream)
        assert answer["finish"] == "stop"
        with pytest.raises(json.JSONDecodeError):
            json.loads(answer["content"])
    elif fault == "E1":
        answer = answer_of(out, stream)
        assert (answer["content"], answer["tool_calls"], answer["finish"]) == ("", [], "stop")
    elif fault == "E2":
        answer = answer_of(out, stream)
        assert answer["finish"] == "length"
        assert answer["content"]
    elif fault == "E3":
        answer = answer_of(out, stream)
        assert answer["finish"] == "content_filter"
        if not nim:
            assert answer["filters"]["violence"] == {"filtered": True, "severity": "medium"}
    elif fault == "X1":
        assert out.status == 400
        err = out.json()
        assert err["object"] == "error" if nim else err["error"]["type"] == "invalid_request_error"
    elif fault == "X2":
        assert out.status == 404
        if nim:
            assert ctype == "application/problem+json"
        else:
            assert out.json()["error"]["code"] == "DeploymentNotFound"
    elif fault == "X3":
        if nim:
            assert out.status == 413
            assert out.json()["title"] == "Payload Too Large"
        else:
            assert out.status == 400
            assert out.json()["error"]["code"] == "context_length_exceeded"
    elif fault == "X4":
        assert out.status in ((401, 403) if nim else (403,))
    elif fault == "G1":
        assert out.status == 401
        assert out.json()["error"]["code"] == "401"
        # The same token works on replay: the fault is not a real revocation.
        assert wire.chat(provider, chat_body()).status == 200
    else:  # pragma: no cover - the table below lists every id
        pytest.fail(f"no expectation for {fault}")


REPEATED_FOR_SAME_INPUT = ("B4", "B5", "B6")

CHAT_CASES = [
    pytest.param(provider, fault, stream, id=f"{provider}-{fault}-{'sse' if stream else 'json'}")
    for provider in CHAT_PROVIDERS
    for fault in FAULT_IDS[provider]
    for stream in (False, True)
    if not (fault == "N2" and stream)
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(("provider", "fault", "stream"), CHAT_CASES)
def test_chat_fault(
    shared_sim: Simulator,
    make_wire: Callable[..., WireClient],
    adapter: str,
    provider: str,
    fault: str,
    stream: bool,
) -> None:
    """Each injected chat fault gives the real provider's shape, over HTTP and MockTransport."""
    wire = make_wire(shared_sim, adapter, timeout=0.3 if fault == "C2" else 10)
    if provider == "nvidia-gateway":
        wire.token()  # the token request must not meet the injected fault
    before = shared_sim.stats()["faults_fired"][provider].get(fault, 0)
    shared_sim.inject(provider, fault)
    body = chat_body("Explain retry budgets for HTTP clients")
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    out = wire.chat(provider, body)
    check_chat_fault(fault, provider, stream, out, wire)
    assert shared_sim.stats()["faults_fired"][provider][fault] == before + 1
    if fault in REPEATED_FOR_SAME_INPUT:
        # A model's bug for a given input: the identical retry gets it once more, then not.
        check_chat_fault(fault, provider, stream, wire.chat(provider, body), wire)
        assert shared_sim.stats()["faults_fired"][provider][fault] == before + 2
        assert wire.chat(provider, body).status == 200


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("fault", FAULT_IDS["starfleet"])
def test_token_fault(
    shared_sim: Simulator, make_wire: Callable[..., WireClient], adapter: str, fault: str
) -> None:
    """Token endpoint faults T1-T4."""
    wire = make_wire(shared_sim, adapter, timeout=0.3 if fault == "T2" else 10)
    shared_sim.inject("starfleet", fault)
    out = wire.token_request()
    if fault == "T1":
        assert out.status == 503
        assert out.json()["error"] == "temporarily_unavailable"
    elif fault == "T2":
        assert out.error is httpx.ReadTimeout
    elif fault == "T3":
        assert out.status == 200
        try:
            body = out.json()
        except ValueError:
            assert out.headers["content-type"].startswith("text/html")
        else:
            assert "access_token" not in body or not isinstance(body["expires_in"], int)
    else:
        assert out.status == 401
        assert out.json()["error"] == "invalid_client"
    assert wire.token_request().status == 200


def test_t3_cycles_through_bad_bodies(sim: Simulator, wire: WireClient) -> None:
    """T3 rotates HTML, a body without access_token, and a bad expires_in."""
    sim.inject("starfleet", "T3", times=3)
    outs = [wire.token_request() for _ in range(3)]
    assert outs[0].headers["content-type"] == "text/html"
    assert "access_token" not in outs[1].json()
    assert outs[2].json()["expires_in"] == "soon"


@pytest.mark.parametrize("provider", CHAT_PROVIDERS)
def test_b3_alternates_missing_choices_and_error(
    sim: Simulator, wire: WireClient, provider: str
) -> None:
    """B3 alternates a 200 without `choices` and a 200 carrying an `error` object."""
    sim.inject(provider, "B3", times=2)
    first, second = (wire.chat(provider, chat_body()).json() for _ in range(2))
    assert "choices" not in first
    assert "error" not in first
    assert set(second) == {"error"}


@pytest.mark.parametrize("provider", CHAT_PROVIDERS)
def test_b4_b5_with_declared_tools(sim: Simulator, wire: WireClient, provider: str) -> None:
    """With tools declared, B4 breaks the arguments and B5 names an undeclared tool."""
    sim.inject(provider, "B4")
    sim.inject(provider, "B5")
    body = chat_body("What's the weather in Lyon?", tools=[WEATHER_TOOL])
    bad_args = wire.chat(provider, body).json()["choices"][0]["message"]["tool_calls"][0]
    assert bad_args["function"]["name"] == "get_weather"
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad_args["function"]["arguments"])
    bad_name = wire.chat(provider, body).json()["choices"][0]["message"]["tool_calls"][0]
    assert bad_name["function"]["name"] not in ("get_weather",)
    assert json.loads(bad_name["function"]["arguments"])["city"] == "Lyon"


async def test_transport_works_with_async_clients(sim: Simulator) -> None:
    """transport() serves async clients too: streams, cuts and stalls."""
    env = sim.env()
    headers = {"Authorization": f"Bearer {env['NVIDIA_NIM_API_KEY']}"}
    url = env["NVIDIA_NIM_BASE_URL"] + "/chat/completions"
    body = {"model": NIM_MODEL, **chat_body(stream=True)}
    async with httpx.AsyncClient(transport=sim.transport()) as client:
        ok = await client.post(url, headers=headers, json=body)
        assert ok.status_code == 200
        assert ok.text.endswith("data: [DONE]\n\n")
        sim.inject("nvidia-nim", "S2")
        seen = bytearray()

        async def read_stream() -> None:
            async with client.stream("POST", url, headers=headers, json=body) as response:
                async for chunk in response.aiter_bytes():
                    seen.extend(chunk)

        with pytest.raises(httpx.RemoteProtocolError):
            await read_stream()
        assert b"content" in seen
        sim.inject("nvidia-nim", "C2")
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, headers=headers, json=body)


def test_transport_works_without_start() -> None:
    """transport() needs no running server."""
    sim = Simulator(seed=1, time_scale=0)
    client = httpx.Client(transport=sim.transport(), base_url="http://sim.invalid")
    with client:
        response = client.get("/nim/v1/models")
    assert response.status_code == 401
    assert response.headers["x-nvgw-simulator"] == "1"


# ------------------------------------------------------------------------ routes over HTTP


def test_routes_over_http(sim: Simulator, wire: WireClient) -> None:
    """Token, NIM chat/models and gateway chat all answer over loopback HTTP."""
    env = wire.env
    token = wire.token_request()
    assert token.status == 200
    assert token.json()["token_type"] == "Bearer"
    nim = wire.nim_chat({"model": NIM_MODEL, **chat_body()})
    assert nim.status == 200
    assert nim.headers["nvcf-status"] == "fulfilled"
    models = wire.send(
        "GET",
        env["NVIDIA_NIM_BASE_URL"] + "/models",
        headers={"Authorization": f"Bearer {env['NVIDIA_NIM_API_KEY']}"},
    )
    assert len(models.json()["data"]) == 4  # three chat models, one embedding model
    gateway = wire.gateway_chat(chat_body(), deployment="gpt-4o")
    assert gateway.status == 200
    assert gateway.json()["model"] == "gpt-4o-2024-11-20"
    for out in (token, nim, models, gateway):
        assert out.headers["x-nvgw-simulator"] == "1"


@pytest.mark.parametrize(
    ("token_auth", "form_status", "raw_status"),
    [("either", 200, 200), ("form", 200, 401), ("raw", 401, 200)],
)
def test_basic_auth_encodings_the_token_endpoint_takes(
    make_wire: Callable[..., WireClient], token_auth: str, form_status: int, raw_status: int
) -> None:
    """RFC 6749 form-encoded and raw `id:secret` Basic credentials, as `token_auth` allows."""
    with Simulator(seed=7, time_scale=0, token_auth=token_auth) as sim:
        wire = make_wire(sim)
        raw = wire.token_request(encode=False)
        assert (wire.token_request(encode=True).status, raw.status) == (form_status, raw_status)
        if raw_status == 401:
            assert raw.json()["error"] == "invalid_client"


def test_revoked_token_over_http(sim: Simulator, wire: WireClient) -> None:
    """After revoke_tokens() the gateway answers 401 for the old token."""
    token = wire.token()
    assert wire.gateway_chat(chat_body(), token=token).status == 200
    sim.revoke_tokens()
    out = wire.gateway_chat(chat_body(), token=token)
    assert out.status == 401
    assert out.json() == {
        "error": {"code": "401", "message": "Access denied due to invalid or expired token."}
    }


def test_stats_over_http(sim: Simulator, wire: WireClient) -> None:
    """stats() counts requests, responses, grants, faults and correlationIds."""
    sim.reset_stats()
    sim.inject("nvidia-nim", "N1")
    wire.nim_chat({"model": NIM_MODEL, **chat_body()})
    wire.nim_chat({"model": NIM_MODEL, **chat_body()})
    wire.gateway_chat(chat_body(), correlation_id="same")
    wire.gateway_chat(chat_body(), correlation_id="same")
    stats = sim.stats()
    assert stats["requests"]["nvidia-nim"]["chat"] == 2
    assert stats["requests"]["nvidia-gateway"]["chat"] == 2
    assert stats["requests"]["starfleet"]["token"] == 1
    assert stats["responses"]["nvidia-nim"] == {"503": 1, "200": 1}
    assert stats["responses"]["nvidia-gateway"] == {"200": 2}
    assert stats["token_grants"] == 1
    assert stats["faults_injected"]["nvidia-nim"] == {"N1": 1}
    assert stats["faults_fired"]["nvidia-nim"] == {"N1": 1}
    assert stats["correlation_ids"] == {"seen": 2, "duplicates": 1}
    assert stats["in_flight_max"]["nvidia-nim"] == 1
    over_http = wire.send("GET", sim.url + "/__sim/stats").json()
    assert over_http == sim.stats()


def test_inject_over_http(sim: Simulator, wire: WireClient) -> None:
    """POST /__sim/inject drives a standalone simulator."""
    spec = {"provider": "nvidia-gateway", "fault": "X2", "times": 2}
    assert wire.send("POST", sim.url + "/__sim/inject", json=spec).status == 200
    assert [wire.gateway_chat(chat_body()).status for _ in range(3)] == [404, 404, 200]
    bad = wire.send("POST", sim.url + "/__sim/inject", json={"provider": "x", "fault": "N1"})
    assert bad.status == 400
    assert "unknown provider" in bad.json()["error"]


def test_rate_limited_profile_over_http(make_wire: Callable[..., WireClient]) -> None:
    """rate-limited: past 40 NIM requests in the window, 429s without Retry-After."""
    with Simulator("rate-limited", seed=1, time_scale=0) as sim:
        wire = make_wire(sim)
        outs = [wire.nim_chat({"model": NIM_MODEL, **chat_body(f"q{i}")}) for i in range(43)]
    assert [o.status for o in outs] == [200] * 40 + [429] * 3
    assert "retry-after" not in outs[-1].headers


async def test_hundred_concurrent_requests() -> None:
    """100 concurrent requests all succeed and in_flight_max sees the overlap."""
    with Simulator(seed=3, time_scale=0.02) as sim:
        env = sim.env()
        headers = {"Authorization": f"Bearer {env['NVIDIA_NIM_API_KEY']}"}
        url = env["NVIDIA_NIM_BASE_URL"] + "/chat/completions"
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        url, headers=headers, json={"model": NIM_MODEL, **chat_body(f"p{i}")}
                    )
                    for i in range(100)
                )
            )
        stats = sim.stats()
    assert [r.status_code for r in responses] == [200] * 100
    assert len({r.headers["nvcf-reqid"] for r in responses}) == 100
    assert stats["requests"]["nvidia-nim"]["chat"] == 100
    assert stats["in_flight_max"]["nvidia-nim"] >= 20


def test_keep_alive_requests_are_not_delayed(sim: Simulator, wire: WireClient) -> None:
    """Sequential requests on one connection take ~1 ms, not a 40 ms delayed-ACK stall."""
    body = {"model": NIM_MODEL, **chat_body()}
    wire.nim_chat(body)
    started = time.perf_counter()
    for _ in range(30):
        assert wire.nim_chat(body).status == 200
    assert time.perf_counter() - started < 0.6  # ~1.3 s without TCP_NODELAY


# ------------------------------------------------------------------------ latency


def _twin_plan(sim_seed: int, time_scale: float, body: dict[str, Any]) -> Any:
    """The plan an identical core would make for the first occurrence of `body`."""
    core = SimCore(PROFILES["healthy"], seed=sim_seed, time_scale=time_scale)
    req = SimRequest(
        "POST",
        "/nim/v1/chat/completions",
        headers={"authorization": f"Bearer {core.credentials.nim_api_key}"},
        body=json.dumps(body).encode(),
    )
    return core.handle(req)


def test_latency_is_served_as_planned() -> None:
    """A small time_scale makes real, bounded delays: JSON waits the whole latency."""
    body = {"model": NIM_MODEL, **chat_body("Explain write-ahead logging")}
    plan = _twin_plan(5, 0.05, body)
    assert 0.005 < plan.delay_s < 1.0
    with Simulator(seed=5, time_scale=0.05) as sim, httpx.Client(timeout=10) as client:
        wire = WireClient(sim, client)
        started = time.perf_counter()
        out = wire.nim_chat(body)
        elapsed = time.perf_counter() - started
    assert out.status == 200
    assert elapsed >= plan.delay_s * 0.9
    assert elapsed < plan.delay_s + 2.0


def test_stream_latency_first_byte_then_chunks() -> None:
    """Streams send headers after ttft, then spread the chunks out."""
    body = {"model": NIM_MODEL, **chat_body("Explain write-ahead logging", stream=True)}
    plan = _twin_plan(5, 0.2, body)
    assert plan.chunks is not None
    spread = sum(delay for delay, _ in plan.chunks)
    with Simulator(seed=5, time_scale=0.2) as sim, httpx.Client(timeout=10) as client:
        env = sim.env()
        started = time.perf_counter()
        with client.stream(
            "POST",
            env["NVIDIA_NIM_BASE_URL"] + "/chat/completions",
            headers={"Authorization": f"Bearer {env['NVIDIA_NIM_API_KEY']}"},
            json=body,
        ) as response:
            first = time.perf_counter() - started
            response.read()
        total = time.perf_counter() - started
    assert first >= plan.delay_s * 0.9
    assert total - first >= spread * 0.8
    assert total < plan.delay_s + spread + 2.0


# ------------------------------------------------------------------------ lifecycle


def test_public_names() -> None:
    """nvgw_nb.sim exports a sorted, complete __all__."""
    import nvgw_nb.sim as sim_pkg

    assert sim_pkg.__all__ == sorted(sim_pkg.__all__)
    assert set(sim_pkg.__all__) == {
        "FAULT_IDS",
        "PROFILES",
        "Profile",
        "Simulator",
        "SocketFault",
        "SocketFaultServer",
    }
    assert set(PROFILES) == {
        "healthy",
        "flaky-nim",
        "nim-down",
        "gateway-down",
        "slow-nim",
        "rate-limited",
    }


def test_stop_is_prompt_with_a_stalled_request() -> None:
    """stop() returns quickly even while a request is stalled."""
    sim = Simulator(seed=1, time_scale=0).start()
    result: dict[str, Any] = {}

    def call() -> None:
        wire = WireClient(sim, httpx.Client(timeout=30))
        result["out"] = wire.nim_chat({"model": NIM_MODEL, **chat_body()})
        wire.client.close()

    sim.inject("nvidia-nim", "C2")
    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while sim.stats()["requests"]["nvidia-nim"]["chat"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    thread.join(10)
    assert time.monotonic() - started < 5
    assert result["out"].status != 200


def test_intentional_aborts_do_not_log_tracebacks(
    sim: Simulator, wire: WireClient, caplog: pytest.LogCaptureFixture
) -> None:
    """C3 cuts the connection without an 'Exception in ASGI application' record."""
    caplog.set_level(logging.DEBUG, logger="uvicorn.error")
    sim.inject("nvidia-nim", "C3")
    out = wire.nim_chat({"model": NIM_MODEL, **chat_body()})
    assert out.error is httpx.RemoteProtocolError
    time.sleep(0.05)  # let the server thread finish logging, if it were to log
    assert not [r for r in caplog.records if r.exc_info]


def test_start_stop_idempotent_and_context_manager() -> None:
    """start()/stop() twice are harmless; `with` starts and stops."""
    sim = Simulator(seed=0, time_scale=0)
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.url
    assert sim.start() is sim
    url = sim.url
    assert sim.start().url == url
    sim.stop()
    sim.stop()
    with pytest.raises(RuntimeError):
        sim.env()
    with Simulator(time_scale=0) as running:
        stats_url = running.url + "/__sim/stats"
        assert httpx.get(stats_url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(stats_url)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "nope"}, "profile: unknown profile 'nope'; valid profiles: flaky-nim"),
        ({"time_scale": -1}, "time_scale"),
        ({"time_scale": float("nan")}, "time_scale"),
        ({"host": "192.0.2.1"}, "host"),
        ({"host": "example.com"}, "host"),
        ({"token_lifetime": 0}, "token_lifetime"),
        ({"seed": "1"}, "seed"),
        ({"port": 70000}, "port"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Bad constructor input names the argument."""
    with pytest.raises(ValueError, match=message):
        Simulator(**kwargs)


def test_env_urls_and_exports(sim: Simulator) -> None:
    """env() has exactly the seed's and vendors' variables; export_lines() round-trips."""
    env = sim.env()
    url = sim.url
    assert url.startswith("http://127.0.0.1:")
    assert env == {
        "NVIDIA_NIM_API_KEY": env["NVIDIA_NIM_API_KEY"],
        "NVIDIA_NIM_BASE_URL": f"{url}/nim/v1",
        "NVIDIA_LLM_GATEWAY_ENABLED": "true",
        "STARFLEET_ID": env["STARFLEET_ID"],
        "STARFLEET_SECRET": env["STARFLEET_SECRET"],
        "STARFLEET_TOKEN_URL": f"{url}/starfleet/token",
        "LLM_GATEWAY_BASE_URL": f"{url}/llm/v1/azure",
        "LLM_GATEWAY_API_VERSION": "2024-12-01-preview",
        "LLM_GATEWAY_MODEL": "gpt-4o-mini",
        "NVGW_NVCF_STATUS_URL": f"{url}/nvcf/v2/nvcf/pexec/status",
        "OPENAI_API_KEY": env["OPENAI_API_KEY"],
        "OPENAI_BASE_URL": f"{url}/openai/v1",
        "ANTHROPIC_API_KEY": env["ANTHROPIC_API_KEY"],
        "ANTHROPIC_BASE_URL": f"{url}/anthropic",
        "GOOGLE_API_KEY": env["GOOGLE_API_KEY"],
        "NVGW_GOOGLE_BASE_URL": f"{url}/google",
    }
    assert env["NVIDIA_NIM_API_KEY"].startswith("nvapi-sim-")
    assert env["STARFLEET_ID"].startswith("sim-client-")
    assert sim.url_for("nvidia-nim") == env["NVIDIA_NIM_BASE_URL"]
    assert sim.url_for("nvidia-gateway") == env["LLM_GATEWAY_BASE_URL"]
    assert sim.url_for("starfleet") == env["STARFLEET_TOKEN_URL"]
    with pytest.raises(ValueError, match="provider"):
        sim.url_for("azure-openai")
    parsed = {}
    for line in sim.export_lines().splitlines():
        words = shlex.split(line)
        assert words[0] == "export"
        name, _, value = words[1].partition("=")
        parsed[name] = value
    assert parsed == env


def test_credentials_are_per_instance_and_never_in_repr(sim: Simulator) -> None:
    """Each Simulator makes its own credentials; repr shows profile, seed and url only."""
    other = Simulator(seed=7)
    assert repr(other) == "Simulator(profile='healthy', seed=7, url=None)"
    with other:
        for name in ("NVIDIA_NIM_API_KEY", "STARFLEET_SECRET", "STARFLEET_ID"):
            assert other.env()[name] != sim.env()[name]
    text = repr(sim)
    assert text == f"Simulator(profile='healthy', seed=7, url='{sim.url}')"
    for name in ("NVIDIA_NIM_API_KEY", "STARFLEET_SECRET", "STARFLEET_ID"):
        assert sim.env()[name] not in text


def test_custom_profile_object(make_wire: Callable[..., WireClient]) -> None:
    """A Profile instance can be passed instead of a name."""
    profile = Profile("always-empty", fault_rates={"nvidia-nim": {"E1": 1.0}})
    with Simulator(profile, time_scale=0) as sim:
        assert sim.profile is profile
        out = make_wire(sim, "transport").nim_chat({"model": NIM_MODEL, **chat_body()})
    assert out.json()["choices"][0]["message"]["content"] == ""


def test_session_uses_env(sim: Simulator) -> None:
    """session() is a real Session on this simulator's env, marked simulated."""
    with sim.session(llm_gateway_model="gpt-4o") as session:
        assert session.simulator is sim
        assert session.simulated
        assert session.settings.nvidia_nim_base_url == sim.env()["NVIDIA_NIM_BASE_URL"]
        assert session.settings.llm_gateway_model == "gpt-4o"
        assert session.chat("hi").simulated
