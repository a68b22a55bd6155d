"""Bad input from the caller (issue 14, item 13): NaN and infinities, lone surrogates and
invalid JSON schemas are a `ConfigError` naming where they are, before anything is sent or
billed; tool-call validators are built once per schema, not once per call."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

import nvgw_nb as nv
from nvgw_nb import validation
from nvgw_nb.inputs import chat_request
from nvgw_nb.providers.base import RawToolCall
from nvgw_nb.sim import Simulator

LONE = "\ud800"


def _tool(
    name: str = "lookup", parameters: dict[str, Any] | None = None, description: str = "Look up."
) -> dict[str, Any]:
    params = parameters if parameters is not None else {"type": "object"}
    function = {"name": name, "description": description, "parameters": params}
    return {"type": "function", "function": function}


def _requests(sim: Simulator) -> int:
    return sum(sum(kinds.values()) for kinds in sim.stats()["requests"].values())


NOT_FINITE: list[tuple[str, float]] = [
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", -math.inf),
    ("top_p", math.nan),
    ("top_p", math.inf),
]


@pytest.mark.parametrize(("name", "value"), NOT_FINITE, ids=[f"{n}={v}" for n, v in NOT_FINITE])
def test_non_finite_numbers_are_refused(
    sim: Simulator, session: nv.Session, name: str, value: float
) -> None:
    """NaN and infinities: a ConfigError naming the argument, not a raw ValueError."""
    with pytest.raises(nv.ConfigError, match=rf"^{name} must be a finite number"):
        session.chat("hi", **{name: value})  # type: ignore[arg-type]
    assert _requests(sim) == 0


SURROGATES: list[tuple[str, dict[str, Any], str]] = [
    ("prompt", {"prompt": f"hi {LONE}"}, "prompt holds a lone surrogate"),
    ("system", {"prompt": "hi", "system": f"Be {LONE}"}, "system holds"),
    (
        "message",
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": LONE}]},
        "messages[1].content holds",
    ),
    ("stop", {"prompt": "hi", "stop": ["x", LONE]}, "stop[1] holds"),
    (
        "tool description",
        {"prompt": "hi", "tools": [_tool(description=f"Find {LONE}")]},
        "tools[0].function.description holds",
    ),
    (
        "tool parameter description",
        {
            "prompt": "hi",
            "tools": [
                _tool(
                    parameters={
                        "type": "object",
                        "properties": {"q": {"type": "string", "description": LONE}},
                    }
                )
            ],
        },
        "tools[0].function.parameters.properties.q.description holds",
    ),
    (
        "response_format",
        {
            "prompt": "hi",
            "response_format": {"type": "object", "properties": {"a": {"title": LONE}}},
        },
        "response_format.properties.a.title holds",
    ),
]


@pytest.mark.parametrize(("case", "kwargs", "says"), SURROGATES, ids=[c for c, _, _ in SURROGATES])
def test_lone_surrogates_are_refused_naming_where(
    sim: Simulator, session: nv.Session, case: str, kwargs: dict[str, Any], says: str
) -> None:
    """A lone surrogate cannot be sent as UTF-8: a ConfigError naming where it is."""
    with pytest.raises(nv.ConfigError) as info:
        session.chat(**kwargs)
    assert says in str(info.value), case
    assert "'\\ud800'" in str(info.value)
    assert _requests(sim) == 0


def test_paired_surrogates_and_emoji_pass() -> None:
    """Ordinary non-ASCII text (an emoji, accents) is not mistaken for a lone surrogate."""
    request = chat_request("café 🚀 ✓", system="Réponds en français.")
    assert request.messages[-1].content == "café 🚀 ✓"


INVALID_SCHEMA = {"type": "object", "properties": {"city": {"type": "strng"}}}
BAD_SCHEMAS: list[tuple[str, dict[str, Any], str]] = [
    (
        "tool parameters",
        {"prompt": "hi", "tools": [_tool(parameters=INVALID_SCHEMA)]},
        "tools[0].function.parameters is not a valid JSON schema (properties/city/type",
    ),
    (
        "tool parameters, unresolvable $ref",
        {
            "prompt": "hi",
            "tools": [_tool(parameters={"type": "object", "properties": {"a": {"$ref": "#/x"}}})],
        },
        "$ref '#/x' points nowhere",
    ),
    (
        "tool parameters, remote $ref",
        {
            "prompt": "hi",
            "tools": [
                _tool(parameters={"type": "object", "properties": {"a": {"$ref": "http://h/s"}}})
            ],
        },
        "points outside the schema",
    ),
    (
        "bare response_format",
        {"prompt": "hi", "response_format": INVALID_SCHEMA},
        "response_format is not a valid JSON schema",
    ),
    (
        "json_schema response_format",
        {
            "prompt": "hi",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object", "required": "city"}},
            },
        },
        "response_format['json_schema']['schema'] is not a valid JSON schema (required",
    ),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "says"), BAD_SCHEMAS, ids=[c for c, _, _ in BAD_SCHEMAS]
)
def test_invalid_json_schemas_are_refused_before_sending(
    sim: Simulator, session: nv.Session, case: str, kwargs: dict[str, Any], says: str
) -> None:
    """An invalid schema is a ConfigError before anything is sent (or billed)."""
    with pytest.raises(nv.ConfigError) as info:
        session.chat(**kwargs)
    assert says in str(info.value), case
    assert _requests(sim) == 0


class _City(BaseModel):
    name: str
    population: int = Field(ge=0)


class _Trip(BaseModel):
    cities: list[_City]


def test_valid_schemas_with_local_refs_pass() -> None:
    """A pydantic model's schema ($defs and local $refs) and a draft-07 schema are valid."""
    schema = _Trip.model_json_schema()
    assert "$defs" in schema
    assert validation.schema_error(schema) is None
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "definitions": {"c": {"type": "string"}},
        "properties": {"c": {"$ref": "#/definitions/c"}},
    }
    assert validation.schema_error(draft7) is None


