"""Checks an answer must pass before it reaches the caller (faults B4, B5, B6).

A tool call's name must be declared and its arguments must be a JSON object that fits
the tool's parameter schema; structured output must parse and fit its model or
schema. Optional deterministic repair (code fences, trailing commas) is opt-in and
reported, so a trace shows what was changed.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from nvgw_nb.errors import ToolCallError, ValidationFailed
from nvgw_nb.providers.base import RawToolCall
from nvgw_nb.results import ChatRequest, ToolCall

__all__ = [
    "check_tool_calls",
    "parse_structured",
    "repair_json",
    "schema_error",
    "schema_problem",
]

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_MAX_MESSAGE = 300
#: distinct schemas whose validators are kept (tools and structured output of a Session)
_CACHED_VALIDATORS = 256


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
    return _problem(instance, validator_of(schema))


def _problem(instance: Any, validator: Any) -> str | None:
    """The first way `instance` breaks the schema of `validator` (None when it fits)."""
    import jsonschema  # loaded only when a schema is checked: keeps `import nvgw_nb` fast
    import referencing.exceptions

    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    except RecursionError:
        return "(root): the value is nested too deeply to check"
    except referencing.exceptions.Unresolvable:  # a $ref the input check could not follow
        return "(root): the schema has a $ref that points nowhere"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"[:_MAX_MESSAGE]


def schema_error(schema: object) -> str | None:
    """Why `schema` is not a valid JSON schema (for its `$schema`, else draft 2020-12),
    or None. Only local `$ref`s are allowed: nvgw_nb never fetches a schema."""
    import jsonschema

    if not isinstance(schema, Mapping):
        return "must be a JSON schema object (a dict)"
    try:
        canonical = _canonical(schema)
        _validator_class(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as err:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        return f"{where}: {err.message}"[:_MAX_MESSAGE]
    except (TypeError, ValueError) as err:  # not JSON: a set, a float('nan'), a cycle
        return f"is not JSON ({err})"[:_MAX_MESSAGE]
    except RecursionError:
        return "is nested too deeply"
    return _ref_problem(json.loads(canonical))


def _ref_problem(schema: Mapping[str, Any]) -> str | None:
    """Why a `$ref` in `schema` cannot be followed without the network, or None."""
    import referencing
    import referencing.exceptions
    import referencing.jsonschema

    refs = list(_refs(schema))
    if not refs:
        return None
    remote = next((r for r in refs if not r.startswith("#")), None)
    if remote is not None:
        return f"$ref {remote[:80]!r} points outside the schema; use a local one (#/$defs/…)"
    if _has_nested_id(schema):
        return None  # refs are then relative to sub-resources: checked when applied
    spec = referencing.jsonschema.specification_with(
        str(schema.get("$schema", "")), default=referencing.jsonschema.DRAFT202012
    )
    resource = spec.create_resource(schema)
    uri = resource.id() or ""
    resolver = referencing.Registry().with_resource(uri, resource).crawl().resolver(uri)
    for ref in refs:
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            return f"$ref {ref[:80]!r} points nowhere in the schema"
    return None


def _refs(value: Any) -> Iterator[str]:
    """Every string `$ref` in `value`, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _has_nested_id(schema: Mapping[str, Any]) -> bool:
    stack: list[Any] = [v for k, v in schema.items() if k != "$id"]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            if "$id" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _canonical(schema: Mapping[str, Any]) -> str:
    """The schema as canonical JSON: the key of the validator cache."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _validator_class(schema: Mapping[str, Any]) -> Any:
    import jsonschema

    return jsonschema.validators.validator_for(
        schema, default=jsonschema.validators.Draft202012Validator
    )


def validator_of(schema: Mapping[str, Any]) -> Any:
    """The (cached) validator of `schema`; one that is not plain JSON, which the input
    checks refuse but a hand-made ChatRequest may hold, gets one of its own."""
    try:
        key = _canonical(schema)
    except (TypeError, ValueError):
        return _validator_class(schema)(schema)
    return _validator(key)


@functools.lru_cache(maxsize=_CACHED_VALIDATORS)
def _validator(canonical: str) -> Any:
    """The validator of one schema, built once: building one costs far more than using it
    (100k tool calls in one answer must not build 100k validators)."""
    schema = json.loads(canonical)
    return _validator_class(schema)(schema)


def _tool_call(
    raw: RawToolCall, schemas: _Schemas, provider: str, repair: bool
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
    problem = _problem(dict(arguments), schemas.validator(raw.name))
    if problem is not None:
        raise ToolCallError(
            f"{provider} called {raw.name!r} with arguments that do not fit its schema: {problem}",
            tool_name=raw.name,
            provider=provider,
        )
    call_id = raw.id or f"call_{uuid.uuid4().hex[:24]}"
    return ToolCall(id=call_id, name=raw.name, arguments=dict(arguments)), repairs


class _Schemas(dict[str, Mapping[str, Any]]):
    """The declared tools' parameter schemas by name, and their validators once looked up
    (one lookup per tool per answer, however many calls it holds)."""

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__(schemas)
        self._validators: dict[str, Any] = {}

    def validator(self, name: str) -> Any:
        """The validator of tool `name`'s parameters."""
        found = self._validators.get(name)
        if found is None:
            found = self._validators[name] = validator_of(self[name])
        return found


def check_tool_calls(
    raw_calls: list[RawToolCall], request: ChatRequest, provider: str, *, repair: bool = False
) -> tuple[list[ToolCall], list[str]]:
    """Validated tool calls and the repairs applied; ToolCallError for the first bad one."""
    schemas = _Schemas(
        {
            t["function"]["name"]: t["function"].get("parameters") or {"type": "object"}
            for t in request.tools or ()
        }
    )
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
