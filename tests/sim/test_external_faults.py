"""Every fault id on the OpenAI, Anthropic and Gemini routes, in each provider's real shape.

Each case runs over loopback HTTP and over `transport()`, JSON and SSE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nvgw_nb.sim import FAULT_IDS, Profile, Simulator

from .conftest import EXTERNAL_PROVIDERS, Outcome, WireClient, parse_named_sse, parse_sse
from .native import (
    FILTER_FINISH,
    LENGTH_FINISH,
    NORMAL_FINISH,
    TOOL_FINISH,
    answer_of,
    ask,
    gemini_responses,
)

ADAPTERS = ["server", "transport"]


def error_body(provider: str, out: Outcome) -> dict[str, Any]:
    """The provider's error object: `error` of OpenAI/Gemini, the Anthropic envelope."""
    body = out.json()
    if provider == "anthropic":
        assert body["type"] == "error"
        assert body["request_id"] == out.headers["request-id"]
        return dict(body["error"])
    return dict(body["error"])


def expect_error(provider: str, out: Outcome, allowed: dict[int, str]) -> None:
    """Status is one of `allowed` and the body names the matching type / status / code."""
    assert out.status in allowed, (out.status, out.body[:200])
    err = error_body(provider, out)
    expected = allowed[out.status]
    if provider == "openai":
        assert expected in (err["type"], err["code"])
        assert set(err) == {"message", "type", "param", "code"}
    elif provider == "anthropic":
        assert err["type"] == expected
    else:
        assert err["status"] == expected
        assert err["code"] == out.status


def expect_cut(provider: str, out: Outcome, stream: bool, content_seen: bool | None) -> None:
    """A connection reset after the headers, and no clean end of the answer."""
    assert out.error is httpx.RemoteProtocolError
    assert out.status == 200
    if not stream:
        with pytest.raises(json.JSONDecodeError):
            json.loads(out.body)
        return
    if content_seen is None:
        return
    if provider == "anthropic":
        events = parse_named_sse(out.body)
        assert "message_stop" not in [name for name, _ in events]
        deltas = [d for n, d in events if n == "content_block_delta"]
        assert bool(deltas) is content_seen
    else:
        events = parse_sse(out.body)
        assert "[DONE]" not in events
        objects = [e for e in events if isinstance(e, dict)]
        if provider == "google-genai":
            assert not any(c.get("finishReason") for e in objects for c in e.get("candidates", []))
            assert bool(objects) is content_seen
        else:
            text = "".join(
                (c.get("delta") or {}).get("content") or ""
                for e in objects
                for c in e.get("choices") or []
            )
            assert bool(text) is content_seen


def expect_b3(provider: str, out: Outcome, stream: bool) -> None:
    """A 200 without the answer's main field, or with an error object."""
    assert out.status == 200
    main = {"openai": "choices", "anthropic": "content", "google-genai": "candidates"}[provider]
    if not stream:
        body = out.json()
        assert main not in body
        if provider == "anthropic" and body.get("type") == "error":
            assert body["error"]["type"] == "api_error"
        return
    if provider == "anthropic":
        events = parse_named_sse(out.body)
        names = [name for name, _ in events]
        assert "content_block_delta" not in names
        assert "error" in names or "content" not in events[0][1]["message"]
        return
    objects = [e for e in parse_sse(out.body) if isinstance(e, dict)]
    assert any("error" in e for e in objects) or not any(main in e for e in objects)


