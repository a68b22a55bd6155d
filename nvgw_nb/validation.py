"""Checks an answer must pass before it reaches the caller (FAULTS.md B4, B5, B6).

A tool call's name must be declared and its arguments must be a JSON object that fits
the tool's parameter schema; structured output must parse and fit its model or
schema. Optional deterministic repair (code fences, trailing commas) is opt-in and
reported, so a trace shows what was changed.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from nvgw_nb.errors import ToolCallError, ValidationFailed
from nvgw_nb.providers.base import RawToolCall
from nvgw_nb.results import ChatRequest, ToolCall

__all__ = ["check_tool_calls", "parse_structured", "repair_json", "schema_problem"]

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_MAX_MESSAGE = 300


def repair_json(text: str) -> tuple[str, list[str]]:
    """Strip a Markdown code fence and trailing commas; returns the text and what changed."""
    repairs: list[str] = []
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
        repairs.append("code fence")
    unfolded = _TRAILING_COMMA.sub(r"\1", text)
    if unfolded != text:
        text = unfolded
        repairs.append("trailing comma")
    return text, repairs


def schema_problem(instance: Any, schema: Mapping[str, Any]) -> str | None:
    """The first way `instance` breaks the JSON `schema` (None when it fits)."""
    import jsonschema  # loaded only when a schema is checked: keeps `import nvgw_nb` fast

    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"[:_MAX_MESSAGE]


def _tool_call(
    raw: RawToolCall, schemas: Mapping[str, Mapping[str, Any]], provider: str, repair: bool
) -> tuple[ToolCall, list[str]]:
    if not raw.name or raw.name not in schemas:
        declared = ", ".join(sorted(schemas)) or "no tools"
        raise ToolCallError(
            f"{provider} called tool {raw.name!r}, which was not declared ({declared})",
            tool_name=raw.name,
            provider=provider,
        )
    repairs: list[str] = []
    arguments: Any = raw.arguments
    if arguments is None or arguments == "":
        arguments = {}
    elif isinstance(arguments, str):
        text, repairs = repair_json(arguments) if repair else (arguments, [])
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as err:
            raise ToolCallError(
                f"{provider} called {raw.name!r} with arguments that are not valid JSON "
                f"({err.msg} at position {err.pos})",
                tool_name=raw.name,
                provider=provider,
            ) from None
    if not isinstance(arguments, Mapping):
        raise ToolCallError(
            f"{provider} called {raw.name!r} with arguments that are not a JSON object",
            tool_name=raw.name,
            provider=provider,
        )
    problem = schema_problem(dict(arguments), schemas[raw.name])
    if problem is not None:
        raise ToolCallError(
            f"{provider} called {raw.name!r} with arguments that do not fit its schema: {problem}",
            tool_name=raw.name,
            provider=provider,
        )
    call_id = raw.id or f"call_{uuid.uuid4().hex[:24]}"
    return ToolCall(id=call_id, name=raw.name, arguments=dict(arguments)), repairs


def check_tool_calls(
    raw_calls: list[RawToolCall], request: ChatRequest, provider: str, *, repair: bool = False
) -> tuple[list[ToolCall], list[str]]:
    """Validated tool calls and the repairs applied; ToolCallError for the first bad one."""
    schemas = {
        t["function"]["name"]: t["function"].get("parameters") or {"type": "object"}
        for t in request.tools or ()
    }
    calls: list[ToolCall] = []
    repairs: list[str] = []
    for raw in raw_calls:
        call, applied = _tool_call(raw, schemas, provider, repair)
        calls.append(call)
        repairs.extend(r for r in applied if r not in repairs)
    return calls, repairs


def parse_structured(
    content: str,
    request: ChatRequest,
    provider: str,
    *,
    model: type[BaseModel] | None,
    repair: bool = False,
) -> tuple[Any, list[str]]:
    """Parse structured output: a `model` instance, or the JSON value fitting the schema."""
    text, repairs = repair_json(content) if repair else (content, [])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValidationFailed(
            f"{provider} answered text that is not JSON ({err.msg} at position {err.pos}) "
            "where structured output was asked for",
            provider=provider,
        ) from None
    if model is not None:
        try:
            return model.model_validate(value), repairs
        except ValidationError as err:
            first = err.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise ValidationFailed(
                f"{provider}'s output does not fit {model.__name__}: {where}: {first['msg']}"[
                    :_MAX_MESSAGE
                ],
                provider=provider,
            ) from None
    schema = request.json_schema
    if schema is not None:
        problem = schema_problem(value, schema)
        if problem is not None:
            raise ValidationFailed(
                f"{provider}'s output does not fit the schema: {problem}", provider=provider
            )
    return value, repairs


def run_validator(validator: Callable[[Any], object], result: Any, provider: str) -> None:
    """Run a user validator: raising, or returning False, rejects the output (B6)."""
    try:
        verdict = validator(result)
    except Exception as err:
        message = str(err) or type(err).__name__
        raise ValidationFailed(
            f"{provider}'s output was rejected by the validator: {message}"[:_MAX_MESSAGE],
            provider=provider,
        ) from None
    if verdict is False:
        raise ValidationFailed(
            f"{provider}'s output was rejected by the validator (it returned False)",
            provider=provider,
        )
