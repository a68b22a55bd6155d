"""What an answer must pass: tool calls fit their schema, structured output parses, validators."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


class Verdict(BaseModel):
    """A small structured answer."""

    summary: str
    risky: bool
    score: int


def test_nim_broken_tool_call_is_served_by_the_gateway(sim: Simulator, session: nv.Session) -> None:
    """B4 on NIM: the caller gets the gateway's valid tool call, and the trace says why."""
    sim.inject("nvidia-nim", "B4")
    result = session.chat("What's the weather in Paris?", tools=[WEATHER])
    assert result.served_by == "nvidia-gateway"
    assert result.tool_calls[0].name == "get_weather"
    assert isinstance(result.tool_calls[0].arguments["city"], str)
    kinds = [(a.provider, a.error_kind) for a in result.attempts]
    assert kinds == [("nvidia-nim", "tool_call")] * 2 + [("nvidia-gateway", None)]
    assert "not valid JSON" in (result.attempts[0].error or "")
    trace = result.trace()
    assert "tool_call" in trace
    assert "served by nvidia-gateway" in trace


def test_arguments_that_break_the_schema_never_reach_the_caller(session: nv.Session) -> None:
    """Arguments that parse but do not fit the parameter schema are a ToolCallError."""
    strict = json.loads(json.dumps(WEATHER))
    strict["function"]["parameters"]["properties"]["city"]["pattern"] = "^[0-9]{5}$"
    with pytest.raises(nv.AllProvidersFailed) as info:
        session.chat("What's the weather in Paris?", tools=[strict])
    errors = info.value.errors
    assert isinstance(errors["nvidia-nim"], nv.ToolCallError)
    assert "do not fit its schema" in str(errors["nvidia-nim"])
    assert [a.error_kind for a in info.value.attempts] == ["tool_call"] * 4


def test_structured_output_is_parsed_into_the_model(session: nv.Session) -> None:
    """response_format=Model: the simulator answers fitting JSON; result.parsed is a Model."""
    result = session.chat("Review this diff", response_format=Verdict, role="reviewer")
    assert isinstance(result.parsed, Verdict)
    assert json.loads(result.content)["score"] == result.parsed.score


def test_structured_output_with_a_json_schema(session: nv.Session) -> None:
    """A bare JSON schema works too: parsed is the JSON value."""
    schema = Verdict.model_json_schema()
    result = session.chat("Review this diff", response_format=schema)
    assert set(result.parsed) >= {"summary", "risky", "score"}


def test_validator_rejection_retries_once_then_falls_back(session: nv.Session) -> None:
    """B6 via a validator: rejected twice on NIM, then the gateway's answer passes."""

    def only_gateway(result: nv.ChatResult) -> bool:
        return result.served_by == "nvidia-gateway"

    result = session.chat("hi", validator=only_gateway)
    assert result.served_by == "nvidia-gateway"
    assert [a.error_kind for a in result.attempts] == ["validation", "validation", None]


def test_validator_message_is_reported(session: nv.Session) -> None:
    """A validator that raises: ValidationFailed carries its message."""

    def must_mention_kubernetes(result: nv.ChatResult) -> None:
        if "kubernetes" not in result.content.lower():
            raise ValueError("the answer never mentions Kubernetes")

    with pytest.raises(nv.AllProvidersFailed) as info:
        session.chat("Tell me about bread", validator=must_mention_kubernetes)
    assert "never mentions Kubernetes" in str(info.value.errors["nvidia-gateway"])


# --- repair, on a hand-written upstream -------------------------------------------------

ENV = {
    "NVIDIA_NIM_API_KEY": "test-nim-key",
    "NVIDIA_NIM_BASE_URL": "https://nim.test/v1",
    "NVIDIA_LLM_GATEWAY_ENABLED": "false",
}


def _tool_reply(arguments: str) -> httpx.Response:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    return httpx.Response(200, json=body)


@pytest.fixture
def fenced() -> Iterator[nv.Session]:
    """NIM answers a tool call whose JSON is fenced and has a trailing comma."""
    arguments = '```json\n{"city": "Paris", "days": 2,}\n```'
    transport = httpx.MockTransport(lambda request: _tool_reply(arguments))
    with nv.Session.from_env(env=ENV, env_file=None, transport=transport) as s:
        yield s


def test_repair_is_opt_in(fenced: nv.Session) -> None:
    """Without repair, the fenced arguments are a ToolCallError (retried once)."""
    with pytest.raises(nv.ToolCallError) as info:
        fenced.chat("weather?", tools=[WEATHER])
    assert len(info.value.attempts) == 2


def test_repair_fixes_fences_and_trailing_commas_and_says_so(fenced: nv.Session) -> None:
    """repair=True: the call goes through, and the attempt records what was repaired."""
    result = fenced.chat("weather?", tools=[WEATHER], repair=True)
    assert result.tool_calls[0].arguments == {"city": "Paris", "days": 2}
    assert result.attempts[0].repairs == ["code fence", "trailing comma"]
    assert "repaired: code fence, trailing comma" in result.trace()


@pytest.mark.parametrize(
    ("response_format", "says"),
    [
        (42, "pydantic model class or a JSON schema"),
        ({"type": "json_schema"}, "'schema' dict"),
        ({"type": "text"}, "JSON schema with a 'type'"),
    ],
)
def test_bad_response_format_fails_before_any_request(
    sim: Simulator, session: nv.Session, response_format: Any, says: str
) -> None:
    """A response_format that is neither a model nor a schema is a ConfigError."""
    with pytest.raises(nv.ConfigError, match=says):
        session.chat("hi", response_format=response_format)
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 0