def check(fault: str, provider: str, stream: bool, out: Outcome) -> None:
    """What a client must observe for `fault` on an external provider (FAULTS.md, WIRE.md)."""
    if fault != "C2":
        assert out.headers.get("x-nvgw-simulator") == "1"
        if provider == "openai":
            assert out.headers["x-request-id"].startswith("req_")
        elif provider == "anthropic":
            assert out.headers["request-id"].startswith("req_011C")
    if fault == "N1":
        allowed = {
            "openai": {500: "server_error", 503: "server_error"},
            "anthropic": {529: "overloaded_error", 500: "api_error"},
            "google-genai": {503: "UNAVAILABLE"},
        }
        expect_error(provider, out, allowed[provider])
    elif fault in ("R1", "R2"):
        expected = {"openai": "rate_limit_exceeded", "anthropic": "rate_limit_error"}
        expect_error(provider, out, {429: expected.get(provider, "RESOURCE_EXHAUSTED")})
        if provider == "google-genai":
            assert "retry-after" not in out.headers
            (retry,) = [
                d for d in error_body(provider, out)["details"] if "RetryInfo" in d["@type"]
            ]
            assert retry["retryDelay"] == "0s"  # time_scale=0
        else:
            assert out.headers["retry-after"] == "0"
            assert ("retry-after-ms" in out.headers) is (fault == "R2")
    elif fault == "C2":
        assert out.error is httpx.ReadTimeout
    elif fault in ("C3", "S1", "S2"):
        expect_cut(provider, out, stream, {"C3": None, "S1": False, "S2": True}[fault])
    elif fault == "B1":
        assert (out.status, out.error) == (200, None)
        if not stream:
            with pytest.raises(json.JSONDecodeError):
                json.loads(out.body)
        elif provider == "anthropic":
            assert any(isinstance(data, str) for _, data in parse_named_sse(out.body))
        else:
            assert any(isinstance(e, str) and e != "[DONE]" for e in parse_sse(out.body))
    elif fault == "B2":
        assert out.status == 200
        assert out.headers["content-type"].startswith("text/html")
    elif fault == "B3":
        expect_b3(provider, out, stream)
    elif fault == "B4":
        answer = answer_of(provider, out, stream)
        if provider == "google-genai":
            assert (answer["finish"], answer["tool_calls"]) == ("MALFORMED_FUNCTION_CALL", [])
        else:
            assert answer["finish"] == TOOL_FINISH[provider]
            (call,) = answer["tool_calls"]
            with pytest.raises(json.JSONDecodeError):
                json.loads(call["arguments"])
    elif fault == "B5":
        answer = answer_of(provider, out, stream)
        (call,) = answer["tool_calls"]
        assert call["name"] == "run_shell_command"
        assert isinstance(json.loads(call["arguments"]), dict)
    elif fault == "B6":
        answer = answer_of(provider, out, stream)
        assert answer["finish"] == NORMAL_FINISH[provider]
        with pytest.raises(json.JSONDecodeError):
            json.loads(answer["content"])
    elif fault == "E1":
        answer = answer_of(provider, out, stream)
        assert (answer["content"], answer["tool_calls"]) == ("", [])
        assert answer["finish"] == NORMAL_FINISH[provider]
    elif fault == "E2":
        answer = answer_of(provider, out, stream)
        assert answer["finish"] == LENGTH_FINISH[provider]
        assert answer["content"]
    elif fault == "E3":
        assert answer_of(provider, out, stream)["finish"] == FILTER_FINISH[provider]
    elif fault == "X1":
        expected = {"openai": "invalid_request_error", "anthropic": "invalid_request_error"}
        expect_error(provider, out, {400: expected.get(provider, "INVALID_ARGUMENT")})
    elif fault == "X2":
        expected = {"openai": "model_not_found", "anthropic": "not_found_error"}
        expect_error(provider, out, {404: expected.get(provider, "NOT_FOUND")})
    elif fault == "X3":
        allowed = {
            "openai": {400: "context_length_exceeded"},
            "anthropic": {400: "invalid_request_error", 413: "request_too_large"},
            "google-genai": {400: "INVALID_ARGUMENT"},
        }
        expect_error(provider, out, allowed[provider])
    elif fault == "X4":
        allowed = {
            "openai": {401: "invalid_request_error", 403: "request_forbidden"},
            "anthropic": {401: "authentication_error", 403: "permission_error"},
            "google-genai": {403: "PERMISSION_DENIED", 400: "INVALID_ARGUMENT"},
        }
        expect_error(provider, out, allowed[provider])
    else:  # pragma: no cover - the table lists every id
        pytest.fail(f"no expectation for {fault}")


