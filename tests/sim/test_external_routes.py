"""The OpenAI, Anthropic and Gemini routes: success and error shapes, translation, stats.

Requests are built by hand from WIRE.md (`native.py`) and sent through `transport()`; the
fault table (`test_external_faults.py`) covers the loopback server too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nvgw_nb.sim import PROFILES, Profile, Simulator

from .conftest import (
    ANTHROPIC_MODEL,
    EXTERNAL_PROVIDERS,
    GEMINI_MODEL,
    WEATHER_TOOL,
    Outcome,
    WireClient,
    parse_named_sse,
    parse_sse,
)
from .native import ANTHROPIC_WEATHER, GEMINI_WEATHER, answer_of, ask


@pytest.fixture(scope="module")
def running() -> Iterator[Simulator]:
    """One healthy, non-sleeping simulator for the module (tests reset the stats they read)."""
    with Simulator(seed=7, time_scale=0) as sim:
        yield sim


@pytest.fixture(scope="module")
def twins() -> Iterator[tuple[Simulator, Simulator, Simulator]]:
    """Two simulators with seed 5 and one with seed 6."""
    with (
        Simulator(seed=5, time_scale=0) as a,
        Simulator(seed=5, time_scale=0) as b,
        Simulator(seed=6, time_scale=0) as c,
    ):
        yield a, b, c


@pytest.fixture
def fast(running: Simulator) -> Iterator[WireClient]:
    """A WireClient on `running.transport()` (no sockets)."""
    with httpx.Client(transport=running.transport()) as client:
        yield WireClient(running, client)


def user(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


# ------------------------------------------------------------------------ addresses


def test_env_and_url_for(running: Simulator) -> None:
    """env() names every provider's key and base URL; url_for() gives each SDK's base URL."""
    sim = running
    env, url = sim.env(), sim.url
    assert env["OPENAI_BASE_URL"] == f"{url}/openai/v1" == sim.url_for("openai")
    assert env["ANTHROPIC_BASE_URL"] == f"{url}/anthropic" == sim.url_for("anthropic")
    assert env["NVGW_GOOGLE_BASE_URL"] == f"{url}/google" == sim.url_for("google-genai")
    assert sim.url_for("nvidia-nim") == env["NVIDIA_NIM_BASE_URL"]
    assert sim.url_for("nvidia-gateway") == env["LLM_GATEWAY_BASE_URL"]
    assert sim.url_for("starfleet") == env["STARFLEET_TOKEN_URL"]
    assert env["OPENAI_API_KEY"].startswith("sk-sim-")
    assert env["ANTHROPIC_API_KEY"].startswith("sk-ant-sim-")
    assert env["GOOGLE_API_KEY"].startswith("AIzaSim")
    assert len(env["GOOGLE_API_KEY"]) == 39
    with pytest.raises(ValueError, match="openai, anthropic, google-genai, starfleet"):
        sim.url_for("gemini")


def test_external_keys_are_per_instance_and_hidden(
    running: Simulator, twins: tuple[Simulator, Simulator, Simulator]
) -> None:
    """Each Simulator generates its own external keys; repr shows none of them."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY"):
        assert twins[0].env()[name] != running.env()[name]
        assert running.env()[name] not in repr(running)


# ------------------------------------------------------------------------ OpenAI


