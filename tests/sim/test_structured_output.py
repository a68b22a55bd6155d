"""Structured output on all five providers: healthy JSON fits the schema, B6 breaks it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from nvgw_nb.sim import Simulator
from nvgw_nb.sim.content import topic_of
from nvgw_nb.sim.structured import SYSTEM_SCHEMA_MARKER, gemini_schema, misfit

from .conftest import Outcome, WireClient, chat_body, stream_text
from .native import answer_of

PROVIDERS = ["nvidia-nim", "nvidia-gateway", "openai", "anthropic", "google-genai"]
PROMPT = "File a ticket: the Paris cache cluster drops writes under load"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "severity": {"type": "string", "enum": ["low", "high"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["title", "severity", "score"],
    "additionalProperties": False,
}
GEMINI_SCHEMA: dict[str, Any] = {  # Gemini's OpenAPI subset: upper-case types
    "type": "OBJECT",
    "properties": {
        "title": {"type": "STRING", "maxLength": 40},
        "severity": {"type": "STRING", "enum": ["low", "high"]},
        "score": {"type": "NUMBER", "minimum": 0, "maximum": 1},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
    },
    "required": ["title", "severity", "score"],
}


@pytest.fixture(scope="module")
def wire() -> Iterator[WireClient]:
    """A module-wide healthy simulator, reached through `transport()`."""
    with Simulator(seed=13, time_scale=0) as sim, httpx.Client(transport=sim.transport()) as c:
        yield WireClient(sim, c)


def structured_request(
    wire: WireClient, provider: str, *, stream: bool = False, schema: bool = True
) -> Outcome:
    """A request asking for JSON that fits SCHEMA, in `provider`'s own way."""
    if provider in ("nvidia-nim", "nvidia-gateway", "openai"):
        body = chat_body(PROMPT)
        if schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "ticket", "schema": SCHEMA, "strict": True},
            }
        if stream:
            body["stream"] = True
        if provider == "openai":
            return wire.openai_chat(body)
        return wire.chat(provider, body)
    if provider == "anthropic":
        system = "You file tickets."
        if schema:
            system += f"\n{SYSTEM_SCHEMA_MARKER} {json.dumps(SCHEMA)}"
        messages = [{"role": "user", "content": PROMPT}]
        return wire.anthropic_messages({"system": system, "messages": messages, "stream": stream})
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    if schema:
        config = {"responseMimeType": "application/json", "responseSchema": GEMINI_SCHEMA}
        body["generationConfig"] = config
    return wire.google(body, stream=stream)


def text_of(provider: str, out: Outcome, stream: bool) -> str:
    """The answer's text, JSON or SSE."""
    assert out.status == 200, out.body[:300]
    if provider in ("nvidia-nim", "nvidia-gateway"):
        if stream:
            return stream_text([e for e in out.events if isinstance(e, dict)])
        return str(out.json()["choices"][0]["message"]["content"])
    return str(answer_of(provider, out, stream)["content"])


def test_the_anthropic_convention_is_the_documented_line() -> None:
    """The system-prompt marker is the line nvgw_nb's SDK appends."""
    assert SYSTEM_SCHEMA_MARKER == "Respond with only a JSON document matching this JSON schema:"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_healthy_answers_fit_the_schema(wire: WireClient, provider: str, stream: bool) -> None:
    """Every provider answers a structured-output request with JSON that fits the schema."""
    document = json.loads(
        text_of(provider, structured_request(wire, provider, stream=stream), stream)
    )
    jsonschema.validate(document, SCHEMA)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_b6_answers_json_that_does_not_fit(wire: WireClient, provider: str, stream: bool) -> None:
    """B6 with a schema: valid JSON, but it misses a required property or has a wrong type."""
    wire.sim.inject(provider, "B6")
    document = json.loads(
        text_of(provider, structured_request(wire, provider, stream=stream), stream)
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_b6_without_structured_output_is_prose(wire: WireClient, provider: str) -> None:
    """B6 without a schema: plain prose that is not JSON."""
    wire.sim.inject(provider, "B6")
    text = text_of(provider, structured_request(wire, provider, schema=False), False)
    assert text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_anthropic_output_config_and_json_mode(wire: WireClient) -> None:
    """Anthropic's `output_config.format` carries a schema; the plain JSON line is JSON mode."""
    messages = [{"role": "user", "content": PROMPT}]
    config = {"format": {"type": "json_schema", "schema": SCHEMA}}
    doc = wire.anthropic_messages({"messages": messages, "output_config": config}).json()
    jsonschema.validate(json.loads(doc["content"][0]["text"]), SCHEMA)
    system = "Respond with only a JSON document."
    plain = wire.anthropic_messages({"system": system, "messages": messages}).json()
    assert isinstance(json.loads(plain["content"][0]["text"]), dict)


def test_gemini_json_schema_and_json_mode(wire: WireClient) -> None:
    """Gemini's `responseJsonSchema` (plain JSON Schema) and JSON mode without a schema."""
    contents = [{"role": "user", "parts": [{"text": PROMPT}]}]
    config = {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    doc = wire.google({"contents": contents, "generationConfig": config}).json()
    jsonschema.validate(json.loads(doc["candidates"][0]["content"]["parts"][0]["text"]), SCHEMA)
    mode = {"responseMimeType": "application/json"}
    plain = wire.google({"contents": contents, "generationConfig": mode}).json()
    assert isinstance(json.loads(plain["candidates"][0]["content"]["parts"][0]["text"]), dict)


def test_gemini_schema_lowering() -> None:
    """Upper-case OpenAPI types become JSON Schema; nullable becomes a union with null."""
    lowered = gemini_schema(
        {"type": "OBJECT", "properties": {"n": {"type": "INTEGER", "nullable": True}}}
    )
    assert lowered == {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}
    assert gemini_schema(GEMINI_SCHEMA)["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string"},
    }


@pytest.mark.parametrize(
    "schema",
    [
        SCHEMA,
        {"type": "object", "properties": {"n": {"type": "integer"}}},  # nothing required
        {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}}},  # enum only
        {"type": "object"},  # no properties: the wrong root type
        {"type": "array", "items": {"type": "string"}},
        {"type": "string"},
        {"$ref": "#/$defs/t", "$defs": {"t": SCHEMA}},
    ],
)
def test_misfit_always_breaks_the_schema(schema: dict[str, Any]) -> None:
    """misfit() returns JSON the schema rejects, for every shape of schema."""
    for seed in range(5):
        document, broken = misfit(schema, random.Random(seed), topic_of(PROMPT))
        assert broken
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(json.dumps(document)), schema)


@pytest.mark.parametrize("schema", [{}, {"properties": {"a": {}}}])
def test_misfit_gives_up_on_schemas_that_accept_anything(schema: dict[str, Any]) -> None:
    """A schema that accepts any JSON cannot be broken: B6 then answers prose."""
    assert misfit(schema, random.Random(1), topic_of(PROMPT)) == (None, False)