CASES = [
    pytest.param(provider, fault, stream, id=f"{provider}-{fault}-{'sse' if stream else 'json'}")
    for provider in EXTERNAL_PROVIDERS
    for fault in FAULT_IDS[provider]
    for stream in (False, True)
]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(("provider", "fault", "stream"), CASES)
def test_external_fault(
    shared_sim: Simulator,
    make_wire: Callable[..., WireClient],
    adapter: str,
    provider: str,
    fault: str,
    stream: bool,
) -> None:
    """Each injected fault gives the provider's real shape, over HTTP and MockTransport."""
    wire = make_wire(shared_sim, adapter, timeout=0.3 if fault == "C2" else 10)
    before = shared_sim.stats()["faults_fired"][provider].get(fault, 0)
    shared_sim.inject(provider, fault)
    out = ask(wire, provider, stream=stream)
    check(fault, provider, stream, out)
    assert shared_sim.stats()["faults_fired"][provider][fault] == before + 1


@pytest.mark.parametrize("provider", EXTERNAL_PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_b4_b5_with_declared_tools(
    sim: Simulator, wire: WireClient, provider: str, stream: bool
) -> None:
    """With tools declared, B4 breaks the arguments of the declared tool, B5 names another."""
    sim.inject(provider, "B4")
    sim.inject(provider, "B5")
    broken = answer_of(
        provider, ask(wire, provider, "Weather in Lyon?", stream=stream, tools=True), stream
    )
    renamed = answer_of(
        provider, ask(wire, provider, "Weather in Lyon?", stream=stream, tools=True), stream
    )
    if provider == "google-genai":
        assert broken["finish"] == "MALFORMED_FUNCTION_CALL"
    else:
        assert broken["tool_calls"][0]["name"] == "get_weather"
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken["tool_calls"][0]["arguments"])
    (call,) = renamed["tool_calls"]
    assert call["name"] != "get_weather"
    assert json.loads(call["arguments"])["city"] == "Lyon"


def test_anthropic_b4_input_is_a_string_of_broken_json(sim: Simulator, wire: WireClient) -> None:
    """Anthropic B4 without streaming: `input` is a JSON string holding broken JSON."""
    sim.inject("anthropic", "B4")
    block = ask(wire, "anthropic", "Weather in Lyon?", tools=True).json()["content"][0]
    assert block["type"] == "tool_use"
    assert isinstance(block["input"], str)
    with pytest.raises(json.JSONDecodeError):
        json.loads(block["input"])


def test_gemini_b4_has_no_function_call(sim: Simulator, wire: WireClient) -> None:
    """Gemini B4: finishReason MALFORMED_FUNCTION_CALL and no functionCall part."""
    sim.inject("google-genai", "B4")
    (candidate,) = ask(wire, "google-genai", "Weather in Lyon?", tools=True).json()["candidates"]
    assert candidate["finishReason"] == "MALFORMED_FUNCTION_CALL"
    assert "functionCall" not in json.dumps(candidate)


@pytest.mark.parametrize("provider", EXTERNAL_PROVIDERS)
def test_b3_alternates(sim: Simulator, wire: WireClient, provider: str) -> None:
    """B3 alternates a 200 without the main field and a 200 carrying an error object."""
    sim.inject(provider, "B3", times=2)
    first, second = (ask(wire, provider).json() for _ in range(2))
    main = {"openai": "choices", "anthropic": "content", "google-genai": "candidates"}[provider]
    assert main not in first
    assert "error" not in first
    assert "error" in second
    assert main not in second


@pytest.mark.parametrize(
    ("provider", "statuses"),
    [("openai", [500, 503]), ("anthropic", [529, 500]), ("google-genai", [503, 503])],
)
def test_n1_variants(sim: Simulator, wire: WireClient, provider: str, statuses: list[int]) -> None:
    """N1 alternates each provider's outage statuses."""
    sim.inject(provider, "N1", times=2)
    assert [ask(wire, provider).status for _ in range(2)] == statuses