def test_openai_json_shape(fast: WireClient) -> None:
    """chat.completion with a dated model, refusal, usage details and OpenAI's headers."""
    out = ask(fast, "openai")
    doc = out.json()
    assert doc["object"] == "chat.completion"
    assert doc["model"] == "gpt-4o-2024-08-06"
    assert doc["id"].startswith("chatcmpl-")
    assert doc["service_tier"] == "default"
    assert doc["system_fingerprint"].startswith("fp_")
    (choice,) = doc["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["refusal"] is None
    assert choice["message"]["content"]
    usage = doc["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert "prompt_filter_results" not in doc
    assert out.headers["x-request-id"].startswith("req_")
    assert int(out.headers["openai-processing-ms"]) > 0
    assert out.headers["x-ratelimit-limit-requests"] == "5000"
    assert out.headers["x-ratelimit-reset-requests"].endswith("ms")
    mini = fast.openai_chat(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert mini.json()["model"] == "gpt-4o-mini-2024-07-18"


def test_openai_stream_shape(fast: WireClient) -> None:
    """Chunks share id/created; usage rides a final chunk with no choices; [DONE] ends it."""
    out = ask(fast, "openai", stream=True)
    events = out.events
    assert out.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {(c["id"], c["created"], c["object"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "chat.completion.chunk")
    }
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert (
        answer_of("openai", out, True)["content"]
        == ask(fast, "openai").json()["choices"][0]["message"]["content"]
    )


def test_openai_tool_round_trip(fast: WireClient) -> None:
    """A tool call with a JSON-string arguments field, then a text answer to its result."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Berlin?"}]
    first = fast.openai_chat({"messages": messages, "tools": [WEATHER_TOOL]}).json()
    message = first["choices"][0]["message"]
    (call,) = message["tool_calls"]
    assert call["id"].startswith("call_")
    assert json.loads(call["function"]["arguments"])["city"] == "Berlin"
    follow = fast.openai_chat(
        {
            "messages": [
                *messages,
                message,
                {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 12}'},
            ],
            "tools": [WEATHER_TOOL],
        }
    ).json()
    assert "temp_c is 12" in follow["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("no key", 401, None),
        ("wrong key", 401, "invalid_api_key"),
        ("unknown model", 404, "model_not_found"),
        ("not json", 400, None),
        ("no messages", 400, "invalid_value"),
        ("max_tokens 0", 400, "invalid_value"),
    ],
)
def test_openai_errors(fast: WireClient, case: str, status: int, code: str | None) -> None:
    """OpenAI's error envelope and x-request-id on every refusal."""
    headers = {"Authorization": f"Bearer {fast.env['OPENAI_API_KEY']}"}
    body: Any = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    if case == "no key":
        headers = {}
    elif case == "wrong key":
        headers = {"Authorization": "Bearer sk-sim-not-the-right-key-0000"}
    elif case == "unknown model":
        body["model"] = "gpt-9"
    elif case == "no messages":
        body["messages"] = []
    elif case == "max_tokens 0":
        body["max_tokens"] = 0
    url = fast.env["OPENAI_BASE_URL"] + "/chat/completions"
    if case == "not json":
        out = fast.send("POST", url, headers=headers, content=b"{nope")
    else:
        out = fast.send("POST", url, headers=headers, json=body)
    assert out.status == status
    err = out.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code
    assert out.headers["x-request-id"].startswith("req_")
    if case == "wrong key":
        assert "not-the-right-key" not in err["message"]  # only the key's ends are shown


# ------------------------------------------------------------------------ Anthropic


def test_anthropic_json_shape(fast: WireClient) -> None:
    """A message with text blocks, end_turn, input/output tokens and request-id."""
    out = ask(fast, "anthropic", system="Be brief.")
    doc = out.json()
    assert doc["type"] == "message"
    assert doc["role"] == "assistant"
    assert doc["id"].startswith("msg_01")
    assert doc["model"] == "claude-haiku-4-5-20251001"
    assert doc["stop_reason"] == "end_turn"
    assert doc["stop_sequence"] is None
    (block,) = doc["content"]
    assert block["type"] == "text"
    assert block["text"]
    assert doc["usage"]["input_tokens"] > 0
    assert doc["usage"]["output_tokens"] > 0
    assert out.headers["request-id"].startswith("req_011C")
    assert out.headers["anthropic-ratelimit-requests-remaining"].isdigit()
    assert out.headers["anthropic-ratelimit-requests-reset"].endswith("Z")


def test_anthropic_stream_event_order(fast: WireClient) -> None:
    """Named events in the API's order, with a ping; each data repeats its event name."""
    out = ask(fast, "anthropic", stream=True)
    events = parse_named_sse(out.body)
    names = [name for name, _ in events]
    deltas = names.count("content_block_delta")
    assert deltas >= 2
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start, delta = events[0][1]["message"], events[-2][1]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1
    json_doc = ask(fast, "anthropic").json()
    assert delta["usage"]["output_tokens"] == json_doc["usage"]["output_tokens"]
    assert answer_of("anthropic", out, True)["content"] == json_doc["content"][0]["text"]


def test_anthropic_tool_round_trip(fast: WireClient) -> None:
    """tool_use with an input object; the tool_result goes back in a user turn."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Berlin?"}]
    first = fast.anthropic_messages({"messages": messages, "tools": [ANTHROPIC_WEATHER]}).json()
    assert first["stop_reason"] == "tool_use"
    (block,) = first["content"]
    assert block["type"] == "tool_use"
    assert block["id"].startswith("toolu_01")
    assert block["input"]["city"] == "Berlin"
    result = {"type": "tool_result", "tool_use_id": block["id"], "content": '{"temp_c": 12}'}
    follow = fast.anthropic_messages(
        {
            "messages": [
                *messages,
                {"role": "assistant", "content": first["content"]},
                {"role": "user", "content": [result]},
            ],
            "tools": [ANTHROPIC_WEATHER],
        }
    ).json()
    assert follow["stop_reason"] == "end_turn"
    assert "get_weather result, temp_c is 12" in follow["content"][0]["text"]
    plain = fast.anthropic_messages(
        {"messages": messages, "tools": [ANTHROPIC_WEATHER], "tool_choice": {"type": "none"}}
    ).json()
    assert plain["content"][0]["type"] == "text"


def test_anthropic_tool_stream(fast: WireClient) -> None:
    """A streamed tool_use: empty input in the start block, input_json_delta pieces."""
    out = ask(fast, "anthropic", "Weather in Berlin?", stream=True, tools=True)
    events = parse_named_sse(out.body)
    starts = [d for n, d in events if n == "content_block_start"]
    assert starts[0]["content_block"]["input"] == {}
    answer = answer_of("anthropic", out, True)
    assert answer["finish"] == "tool_use"
    assert json.loads(answer["tool_calls"][0]["arguments"])["city"] == "Berlin"


def test_anthropic_accepts_bearer_auth(fast: WireClient) -> None:
    """Authorization: Bearer works like x-api-key."""
    out = fast.send(
        "POST",
        fast.env["ANTHROPIC_BASE_URL"] + "/v1/messages",
        headers={
            "Authorization": f"Bearer {fast.env['ANTHROPIC_API_KEY']}",
            "anthropic-version": "2023-06-01",
        },
        json={
            "model": ANTHROPIC_MODEL,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert out.status == 200


@pytest.mark.parametrize(
    ("case", "status", "kind", "needle"),
    [
        ("no key", 401, "authentication_error", "x-api-key header is required"),
        ("wrong key", 401, "authentication_error", "invalid x-api-key"),
        ("no version", 400, "invalid_request_error", "anthropic-version: header is required"),
        ("bad version", 400, "invalid_request_error", "anthropic-version"),
        ("no max_tokens", 400, "invalid_request_error", "max_tokens: Field required"),
        ("system role", 400, "invalid_request_error", 'Unexpected role "system"'),
        ("temperature", 400, "invalid_request_error", "temperature"),
        ("unknown tool_choice", 400, "invalid_request_error", "tool_choice"),
        ("unknown model", 404, "not_found_error", "model: claude-0"),
    ],
)
def test_anthropic_errors(fast: WireClient, case: str, status: int, kind: str, needle: str) -> None:
    """Anthropic's envelope, status map and request_id on every refusal."""
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    key, version = None, "2023-06-01"
    if case == "no key":
        key = ""
    elif case == "wrong key":
        key = "sk-ant-wrong"
    elif case == "no version":
        version = None
    elif case == "bad version":
        version = "yesterday"
    elif case == "no max_tokens":
        body["max_tokens"] = None
    elif case == "system role":
        body["messages"] = [{"role": "system", "content": "x"}, *body["messages"]]
    elif case == "temperature":
        body["temperature"] = 1.5
    elif case == "unknown tool_choice":
        body |= {"tools": [ANTHROPIC_WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}
    elif case == "unknown model":
        body["model"] = "claude-0"
    if body.get("max_tokens", 1) is None:
        out = fast.send(
            "POST",
            fast.env["ANTHROPIC_BASE_URL"] + "/v1/messages",
            headers={"x-api-key": fast.env["ANTHROPIC_API_KEY"], "anthropic-version": version},
            json={"model": ANTHROPIC_MODEL, "messages": body["messages"]},
        )
    else:
        out = fast.anthropic_messages(body, key=key, version=version)
    assert out.status == status
    doc = out.json()
    assert doc["type"] == "error"
    assert doc["error"]["type"] == kind
    assert needle in doc["error"]["message"]
    assert doc["request_id"] == out.headers["request-id"]


# ------------------------------------------------------------------------ Gemini


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro"])
def test_gemini_json_shape(fast: WireClient, model: str) -> None:
    """GenerateContentResponse: model role, STOP, usage that adds up, modelVersion, responseId."""
    out = fast.google(user("Explain retry budgets"), model=model)
    doc = out.json()
    (candidate,) = doc["candidates"]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["text"]
    assert candidate["finishReason"] == "STOP"
    usage = doc["usageMetadata"]
    thoughts = usage.get("thoughtsTokenCount", 0)
    assert (thoughts > 0) is model.startswith("gemini-2.5")
    assert (
        usage["totalTokenCount"]
        == usage["promptTokenCount"] + usage["candidatesTokenCount"] + thoughts
    )
    assert doc["modelVersion"] == model
    assert doc["responseId"]
    assert "retry-after" not in out.headers


def test_gemini_sse_stream(fast: WireClient) -> None:
    """Each data: a whole response with only the new text; the last has finishReason; no [DONE]."""
    out = fast.google(user("Explain retry budgets"), stream=True)
    assert out.headers["content-type"] == "text/event-stream"
    assert b"\r\n\r\n" in out.body
    events = parse_sse(out.body)
    assert "[DONE]" not in events
    assert len(events) >= 2
    finishes = [e["candidates"][0].get("finishReason") for e in events]
    assert finishes == [None] * (len(events) - 1) + ["STOP"]
    assert len({e["responseId"] for e in events}) == 1
    assert "candidatesTokenCount" in events[-1]["usageMetadata"]
    assert "candidatesTokenCount" not in events[0]["usageMetadata"]
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    assert (
        text
        == fast.google(user("Explain retry budgets")).json()["candidates"][0]["content"]["parts"][
            0
        ]["text"]
    )


def test_gemini_stream_without_alt_is_a_json_array(fast: WireClient) -> None:
    """Without alt=sse the stream endpoint answers one JSON array of responses."""
    out = fast.google(user("Explain retry budgets"), stream=True, alt=None)
    assert out.headers["content-type"].startswith("application/json")
    responses = json.loads(out.body)
    assert isinstance(responses, list)
    assert len(responses) >= 2
    sse = fast.google(user("Explain retry budgets"), stream=True)
    assert (
        answer_of("google-genai", out, True)["content"]
        == answer_of("google-genai", sse, True)["content"]
    )


def test_gemini_tool_round_trip(fast: WireClient) -> None:
    """functionCall with an args object and no id, STOP; a functionResponse gets text."""
    body = {**user("Weather in Berlin?"), "tools": [GEMINI_WEATHER]}
    first = fast.google(body).json()
    (candidate,) = first["candidates"]
    assert candidate["finishReason"] == "STOP"
    (part,) = candidate["content"]["parts"]
    call = part["functionCall"]
    assert "id" not in call
    assert call["args"]["city"] == "Berlin"
    assert call["args"]["unit"] in ("celsius", "fahrenheit")
    follow = fast.google(
        {
            "contents": [
                *body["contents"],
                candidate["content"],
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 12}}}
                    ],
                },
            ],
            "tools": [GEMINI_WEATHER],
        }
    ).json()
    assert (
        "get_weather result, temp_c is 12" in follow["candidates"][0]["content"]["parts"][0]["text"]
    )
    none = fast.google({**body, "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}).json()
    assert "text" in none["candidates"][0]["content"]["parts"][0]
    streamed = answer_of("google-genai", fast.google(body, stream=True), True)
    assert json.loads(streamed["tool_calls"][0]["arguments"]) == call["args"]


@pytest.mark.parametrize(
    ("case", "status", "grpc", "needle"),
    [
        ("no key", 403, "PERMISSION_DENIED", "unregistered callers"),
        ("wrong key", 400, "INVALID_ARGUMENT", "API key not valid"),
        ("unknown model", 404, "NOT_FOUND", "models/gemini-0 is not found"),
        ("no contents", 400, "INVALID_ARGUMENT", "contents is not specified"),
        ("assistant role", 400, "INVALID_ARGUMENT", "valid role: user, model"),
        ("unknown field", 400, "INVALID_ARGUMENT", 'Unknown name "messages"'),
        ("maxOutputTokens 0", 400, "INVALID_ARGUMENT", "max_output_tokens"),
    ],
)
def test_gemini_errors(fast: WireClient, case: str, status: int, grpc: str, needle: str) -> None:
    """The Google RPC envelope with the canonical status name."""
    body: dict[str, Any] = user("hi")
    key, model = None, GEMINI_MODEL
    if case == "no key":
        key = ""
    elif case == "wrong key":
        key = "AIza-not-the-key"
    elif case == "unknown model":
        model = "gemini-0"
    elif case == "no contents":
        body = {"contents": []}
    elif case == "assistant role":
        body = {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}
    elif case == "unknown field":
        body = {**body, "messages": []}
    elif case == "maxOutputTokens 0":
        body = {**body, "generationConfig": {"maxOutputTokens": 0}}
    out = fast.google(body, key=key, model=model)
    assert out.status == status
    err = out.json()["error"]
    assert (err["code"], err["status"]) == (status, grpc)
    assert needle in err["message"]
    if case == "wrong key":
        assert err["details"][0]["reason"] == "API_KEY_INVALID"


def test_gemini_key_in_query_is_refused_and_counted(running: Simulator, fast: WireClient) -> None:
    """?key= is refused with 400 even with a valid key, and shows in stats()."""
    key, sim = fast.env["GOOGLE_API_KEY"], running
    sim.reset_stats()
    out = fast.google(user("hi"), query={"key": key})
    assert out.status == 400
    assert out.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert key not in out.body.decode()
    streamed = fast.google(user("hi"), stream=True, key="", query={"key": key})
    assert streamed.status == 400
    assert fast.google(user("hi")).status == 200
    stats = sim.stats()
    assert stats["keys_in_query"] == 2
    assert stats["responses"]["google-genai"] == {"400": 2, "200": 1}
    sim.reset_stats()
    assert sim.stats()["keys_in_query"] == 0


def test_gemini_serves_v1_and_v1beta(fast: WireClient) -> None:
    """google-genai defaults to v1, WIRE.md to v1beta: both are served; others are not."""
    assert fast.google(user("hi"), version="v1").status == 200
    assert fast.google(user("hi"), version="v1beta").status == 200
    assert fast.google(user("hi"), version="v2").status == 404


def test_gemini_accepts_snake_case_fields(fast: WireClient) -> None:
    """Like proto3 JSON, snake_case names are accepted too."""
    body = {**user("hi"), "system_instruction": {"parts": [{"text": "Be brief."}]}}
    body["generation_config"] = {"max_output_tokens": 3}
    doc = fast.google(body).json()
    assert doc["candidates"][0]["finishReason"] == "MAX_TOKENS"


# ------------------------------------------------------------------------ shared behaviour


@pytest.mark.parametrize("provider", EXTERNAL_PROVIDERS)
def test_max_tokens_cuts_the_answer(fast: WireClient, provider: str) -> None:
    """A small completion limit cuts the text and says so in each provider's words."""
    limit = {
        "openai": {"max_tokens": 4},
        "anthropic": {"max_tokens": 4},
        "google-genai": {"generationConfig": {"maxOutputTokens": 4}},
    }[provider]
    answer = answer_of(provider, ask(fast, provider, "Explain write-ahead logging", **limit), False)
    assert (
        answer["finish"]
        == {"openai": "length", "anthropic": "max_tokens", "google-genai": "MAX_TOKENS"}[provider]
    )
    assert 0 < len(answer["content"]) <= 16


@pytest.mark.parametrize("provider", EXTERNAL_PROVIDERS)
@pytest.mark.parametrize("stream", [False, True])
def test_answers_are_deterministic(
    twins: tuple[Simulator, Simulator, Simulator], provider: str, stream: bool
) -> None:
    """Same seed, same requests: byte-identical answers in another simulator; seeds differ."""

    def body_for(sim: Simulator) -> bytes:
        with httpx.Client(transport=sim.transport()) as client:
            wire = WireClient(sim, client)
            out = ask(wire, provider, "Compare B-trees and LSM trees", stream=stream)
        return re.sub(rb'"created":\d+', b"", out.body)

    first, same, other = (body_for(sim) for sim in twins)
    assert first == same
    assert first != other


def test_providers_sound_different(fast: WireClient) -> None:
    """The same prompt gets different wording from each provider."""
    texts = {
        p: answer_of(p, ask(fast, p, "Explain retry budgets"), False)["content"]
        for p in EXTERNAL_PROVIDERS
    }
    assert len(set(texts.values())) == 3


def test_stats_cover_external_providers(running: Simulator, fast: WireClient) -> None:
    """requests per route, responses per status, faults and in-flight peaks per provider."""
    sim = running
    sim.reset_stats()
    sim.inject("anthropic", "N1")
    ask(fast, "openai")
    ask(fast, "anthropic")
    ask(fast, "anthropic")
    ask(fast, "google-genai")
    ask(fast, "google-genai", stream=True)
    stats = sim.stats()
    assert stats["requests"]["openai"] == {"chat": 1}
    assert stats["requests"]["anthropic"] == {"messages": 2}
    assert stats["requests"]["google-genai"] == {"generate": 1, "stream": 1}
    assert stats["responses"]["anthropic"] == {"529": 1, "200": 1}
    assert stats["responses"]["google-genai"] == {"200": 2}
    assert stats["faults_injected"]["anthropic"] == {"N1": 1}
    assert stats["faults_fired"]["anthropic"] == {"N1": 1}
    assert {stats["in_flight_max"][p] for p in EXTERNAL_PROVIDERS} == {1}
    assert stats["keys_in_query"] == 0
    assert stats["rate_limited"]["openai"] == 0


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_builtin_profiles_leave_external_providers_healthy(profile: str) -> None:
    """Every built-in profile is about NIM and the gateway: external providers always answer."""
    with (
        Simulator(profile, seed=2, time_scale=0) as sim,
        httpx.Client(transport=sim.transport()) as client,
    ):
        wire = WireClient(sim, client)
        outs: list[Outcome] = [
            ask(wire, p, f"question {i}") for p in EXTERNAL_PROVIDERS for i in range(8)
        ]
        stats = sim.stats()
    assert {o.status for o in outs} == {200}
    assert all(stats["faults_fired"][p] == {} for p in EXTERNAL_PROVIDERS)


def test_custom_rate_limit_on_an_external_provider() -> None:
    """A profile can rate-limit OpenAI per key: 429 with retry-after once the window is full."""
    profile = Profile("tight-openai", rate_limits={"openai": 2, "google-genai": 1})
    with Simulator(profile, time_scale=0) as sim, httpx.Client(transport=sim.transport()) as client:
        wire = WireClient(sim, client)
        statuses = [ask(wire, "openai", f"q{i}").status for i in range(3)]
        limited = ask(wire, "openai", "q3")
        google = [ask(wire, "google-genai", f"q{i}") for i in range(2)]
    assert statuses == [200, 200, 429]
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert [g.status for g in google] == [200, 429]
    assert "retry-after" not in google[1].headers
    assert google[1].json()["error"]["details"][-1]["retryDelay"].endswith("s")


@pytest.mark.parametrize(
    ("provider", "header"), [("openai", "openai-processing-ms"), ("google-genai", "server-timing")]
)
def test_latency_is_served_as_reported(provider: str, header: str) -> None:
    """A JSON answer arrives after its (scaled) processing time, which the header reports."""
    time_scale = 0.05
    with Simulator(seed=5, time_scale=time_scale) as sim, httpx.Client(timeout=10) as client:
        started = time.perf_counter()
        out = ask(WireClient(sim, client), provider)
        elapsed = time.perf_counter() - started
    nominal_ms = int(out.headers[header].rpartition("=")[2])
    planned = nominal_ms / 1000 * time_scale
    assert planned > 0.005
    assert planned * 0.9 <= elapsed < planned + 2.0
