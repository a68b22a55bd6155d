"""SimCore: request -> response plan, without any HTTP (no sleeping, injected clock)."""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

import nvgw_nb
from nvgw_nb.sim import FAULT_IDS, PROFILES, Profile
from nvgw_nb.sim.content import compose_answer
from nvgw_nb.sim.core import SimCore, SimCredentials, SimRequest, SimResponse

from .conftest import NIM_MODEL, WEATHER_TOOL, chat_body, parse_sse, stream_text, stream_tool_calls

GATEWAY_PATH = "/llm/v1/azure/openai/deployments/{}/chat/completions"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_core(profile: str | Profile = "healthy", **kwargs: Any) -> SimCore:
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    kwargs.setdefault("time_scale", 0.0)
    return SimCore(prof, **kwargs)


def basic(core: SimCore, encode: bool = True) -> str:
    cid, secret = core.credentials.client_id, core.credentials.client_secret
    if encode:
        cid, secret = urllib.parse.quote_plus(cid), urllib.parse.quote_plus(secret)
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


def token_req(
    core: SimCore,
    *,
    auth: str | None = None,
    body: bytes = b"grant_type=client_credentials&scope=azureopenai-readwrite",
) -> SimRequest:
    headers = {"authorization": auth if auth is not None else basic(core)}
    return SimRequest("POST", "/starfleet/token", headers=headers, body=body)


def issue_token(core: SimCore) -> str:
    resp = core.handle(token_req(core))
    assert resp.status == 200
    return str(json.loads(resp.body)["access_token"])


def nim_req(core: SimCore, body: Any, *, key: str | None = None) -> SimRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    auth = f"Bearer {key if key is not None else core.credentials.nim_api_key}"
    return SimRequest("POST", "/nim/v1/chat/completions", headers={"authorization": auth}, body=raw)


def nim_chat(core: SimCore, prompt: str = "Explain retry budgets", **extra: Any) -> SimResponse:
    return core.handle(nim_req(core, {"model": NIM_MODEL, **chat_body(prompt, **extra)}))


def gw_req(
    core: SimCore,
    body: Any,
    *,
    token: str | None = None,
    deployment: str = "gpt-4o-mini",
    api_version: str | None = "2024-12-01-preview",
    correlation_id: str | None = None,
) -> SimRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {token if token is not None else issue_token(core)}"}
    headers["correlationid"] = correlation_id or str(uuid.uuid4())
    query = {"api-version": api_version} if api_version is not None else {}
    return SimRequest("POST", GATEWAY_PATH.format(deployment), query, headers, raw)


def payload(resp: SimResponse) -> bytes:
    if resp.chunks is not None:
        return b"".join(data for _, data in resp.chunks)
    return resp.body


def doc(resp: SimResponse) -> Any:
    return json.loads(payload(resp))


def header(resp: SimResponse, name: str) -> str | None:
    return next((v for k, v in resp.headers if k.lower() == name), None)


# ------------------------------------------------------------------------ starfleet


def test_token_grant_shape() -> None:
    """A correct client gets a bearer token with an integer lifetime."""
    core = make_core()
    resp = core.handle(token_req(core))
    body = doc(resp)
    assert resp.status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert isinstance(body["expires_in"], int)
    assert len(body["access_token"]) >= 32


def test_token_lifetime_fraction_is_a_float() -> None:
    """Sub-second lifetimes are reported as floats."""
    core = make_core(token_lifetime=0.2)
    assert doc(core.handle(token_req(core)))["expires_in"] == 0.2


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("wrong secret", 401, "invalid_client"),
        ("no header", 401, "invalid_client"),
        ("not form-encoded, form-strict", 401, "invalid_client"),
        ("not base64", 401, "invalid_client"),
        ("bad scope", 400, "invalid_scope"),
        ("no scope", 400, "invalid_scope"),
        ("bad grant", 400, "unsupported_grant_type"),
    ],
)
def test_token_errors(case: str, status: int, error: str) -> None:
    """OAuth2 errors per RFC 6749 section 5.2."""
    core = make_core(token_auth="form") if "strict" in case else make_core()
    body = b"grant_type=client_credentials&scope=azureopenai-readwrite"
    auth: str | None = None
    if case == "wrong secret":
        wrong = f"{core.credentials.client_id}:nope".encode()
        auth = "Basic " + base64.b64encode(wrong).decode()
    elif case == "no header":
        auth = ""
    elif case == "not form-encoded, form-strict":
        auth = basic(core, encode=False)
    elif case == "not base64":
        auth = "Basic !!!"
    elif case == "bad scope":
        body = b"grant_type=client_credentials&scope=openid"
    elif case == "no scope":
        body = b"grant_type=client_credentials"
    elif case == "bad grant":
        body = b"grant_type=password&scope=azureopenai-readwrite"
    resp = core.handle(token_req(core, auth=auth, body=body))
    assert resp.status == status
    assert doc(resp)["error"] == error
    assert doc(resp)["error_description"]
    if status == 401:
        assert header(resp, "www-authenticate") == 'Basic realm="starfleet"'