class _CountingFactory:
    """Stands in for the validator class of draft 2020-12 and counts what it builds."""

    def __init__(self) -> None:
        self.built = 0

    def __call__(self, schema: Any) -> Any:
        self.built += 1
        return jsonschema.validators.Draft202012Validator(schema)


def test_tool_call_validators_are_built_once_per_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten thousand tool calls on two tools build two validators, and a second answer none."""
    weather = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    clock = {"type": "object", "properties": {"zone": {"type": "string"}}}
    request = chat_request("hi", tools=[_tool("weather", weather), _tool("clock", clock)])
    factory = _CountingFactory()
    monkeypatch.setattr(validation, "_validator_class", lambda schema: factory)
    validation._validator.cache_clear()
    raw = [
        RawToolCall(id=f"c{i}", name="weather" if i % 2 else "clock", arguments='{"city": "x"}')
        for i in range(10_000)
    ]
    try:
        calls, _ = validation.check_tool_calls(raw, request, "nvidia-nim")
        assert len(calls) == 10_000
        assert factory.built == 2
        validation.check_tool_calls(raw, request, "nvidia-nim")
        assert factory.built == 2, "the second answer reuses them"
    finally:
        validation._validator.cache_clear()  # no counting validators left for other tests


def test_a_bad_tool_call_is_still_caught_with_cached_validators() -> None:
    """The cache changes nothing about what fits: a wrong argument is still a ToolCallError."""
    weather = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = chat_request("hi", tools=[_tool("weather", weather)])
    good = RawToolCall(id="a", name="weather", arguments='{"city": "Oslo"}')
    bad = RawToolCall(id="b", name="weather", arguments='{"city": 5}')
    validation.check_tool_calls([good], request, "nvidia-nim")
    with pytest.raises(nv.ToolCallError, match="city: 5 is not of type 'string'"):
        validation.check_tool_calls([good, bad], request, "nvidia-nim")


def test_a_schema_that_is_not_plain_json_is_still_applied() -> None:
    """A hand-made ChatRequest may hold a schema the input checks would refuse (a NaN):
    it is checked with a validator of its own, not a raw ValueError from the cache key."""
    schema = {"type": "object", "properties": {"n": {"type": "number", "default": math.nan}}}
    assert validation.schema_problem({"n": 1}, schema) is None
    assert validation.schema_problem({"n": "x"}, schema) == "n: 'x' is not of type 'number'"