@pytest.mark.parametrize(
    ("provider", "fault", "time_scale", "expected"),
    [
        ("openai", "R1", 1.0, {"retry-after": "1"}),
        ("openai", "R1", 0.01, {"retry-after": "0.01"}),
        ("openai", "R2", 1.0, {"retry-after-ms": "200", "retry-after": "30"}),
        ("openai", "R2", 0.01, {"retry-after-ms": "2", "retry-after": "0.3"}),
        ("anthropic", "R1", 1.0, {"retry-after": "1"}),
        ("anthropic", "R2", 1.0, {"retry-after-ms": "200", "retry-after": "30"}),
        ("anthropic", "R2", 0.25, {"retry-after-ms": "50", "retry-after": "7.5"}),
    ],
)
def test_retry_after_headers(
    provider: str, fault: str, time_scale: float, expected: dict[str, str]
) -> None:
    """Retry hints are scaled by time_scale; R2 sends ms plus a larger seconds value."""
    with Simulator(seed=1, time_scale=time_scale) as sim:
        sim.inject(provider, fault)
        with httpx.Client(transport=sim.transport()) as client:
            out = ask(WireClient(sim, client), provider)
    assert out.status == 429
    got = {k: v for k, v in out.headers.items() if k in ("retry-after", "retry-after-ms")}
    assert got == expected


@pytest.mark.parametrize(("time_scale", "delay"), [(1.0, "1s"), (0.37, "0.37s"), (0.0, "0s")])
def test_gemini_r1_retry_info(time_scale: float, delay: str) -> None:
    """Gemini R1: RetryInfo.retryDelay in the body, scaled; no Retry-After header."""
    with Simulator(seed=1, time_scale=time_scale) as sim:
        sim.inject("google-genai", "R1")
        with httpx.Client(transport=sim.transport()) as client:
            out = ask(WireClient(sim, client), "google-genai")
    assert out.status == 429
    assert "retry-after" not in out.headers
    details = out.json()["error"]["details"]
    types = [d["@type"].rsplit(".", 1)[1] for d in details]
    assert types == ["QuotaFailure", "Help", "RetryInfo"]
    assert details[-1]["retryDelay"] == delay


def test_gemini_r2_does_not_apply() -> None:
    """R2 (retry-after-ms) has no Gemini form: inject refuses it."""
    sim = Simulator(time_scale=0)
    with pytest.raises(ValueError, match="does not apply to provider 'google-genai'"):
        sim.inject("google-genai", "R2")


def test_faults_on_the_gemini_array_stream(sim: Simulator, wire: WireClient) -> None:
    """Errors, B1 and S2 on Gemini's array-framed stream (errors come wrapped in an array)."""
    body = {"contents": [{"role": "user", "parts": [{"text": "Explain retry budgets"}]}]}
    sim.inject("google-genai", "N1")
    out = wire.google(body, stream=True, alt=None)
    assert out.status == 503
    assert out.json()[0]["error"]["status"] == "UNAVAILABLE"
    sim.inject("google-genai", "B1")
    broken = wire.google(body, stream=True, alt=None)
    assert broken.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.body)
    sim.inject("google-genai", "S2")
    cut = wire.google(body, stream=True, alt=None)
    assert cut.error is httpx.RemoteProtocolError
    assert cut.body.startswith(b"[")
    assert len(gemini_responses(wire.google(body, stream=True, alt=None), True)) > 1


def test_external_down_profile_answers_outage_status() -> None:
    """A custom profile can take an external provider down: 503 / 529 / 503 every time."""
    profile = Profile("all-external-down", down=frozenset(EXTERNAL_PROVIDERS))
    with Simulator(profile, time_scale=0) as sim, httpx.Client(transport=sim.transport()) as client:
        wire = WireClient(sim, client)
        statuses = {p: {ask(wire, p, f"q{i}").status for i in range(4)} for p in EXTERNAL_PROVIDERS}
    assert statuses == {"openai": {503}, "anthropic": {529}, "google-genai": {503}}