def test_credentials_need_form_encoding_and_hide_in_repr() -> None:
    """The secret changes under form-encoding, and no repr shows a credential."""
    creds = SimCredentials.generate()
    assert urllib.parse.quote_plus(creds.client_secret) != creds.client_secret
    assert "+" in creds.client_secret
    assert creds.client_id.startswith("sim-client-")
    assert creds.nim_api_key.startswith("nvapi-sim-")
    assert SimCredentials.generate() != creds
    for text in (repr(creds), str(creds)):
        assert creds.client_secret not in text
        assert creds.nim_api_key not in text


def test_token_expires_on_the_injected_clock() -> None:
    """A token is accepted until `token_lifetime` has passed on the sim's clock."""
    clock = FakeClock()
    core = make_core(token_lifetime=0.2, clock=clock)
    token = issue_token(core)
    assert core.handle(gw_req(core, chat_body(), token=token)).status == 200
    clock.now += 0.19
    assert core.handle(gw_req(core, chat_body(), token=token)).status == 200
    clock.now += 0.02
    resp = core.handle(gw_req(core, chat_body(), token=token))
    assert resp.status == 401
    assert doc(resp)["error"]["code"] == "401"
    assert core.stats()["tokens_rejected"] == 1


def test_time_scale_does_not_change_token_lifetime() -> None:
    """Token expiry is not scaled by time_scale."""
    clock = FakeClock()
    core = make_core(token_lifetime=10, clock=clock, time_scale=0.01)
    token = issue_token(core)
    clock.now += 5
    assert core.handle(gw_req(core, chat_body(), token=token)).status == 200


def test_revoke_tokens() -> None:
    """Revoked tokens are refused; a new grant works."""
    core = make_core()
    token = issue_token(core)
    core.revoke_tokens()
    assert core.handle(gw_req(core, chat_body(), token=token)).status == 401
    assert core.handle(gw_req(core, chat_body())).status == 200
    assert core.stats()["token_grants"] == 2


# ------------------------------------------------------------------------ gateway


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("no token", 401, "invalid or expired token"),
        ("foreign token", 401, "invalid or expired token"),
        ("no api-version", 400, "api-version"),
        ("old api-version", 400, "api-version"),
        ("no correlationId", 400, "correlationId"),
        ("unknown deployment", 404, "DeploymentNotFound"),
        ("not json", 400, "parse the JSON body"),
        ("no messages", 400, "messages"),
        ("max_tokens 0", 400, "max_tokens"),
        ("temperature 2.5", 400, "temperature"),
    ],
)
def test_gateway_request_errors(case: str, status: int, needle: str) -> None:
    """The gateway checks token, api-version, correlationId, deployment and body."""
    core = make_core()
    token = issue_token(core)
    body: Any = chat_body()
    kwargs: dict[str, Any] = {"token": token}
    if case == "no token":
        kwargs["token"] = ""
    elif case == "foreign token":
        kwargs["token"] = "not-issued-here"
    elif case == "no api-version":
        kwargs["api_version"] = None
    elif case == "old api-version":
        kwargs["api_version"] = "2022-12-01"
    elif case == "unknown deployment":
        kwargs["deployment"] = "gpt-5"
    elif case == "not json":
        body = b"{nope"
    elif case == "no messages":
        body = {"messages": []}
    elif case == "max_tokens 0":
        body = chat_body(max_tokens=0)
    elif case == "temperature 2.5":
        body = chat_body(temperature=2.5)
    req = gw_req(core, body, **kwargs)
    if case == "no correlationId":
        del req.headers["correlationid"]
    resp = core.handle(req)
    assert resp.status == status
    assert "error" in doc(resp)
    assert needle in payload(resp).decode()
    assert header(resp, "apim-request-id")


