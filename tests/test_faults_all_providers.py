"""FAULTS.md for all five providers: the same rows, each provider under test first.

Each row injects a fault into the provider under test (first in the order, with a
healthy fallback behind it) and checks the retries, the fallback and the outcome.
Rows that only make sense for one provider (N2, T*, G1) live in tests/test_faults.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

import nvgw_nb as nv
from nvgw_nb.sim import FAULT_IDS, Simulator

PROVIDERS = ("nvidia-nim", "nvidia-gateway", "openai", "anthropic", "google-genai")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


class Forecast(BaseModel):
    """Structured output for B6."""

    city: str
    celsius: int


@dataclass(frozen=True)
class Row:
    """A fault, how often, what each try on the provider under test ends as, the outcome."""

    id: str
    fault: str
    times: int
    kinds: tuple[str, ...]
    #: "self" (served by the provider under test), "fallback", or an error class
    outcome: str | type[Exception]
    call: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


ROWS = [
    Row("N1 once", "N1", 1, ("server_error", "ok"), "self"),
    Row("N1 thrice", "N1", 3, ("server_error",) * 3, "fallback"),
    Row("R1 once", "R1", 1, ("rate_limited", "ok"), "self"),
    Row("R1 thrice", "R1", 3, ("rate_limited",) * 3, "fallback"),
    Row("R2 once", "R2", 1, ("rate_limited", "ok"), "self"),
    Row("C3 once", "C3", 1, ("connection", "ok"), "self"),
    Row("C3 thrice", "C3", 3, ("connection",) * 3, "fallback"),
    Row("B1 once", "B1", 1, ("malformed", "ok"), "self"),
    Row("B1 twice", "B1", 2, ("malformed",) * 2, "fallback"),
    Row("B2 twice", "B2", 2, ("malformed",) * 2, "fallback"),
    Row("B3 twice", "B3", 2, ("malformed",) * 2, "fallback"),
    # B4-B6 are the model's bug for this input: the identical retry repeats it.
    Row("B4 once", "B4", 1, ("tool_call",) * 2, "fallback", {"tools": TOOLS}),
    Row("B5 once", "B5", 1, ("tool_call",) * 2, "fallback", {"tools": TOOLS}),
    Row("B6 once", "B6", 1, ("validation",) * 2, "fallback", {"response_format": Forecast}),
    Row("E1 twice", "E1", 2, ("empty",) * 2, "fallback"),
    Row("E2", "E2", 1, ("ok",), "self"),
    Row("E3", "E3", 1, ("content_filter",), nv.ContentFiltered),
    Row("X1", "X1", 1, ("bad_request",), nv.BadRequest),
    Row("X2", "X2", 1, ("model_not_found",), "fallback"),
    Row("X3", "X3", 1, ("context_too_long",), nv.ContextTooLong),
    Row("X4", "X4", 1, ("provider_auth",), "fallback"),
    Row("S1 once", "S1", 1, ("connection", "ok"), "self", stream=True),
    Row("S1 thrice", "S1", 3, ("connection",) * 3, "fallback", stream=True),
    Row("S2", "S2", 1, ("stream_interrupted",), nv.StreamInterrupted, stream=True),
]

CASES = [
    pytest.param(provider, row, id=f"{provider}-{row.id}")
    for provider in PROVIDERS
    for row in ROWS
    if row.fault in FAULT_IDS[provider]
]


def _fallback(provider: str) -> str:
    return "nvidia-nim" if provider == "nvidia-gateway" else "nvidia-gateway"


@pytest.fixture
def everyone(sim: Simulator) -> Iterator[nv.Session]:
    """A Session allowed to use every provider, never sleeping between retries."""
    with sim.session(allow_external=True, retry=nv.RetryPolicy.no_wait()) as session:
        yield session


def _run(session: nv.Session, provider: str, row: Row) -> nv.ChatResult:
    order = [provider, _fallback(provider)]
    call = {"role": "programmer", "providers": order, **row.call}
    if row.stream:
        stream = session.stream("What is the weather in Paris?", **call)
        text = "".join(chunk.text for chunk in stream)
        assert text == stream.result.content
        return stream.result
    return session.chat("What is the weather in Paris?", **call)


@pytest.mark.parametrize(("provider", "row"), CASES)
def test_fault_matrix_all_providers(
    sim: Simulator, everyone: nv.Session, provider: str, row: Row
) -> None:
    """Retries on the provider under test, fallback, and what the caller finally sees."""
    sim.inject(provider, row.fault, row.times)
    expected = tuple((provider, kind) for kind in row.kinds)
    if isinstance(row.outcome, type):
        with pytest.raises(row.outcome) as info:
            _run(everyone, provider, row)
        assert tuple((a.provider, a.error_kind or "ok") for a in info.value.attempts) == expected
        return
    result = _run(everyone, provider, row)
    served = provider if row.outcome == "self" else _fallback(provider)
    if row.outcome == "fallback":
        expected += ((served, "ok"),)
    assert tuple((a.provider, a.error_kind or "ok") for a in result.attempts) == expected
    assert result.served_by == served
    if "tools" in row.call:
        assert result.tool_calls[0].name == "get_weather"
        assert isinstance(result.tool_calls[0].arguments["city"], str)
    if "response_format" in row.call:
        assert isinstance(result.parsed, Forecast)
    if row.fault == "E2":
        assert result.truncated


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_answers_plain_stream_and_tools(everyone: nv.Session, provider: str) -> None:
    """One normalised ChatResult whatever the provider: text, stream, tool call, usage."""
    plain = everyone.chat("hi", providers=[provider])
    assert plain.served_by == provider
    assert plain.content
    assert plain.usage.total_tokens > 0
    assert plain.finish_reason == "stop"
    stream = everyone.stream("hi", providers=[provider])
    assert "".join(c.text for c in stream) == stream.result.content
    tools = everyone.chat("Weather in Paris?", providers=[provider], tools=TOOLS)
    assert tools.tool_calls[0].name == "get_weather"
    assert tools.finish_reason == "tool_calls"


def test_google_keys_never_go_in_the_url(sim: Simulator, everyone: nv.Session) -> None:
    """The Gemini key travels in x-goog-api-key: the simulator saw none in a query string."""
    everyone.chat("hi", providers=["google-genai"])
    everyone.stream("hi", providers=["google-genai"]).result  # noqa: B018
    assert sim.stats()["keys_in_query"] == 0