def test_gateway_success_shape() -> None:
    """Azure adds filter results, names the underlying model and sends APIM headers."""
    core = make_core()
    for deployment, model in (
        ("gpt-4o", "gpt-4o-2024-11-20"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ):
        resp = core.handle(gw_req(core, {"model": "ignored", **chat_body()}, deployment=deployment))
        body = doc(resp)
        assert resp.status == 200
        assert body["model"] == model
        assert body["object"] == "chat.completion"
        assert body["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
            "filtered": False,
            "detected": False,
        }
        choice = body["choices"][0]
        assert choice["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
        assert choice["finish_reason"] == "stop"
        assert choice["message"]["role"] == "assistant"
        assert choice["message"]["content"]
        for name in ("apim-request-id", "x-request-id", "x-ms-region"):
            assert header(resp, name)
        assert int(header(resp, "x-ratelimit-remaining-requests") or "-1") >= 0


def test_correlation_ids_are_counted() -> None:
    """Seen and duplicate correlationIds show in stats."""
    core = make_core()
    token = issue_token(core)
    for cid in ("a", "b", "a"):
        core.handle(gw_req(core, chat_body(), token=token, correlation_id=cid))
    assert core.stats()["correlation_ids"] == {"seen": 3, "duplicates": 1}


# ------------------------------------------------------------------------ NIM


@pytest.mark.parametrize("key", ["", "nvapi-wrong"])
def test_nim_unauthorized(key: str) -> None:
    """NIM 401: a Bearer challenge header and no JSON body."""
    core = make_core()
    resp = core.handle(nim_req(core, {"model": NIM_MODEL, **chat_body()}, key=key))
    assert resp.status == 401
    assert resp.body == b""
    challenge = header(resp, "www-authenticate") or ""
    assert challenge.startswith('Bearer error="invalid_token", error_description="')


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"not json", "JSON"),
        ({"model": NIM_MODEL}, "messages"),
        ({"model": NIM_MODEL, "messages": []}, "messages"),
        ({"model": NIM_MODEL, **chat_body(max_tokens=0)}, "max_tokens must be at least 1"),
        ({"model": NIM_MODEL, **chat_body(temperature=3)}, "temperature"),
        ({"model": NIM_MODEL, **chat_body(temperature=-0.1)}, "temperature"),
        (chat_body(), "model"),
    ],
)
def test_nim_bad_request_is_vllm_shaped(body: Any, needle: str) -> None:
    """Invalid chat bodies get vLLM's error object."""
    core = make_core()
    resp = core.handle(nim_req(core, body))
    err = doc(resp)
    assert resp.status == 400
    assert err["object"] == "error"
    assert err["type"] == "BadRequestError"
    assert err["code"] == 400
    assert err["param"] is None
    assert needle in err["message"]


def test_nim_unknown_model_is_problem_json() -> None:
    """An unknown model is a platform 404 (RFC 7807)."""
    core = make_core()
    resp = core.handle(nim_req(core, {"model": "meta/llama-9", **chat_body()}))
    assert resp.status == 404
    assert header(resp, "content-type") == "application/problem+json"
    assert doc(resp)["status"] == 404
    assert doc(resp)["title"] == "Not Found"


def test_nim_success_shape() -> None:
    """NIM answers a chat.completion with NVCF headers."""
    core = make_core()
    resp = nim_chat(core)
    body = doc(resp)
    assert resp.status == 200
    uuid.UUID(header(resp, "nvcf-reqid") or "")
    assert header(resp, "nvcf-status") == "fulfilled"
    assert body["model"] == NIM_MODEL
    assert body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["tool_calls"] is None
    assert isinstance(choice["message"]["content"], str)


def test_models_list() -> None:
    """GET /v1/models lists the three NIM chat models and the embedding model, `created`
    constant."""
    core = make_core()
    auth = {"authorization": f"Bearer {core.credentials.nim_api_key}"}
    resp = core.handle(SimRequest("GET", "/nim/v1/models", headers=auth))
    body = doc(resp)
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [
        "meta/llama-4-scout-17b-16e-instruct",
        "meta/llama-4-maverick-17b-128e-instruct",
        "meta/llama-3.3-70b-instruct",
        "nvidia/llama-3.2-nv-embedqa-1b-v2",
    ]
    assert {m["created"] for m in body["data"]} == {735790403}
    assert core.handle(SimRequest("GET", "/nim/v1/models")).status == 401


def test_nvcf_polling_flow() -> None:
    """N2: 202 with a request id, two 202 polls, then the result, then 404."""
    core = make_core()
    core.inject("nvidia-nim", "N2")
    first = nim_chat(core)
    reqid = header(first, "nvcf-reqid") or ""
    assert first.status == 202
    assert first.body == b""
    assert header(first, "nvcf-status") == "in-progress"
    auth = {"authorization": f"Bearer {core.credentials.nim_api_key}"}
    poll = SimRequest("GET", f"/nvcf/v2/nvcf/pexec/status/{reqid}", headers=auth)
    statuses = [core.handle(poll) for _ in range(4)]
    assert [r.status for r in statuses] == [202, 202, 200, 404]
    assert header(statuses[0], "nvcf-status") == "in-progress"
    assert header(statuses[2], "nvcf-status") == "fulfilled"
    assert doc(statuses[2])["choices"][0]["message"]["content"]
    assert header(statuses[3], "content-type") == "application/problem+json"
    unauth = SimRequest("GET", f"/nvcf/v2/nvcf/pexec/status/{reqid}")
    assert core.handle(unauth).status == 401
    assert core.stats()["requests"]["nvidia-nim"]["status"] == 5


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nope", 404),
        ("GET", "/nim/v1/chat/completions", 405),
        ("POST", "/nim/v1/models", 405),
    ],
)
def test_unknown_routes(method: str, path: str, status: int) -> None:
    """Unknown paths are 404, wrong methods 405; both marked simulated."""
    resp = make_core().handle(SimRequest(method, path))
    assert resp.status == status
    assert ("x-nvgw-simulator", "1") in resp.headers


def test_every_response_is_marked_simulated() -> None:
    """Every plan carries `x-nvgw-simulator: 1`."""
    core = make_core()
    core.inject("nvidia-nim", "N1")
    plans = [
        core.handle(token_req(core)),
        core.handle(token_req(core, auth="")),
        nim_chat(core),
        nim_chat(core),
        nim_chat(core, stream=True),
        core.handle(gw_req(core, chat_body())),
        core.handle(gw_req(core, chat_body(), token="x")),
    ]
    for plan in plans:
        assert ("x-nvgw-simulator", "1") in plan.headers


# ------------------------------------------------------------------------ streaming


@pytest.mark.parametrize("provider", ["nvidia-nim", "nvidia-gateway"])
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_event_sequence(provider: str, include_usage: bool) -> None:
    """Role chunk, several content chunks, finish chunk, optional usage chunk, [DONE]."""
    core = make_core()
    extra: dict[str, Any] = {"stream": True}
    if include_usage:
        extra["stream_options"] = {"include_usage": True}
    if provider == "nvidia-nim":
        resp = nim_chat(core, **extra)
    else:
        resp = core.handle(gw_req(core, chat_body(**extra)))
    assert resp.status == 200
    assert (header(resp, "content-type") or "").startswith("text/event-stream")
    events = parse_sse(payload(resp))
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if e["choices"]]
    if provider == "nvidia-gateway":
        assert events[0]["choices"] == []
        assert events[0]["id"] == ""
        assert events[0]["created"] == 0
        assert "prompt_filter_results" in events[0]
        assert all("content_filter_results" in c["choices"][0] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content_chunks = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) >= 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    usage_events = [e for e in events[:-1] if not e["choices"] and "usage" in e]
    if include_usage:
        assert len(usage_events) == 1
        assert usage_events[0]["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks)
    else:
        assert usage_events == []
        assert all("usage" not in c for c in chunks)
    # The stream carries exactly the text of the one-shot answer.
    if provider == "nvidia-nim":
        plain = nim_chat(make_core(), **{k: v for k, v in extra.items() if k != "stream"})
    else:
        plain = core.handle(gw_req(core, chat_body()))
    assert stream_text(events) == doc(plain)["choices"][0]["message"]["content"]


@pytest.mark.parametrize("provider", ["nvidia-nim", "nvidia-gateway"])
def test_stream_tool_call_fragments(provider: str) -> None:
    """Tool calls stream as OpenAI fragments: id/type/name first, then argument pieces."""
    core = make_core()
    extra = {"tools": [WEATHER_TOOL], "stream": True}
    prompt = "What's the weather in Paris?"
    if provider == "nvidia-nim":
        resp = nim_chat(core, prompt, **extra)
    else:
        resp = core.handle(gw_req(core, chat_body(prompt, **extra)))
    events = [e for e in parse_sse(payload(resp)) if e != "[DONE]" and e["choices"]]
    frags = [f for e in events for f in e["choices"][0]["delta"].get("tool_calls") or []]
    assert frags[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert frags[0]["type"] == "function"
    assert frags[0]["id"]
    assert len(frags) >= 3
    assert all(set(f) == {"index", "function"} for f in frags[1:])
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    calls = stream_tool_calls(events)
    args = json.loads(calls[0]["arguments"])
    assert set(args) >= {"city", "unit"}


# ------------------------------------------------------------------------ content


def test_same_seed_same_content_across_cores() -> None:
    """Same seed, provider, model and messages -> byte-identical content."""
    a, b = make_core(seed=5), make_core(seed=5)
    texts = [doc(nim_chat(core))["choices"][0]["message"]["content"] for core in (a, b, a)]
    assert texts[0] == texts[1] == texts[2]


def test_content_varies_with_seed_provider_and_model() -> None:
    """Different seed, provider or model -> different content."""
    messages = chat_body("Compare REST and gRPC for internal microservices")["messages"]
    variants = [
        (0, "nvidia-nim", "meta/llama-4-scout-17b-16e-instruct"),
        (1, "nvidia-nim", "meta/llama-4-scout-17b-16e-instruct"),
        (0, "nvidia-nim", "meta/llama-4-maverick-17b-128e-instruct"),
        (0, "nvidia-nim", "meta/llama-3.3-70b-instruct"),
        (0, "nvidia-gateway", "gpt-4o-2024-11-20"),
        (0, "nvidia-gateway", "gpt-4o-mini-2024-07-18"),
    ]
    texts = [
        compose_answer(seed=s, provider=p, model=m, messages=messages).content
        for s, p, m in variants
    ]
    assert len(set(texts)) == len(texts)
    for text in texts:
        assert text is not None
        assert "REST" in text or "gRPC" in text or "microservices" in text
        assert 1 <= text.count(".") <= 7


def test_content_is_identical_in_another_process() -> None:
    """Content does not depend on PYTHONHASHSEED or the process."""
    code = (
        "from nvgw_nb.sim.content import compose_answer;"
        "print(compose_answer(seed=3, provider='nvidia-nim', model='m',"
        " messages=[{'role': 'user', 'content': 'Plan a database migration'}]).content)"
    )
    here = compose_answer(
        seed=3,
        provider="nvidia-nim",
        model="m",
        messages=[{"role": "user", "content": "Plan a database migration"}],
    ).content
    package_root = os.pathsep.join(
        [str(Path(nvgw_nb.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
    )
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": package_root},
        )
        assert out.stdout.rstrip("\n") == here


def test_max_tokens_cuts_with_length() -> None:
    """A reply longer than max_tokens is cut and finishes with `length`."""
    core = make_core()
    full = doc(nim_chat(core, "Explain consensus algorithms in distributed databases"))
    cut = doc(nim_chat(core, "Explain consensus algorithms in distributed databases", max_tokens=3))
    assert full["choices"][0]["finish_reason"] == "stop"
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] <= 3
    assert full["choices"][0]["message"]["content"].startswith(
        cut["choices"][0]["message"]["content"]
    )


def test_usage_counts() -> None:
    """prompt = ceil(chars/4) + 4 per message; completion from the text; total = sum."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Explain idempotency keys"},
    ]
    core = make_core()
    body = doc(core.handle(nim_req(core, {"model": NIM_MODEL, "messages": messages})))
    usage = body["usage"]
    assert usage["prompt_tokens"] == (3 + 4) + (6 + 4)
    text = body["choices"][0]["message"]["content"]
    assert usage["completion_tokens"] == -(-len(text) // 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("provider", "id_prefix", "id_len"),
    [("nvidia-nim", "chatcmpl-tool-", 46), ("nvidia-gateway", "call_", 29)],
)
def test_tool_call_shape(provider: str, id_prefix: str, id_len: int) -> None:
    """Offered tools and a user turn -> a tool call whose arguments fit the schema."""
    core = make_core()
    extra = {"tools": [WEATHER_TOOL]}
    prompt = "What's the weather in Paris this week?"
    if provider == "nvidia-nim":
        resp = nim_chat(core, prompt, **extra)
    else:
        resp = core.handle(gw_req(core, chat_body(prompt, **extra)))
    choice = doc(resp)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith(id_prefix)
    assert len(call["id"]) == id_len
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    assert args["city"] == "Paris"
    assert args["unit"] in ("celsius", "fahrenheit")
    assert 1 <= args.get("days", 1) <= 7


def test_tool_choice_names_the_tool_or_disables_tools() -> None:
    """tool_choice picks the named tool; "none" answers in text."""
    core = make_core()
    other = {"type": "function", "function": {"name": "search_docs", "parameters": {}}}
    tools = [WEATHER_TOOL, other]
    named = {"type": "function", "function": {"name": "search_docs"}}
    resp = doc(nim_chat(core, "weather in Oslo", tools=tools, tool_choice=named))
    assert resp["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "search_docs"
    plain = doc(nim_chat(core, "weather in Oslo", tools=tools, tool_choice="none"))
    assert plain["choices"][0]["finish_reason"] == "stop"
    assert plain["choices"][0]["message"]["content"]


def test_tool_result_gets_a_text_answer() -> None:
    """After a tool result the model answers in text referring to it."""
    core = make_core()
    messages = [
        {"role": "user", "content": "What's the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
    ]
    body = {"model": NIM_MODEL, "messages": messages, "tools": [WEATHER_TOOL]}
    choice = doc(core.handle(nim_req(core, body)))["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "get_weather" in choice["message"]["content"]
    assert "temp_c is 18" in choice["message"]["content"]


def test_response_format_json_object_and_schema() -> None:
    """response_format yields JSON; json_schema output follows the schema (with $defs)."""
    core = make_core()
    obj = doc(nim_chat(core, "List risks of the rollout", response_format={"type": "json_object"}))
    assert isinstance(json.loads(obj["choices"][0]["message"]["content"]), dict)
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 40},
            "severity": {"enum": ["low", "high"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}, "minItems": 2},
            "owner": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["title", "severity", "score", "steps", "owner"],
        "$defs": {
            "Step": {
                "type": "object",
                "properties": {"n": {"type": "integer"}, "done": {"type": "boolean"}},
                "required": ["n", "done"],
            }
        },
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}
    out = json.loads(
        doc(core.handle(gw_req(core, chat_body("Plan the rollout", response_format=fmt))))[
            "choices"
        ][0]["message"]["content"]
    )
    assert len(out["title"]) <= 40
    assert out["severity"] in ("low", "high")
    assert 0 <= out["score"] <= 1
    assert len(out["steps"]) >= 2
    assert all(isinstance(s["n"], int) and isinstance(s["done"], bool) for s in out["steps"])
    assert isinstance(out["owner"], str)


# ------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("provider", "fault", "times", "message"),
    [
        ("azure-openai", "N1", 1, "unknown provider"),
        ("google-genai", "R2", 1, "does not apply"),
        ("nvidia-nim", "Z9", 1, "valid ids"),
        ("nvidia-gateway", "N2", 1, "does not apply"),
        ("nvidia-nim", "G1", 1, "does not apply"),
        ("starfleet", "N1", 1, "T1, T2, T3, T4"),
        ("nvidia-nim", "N1", 0, "times"),
    ],
)
def test_inject_rejects_bad_input(provider: str, fault: str, times: int, message: str) -> None:
    """inject() names the valid ids for the provider."""
    with pytest.raises(ValueError, match=message):
        make_core().inject(provider, fault, times)


def test_fault_ids_table() -> None:
    """G1 gateway-only, N2 NIM-only, no R2 on Gemini, B6 everywhere, T1-T4 for the token."""
    assert FAULT_IDS["starfleet"] == ("T1", "T2", "T3", "T4")
    assert "G1" in FAULT_IDS["nvidia-gateway"]
    assert "G1" not in FAULT_IDS["nvidia-nim"]
    assert "N2" in FAULT_IDS["nvidia-nim"]
    assert "N2" not in FAULT_IDS["nvidia-gateway"]
    assert len(FAULT_IDS["nvidia-nim"]) == len(FAULT_IDS["nvidia-gateway"]) == 21
    common = {"B1", "B2", "B3", "B4", "B5", "B6", "C2", "C3", "E1", "E2", "E3", "N1", "R1"}
    common |= {"S1", "S2", "X1", "X2", "X3", "X4"}
    assert set(FAULT_IDS["openai"]) == set(FAULT_IDS["anthropic"]) == common | {"R2"}
    assert set(FAULT_IDS["google-genai"]) == common
    assert all(list(ids) == sorted(ids) for ids in FAULT_IDS.values())
    assert all("B6" in FAULT_IDS[p] for p in FAULT_IDS if p != "starfleet")


def test_injected_faults_are_fifo_and_counted() -> None:
    """Queued faults fire in order, once per request, and show in stats."""
    core = make_core()
    core.inject("nvidia-nim", "X2", times=2)
    core.inject("nvidia-nim", "N1")
    assert [nim_chat(core).status for _ in range(4)] == [404, 404, 503, 200]
    stats = core.stats()
    assert stats["faults_injected"]["nvidia-nim"] == {"X2": 2, "N1": 1}
    assert stats["faults_fired"]["nvidia-nim"] == {"X2": 2, "N1": 1}
    assert stats["responses"]["nvidia-nim"] == {"404": 2, "503": 1, "200": 1}


def test_injected_faults_win_over_the_profile() -> None:
    """An injected fault is served before the profile's own behaviour."""
    core = make_core("nim-down")
    core.inject("nvidia-nim", "E1")
    first = doc(nim_chat(core))
    assert first["choices"][0]["message"]["content"] == ""
    assert nim_chat(core).status == 503


@pytest.mark.parametrize(
    ("fault", "time_scale", "expected"),
    [
        ("R1", 1.0, {"retry-after": "1"}),
        ("R1", 0.01, {"retry-after": "0.01"}),
        ("R1", 0.25, {"retry-after": "0.25"}),
        ("R1", 0.0, {"retry-after": "0"}),
        ("R2", 1.0, {"retry-after-ms": "200", "retry-after": "30"}),
        ("R2", 0.01, {"retry-after-ms": "2", "retry-after": "0.3"}),
    ],
)
@pytest.mark.parametrize("provider", ["nvidia-nim", "nvidia-gateway"])
def test_retry_after_headers(
    provider: str, fault: str, time_scale: float, expected: dict[str, str]
) -> None:
    """Retry hints are scaled by time_scale; integers at scale 1, decimals below."""
    core = make_core(time_scale=time_scale)
    core.inject(provider, fault)
    resp = nim_chat(core) if provider == "nvidia-nim" else core.handle(gw_req(core, chat_body()))
    assert resp.status == 429
    got = sorted((k, v) for k, v in resp.headers if k in ("retry-after", "retry-after-ms"))
    assert got == sorted(expected.items())


# ------------------------------------------------------------------------ profiles


def test_healthy_profile_never_faults() -> None:
    """healthy: every distinct prompt succeeds."""
    core = make_core("healthy")
    assert {nim_chat(core, f"question {i} about caching").status for i in range(60)} == {200}


def test_down_profiles() -> None:
    """nim-down / gateway-down: every chat request 503; the token endpoint still works."""
    nim_down = make_core("nim-down")
    assert {nim_chat(nim_down, f"q{i}").status for i in range(5)} == {503}
    gw_down = make_core("gateway-down")
    token = issue_token(gw_down)
    resps = [gw_down.handle(gw_req(gw_down, chat_body(f"q{i}"), token=token)) for i in range(5)]
    assert {r.status for r in resps} == {503}
    assert doc(resps[0])["error"]["code"] == "ServiceUnavailable"
    assert nim_chat(gw_down).status == 200
    assert gw_down.stats()["faults_fired"]["nvidia-gateway"] == {"N1": 5}


def _signature(resp: SimResponse) -> tuple[int, bool, bool, str]:
    return (resp.status, resp.stall, resp.abort, payload(resp)[:40].decode("utf-8", "replace"))


def test_flaky_nim_is_deterministic_and_about_a_third() -> None:
    """flaky-nim draws are a function of (seed, prompt, occurrence): same twice, ~35% fail."""
    prompts = [f"Summarise ticket {i} about flaky retries" for i in range(200)]
    tools = {"tools": [WEATHER_TOOL]}
    runs = []
    for _ in range(2):
        core = make_core("flaky-nim", seed=9)
        runs.append(
            [
                _signature(nim_chat(core, p, **(tools if i % 2 else {})))
                for i, p in enumerate(prompts)
            ]
        )
    assert [s[:3] for s in runs[0]] == [s[:3] for s in runs[1]]
    fired = sum(core.stats()["faults_fired"]["nvidia-nim"].values())
    assert 0.2 <= fired / len(prompts) <= 0.5
    assert set(core.stats()["faults_fired"]["nvidia-nim"]) >= {"N1", "B1", "C3", "R1", "E1"}
    gateway = [core.handle(gw_req(core, chat_body(p))).status for p in prompts[:30]]
    assert set(gateway) == {200}


def test_flaky_nim_outcome_does_not_depend_on_request_order() -> None:
    """The nth time a prompt is sent gets the same outcome whatever came in between."""
    prompts = [f"Describe incident {i}" for i in range(40)]
    a, b = make_core("flaky-nim", seed=4), make_core("flaky-nim", seed=4)
    first = {p: _signature(nim_chat(a, p))[:3] for p in prompts}
    second = {p: _signature(nim_chat(b, p))[:3] for p in reversed(prompts)}
    assert first == second


def test_rate_limited_nim_sliding_window() -> None:
    """rate-limited: 40 NIM requests per 60 s per key; the 41st is a bare 429."""
    clock = FakeClock()
    core = make_core("rate-limited", clock=clock)
    statuses = [nim_chat(core, f"q{i}").status for i in range(41)]
    assert statuses == [200] * 40 + [429]
    limited = nim_chat(core, "again")
    assert header(limited, "retry-after") is None
    assert doc(limited) == {"status": 429, "title": "Too Many Requests"}
    clock.now += 60.01
    assert nim_chat(core, "later").status == 200
    assert core.stats()["rate_limited"]["nvidia-nim"] == 2


def test_rate_limited_gateway_sends_retry_after() -> None:
    """rate-limited: the gateway's RPM limit answers 429 with Retry-After."""
    clock = FakeClock()
    core = make_core("rate-limited", clock=clock, time_scale=1.0)
    token = issue_token(core)
    statuses = [core.handle(gw_req(core, chat_body(f"q{i}"), token=token)) for i in range(61)]
    assert [r.status for r in statuses[:60]] == [200] * 60
    last = statuses[60]
    assert last.status == 429
    assert doc(last)["error"]["code"] == "429"
    assert header(last, "retry-after") == "60"


def test_rate_window_scales_with_time_scale() -> None:
    """The window is 60 s x time_scale when time_scale > 0."""
    clock = FakeClock()
    core = make_core("rate-limited", clock=clock, time_scale=0.01)
    assert [nim_chat(core, f"q{i}").status for i in range(41)][-1] == 429
    clock.now += 0.61
    assert nim_chat(core, "later").status == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fault_rates": {"azure-openai": {"N1": 0.1}}}, "unknown provider"),
        ({"fault_rates": {"google-genai": {"R2": 0.1}}}, "unknown fault 'R2'"),
        ({"fault_rates": {"nvidia-nim": {"G1": 0.1}}}, "unknown fault"),
        ({"fault_rates": {"nvidia-nim": {"N1": 1.5}}}, r"\[0, 1\]"),
        ({"fault_rates": {"nvidia-nim": {"N1": 0.6, "B1": 0.6}}}, "sum"),
        ({"latency_multiplier": {"nvidia-nim": 0}}, "positive"),
        ({"rate_limits": {"nvidia-nim": 0}}, ">= 1"),
        ({"down": frozenset({"nowhere"})}, "unknown provider"),
    ],
)
def test_profile_validation(kwargs: dict[str, Any], message: str) -> None:
    """A bad Profile fails at construction with the field named."""
    with pytest.raises(ValueError, match=message):
        Profile("bad", **kwargs)


# ------------------------------------------------------------------------ latency


def test_time_scale_zero_never_sleeps() -> None:
    """time_scale=0: every delay in every plan is zero."""
    core = make_core(time_scale=0)
    plans = [nim_chat(core), nim_chat(core, stream=True), core.handle(token_req(core))]
    for plan in plans:
        assert plan.delay_s == 0
        assert all(delay == 0 for delay, _ in plan.chunks or [])


def test_latency_model_and_multiplier() -> None:
    """Delays follow the lognormal model; slow-nim multiplies them by 4."""
    prompts = [f"Explain topic {i} in depth" for i in range(40)]
    healthy = make_core(time_scale=1.0, seed=2)
    slow = make_core("slow-nim", time_scale=1.0, seed=2)
    fast_delays = [nim_chat(healthy, p).delay_s for p in prompts]
    slow_plans = [nim_chat(slow, p) for p in prompts]
    assert 0.5 <= statistics.median(fast_delays) <= 3.0
    ratios = [s.delay_s / f for s, f in zip(slow_plans, fast_delays, strict=True) if not s.stall]
    assert ratios
    assert all(abs(r - 4.0) < 1e-6 for r in ratios)


def test_stream_delays_are_spread_over_chunks() -> None:
    """Streams wait ttft before the headers, then space chunks by tokens / tps."""
    core = make_core(time_scale=1.0)
    plan = nim_chat(core, "Explain the CAP theorem for storage systems", stream=True)
    assert plan.chunks is not None
    assert 0 < plan.delay_s < 30
    gaps = [delay for delay, _ in plan.chunks]
    assert gaps[0] == 0
    assert sum(gaps) > 0
    assert sum(1 for g in gaps if g > 0) >= 2


# ------------------------------------------------------------------------ stats


def test_stats_shape_and_reset() -> None:
    """stats() is JSON-serialisable with the documented keys; reset zeroes counters."""
    core = make_core()
    core.inject("starfleet", "T1")
    core.handle(token_req(core))
    core.handle(token_req(core))
    nim_chat(core)
    core.handle(gw_req(core, chat_body(), token="bad"))
    stats = core.stats()
    assert json.loads(json.dumps(stats)) == stats
    assert stats["requests"] == {
        "starfleet": {"token": 2},
        "nvidia-nim": {"chat": 1, "models": 0, "embeddings": 0, "status": 0},
        "nvidia-gateway": {"chat": 1},
        "openai": {"chat": 0},
        "anthropic": {"messages": 0},
        "google-genai": {"generate": 0, "stream": 0},
    }
    assert stats["responses"]["starfleet"] == {"503": 1, "200": 1}
    assert stats["token_grants"] == 1
    assert stats["tokens_rejected"] == 1
    assert stats["faults_fired"]["starfleet"] == {"T1": 1}
    assert set(stats["in_flight_max"]) == {
        "starfleet",
        "nvidia-nim",
        "nvidia-gateway",
        "openai",
        "anthropic",
        "google-genai",
    }
    assert stats["keys_in_query"] == 0
    core.reset_stats()
    after = core.stats()
    assert after["requests"]["starfleet"]["token"] == 0
    assert after["token_grants"] == 0
    assert after["faults_injected"]["starfleet"] == {}


def test_http_control_routes() -> None:
    """/__sim/inject queues a fault; /__sim/stats returns stats(); both uncounted."""
    core = make_core()
    ok = core.handle(
        SimRequest("POST", "/__sim/inject", body=b'{"provider":"nvidia-nim","fault":"N1"}')
    )
    assert ok.status == 200
    bad = core.handle(
        SimRequest("POST", "/__sim/inject", body=b'{"provider":"nvidia-nim","fault":"G1"}')
    )
    assert bad.status == 400
    assert "does not apply" in doc(bad)["error"]
    assert nim_chat(core).status == 503
    stats = doc(core.handle(SimRequest("GET", "/__sim/stats")))
    assert stats == core.stats()
    assert stats["faults_injected"]["nvidia-nim"] == {"N1": 1}
