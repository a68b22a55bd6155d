"""Structured output: where each provider carries the JSON schema, and answers that break it.

Every request is translated to the canonical OpenAI `response_format`
(`{"type": "json_schema", "json_schema": {"schema": ...}}` or `{"type": "json_object"}`),
so one code path answers with JSON that fits the schema, and the B6 fault with JSON that
does not. Where the schema comes from:

- NIM, the gateway, OpenAI: `response_format` as sent.
- Anthropic: `output_config.format` (`{"type": "json_schema", "schema": ...}`, the
  Messages API's structured outputs) when present; otherwise the **system prompt
  convention** nvgw_nb's SDK follows: the system prompt ends with the line
  ``Respond with only a JSON document matching this JSON schema: <schema as JSON>``
  (`SYSTEM_SCHEMA_MARKER`); the JSON value right after the marker is the schema. A
  system prompt with ``Respond with only a JSON document`` and no schema is JSON mode.
- Gemini: `generationConfig.responseMimeType == "application/json"` with
  `responseSchema` (OpenAPI subset, upper-case `type` names such as "OBJECT") or
  `responseJsonSchema` (plain JSON Schema); without a schema it is JSON mode.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from nvgw_nb.sim import content

__all__ = [
    "SYSTEM_SCHEMA_MARKER",
    "anthropic_response_format",
    "gemini_response_format",
    "gemini_schema",
    "misfit",
    "schema_of",
]

JSON = Any

SYSTEM_SCHEMA_MARKER = "Respond with only a JSON document matching this JSON schema:"
"""The line that carries a JSON schema in an Anthropic system prompt (nvgw_nb's convention)."""

_SYSTEM_JSON_ONLY = "Respond with only a JSON document"  # JSON mode: no schema follows


def _json_schema_format(schema: Mapping[str, Any]) -> dict[str, JSON]:
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": dict(schema)}}


def schema_of(response_format: object) -> Mapping[str, Any] | None:
    """The JSON schema of a canonical `response_format`, if it names a non-empty one."""
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    return schema if isinstance(schema, Mapping) and schema else None


def anthropic_response_format(body: Mapping[str, Any], system: str) -> dict[str, JSON] | None:
    """The canonical `response_format` of an Anthropic request (see the module docstring)."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        if isinstance(schema, Mapping):
            return _json_schema_format(schema)
    at = system.rfind(SYSTEM_SCHEMA_MARKER)
    if at < 0:
        return {"type": "json_object"} if _SYSTEM_JSON_ONLY in system else None
    rest = system[at + len(SYSTEM_SCHEMA_MARKER) :].lstrip()
    try:
        schema, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return {"type": "json_object"}  # asked for JSON, but the schema is unreadable
    return _json_schema_format(schema) if isinstance(schema, Mapping) else {"type": "json_object"}


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, JSON]:
    """Gemini's OpenAPI-style schema as JSON Schema: lower-case types, `nullable` as a union."""
    out: dict[str, JSON] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {
                name: gemini_schema(sub) if isinstance(sub, Mapping) else sub
                for name, sub in value.items()
            }
        elif key == "items" and isinstance(value, Mapping):
            out[key] = gemini_schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [gemini_schema(v) if isinstance(v, Mapping) else v for v in value]
        elif key not in ("nullable", "propertyOrdering"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def gemini_response_format(config: Mapping[str, Any]) -> dict[str, JSON] | None:
    """The canonical `response_format` of a Gemini `generationConfig`."""
    if config.get("responseMimeType") != "application/json":
        return None
    json_schema = config.get("responseJsonSchema")
    if isinstance(json_schema, Mapping) and json_schema:
        return _json_schema_format(json_schema)
    schema = config.get("responseSchema")
    if isinstance(schema, Mapping) and schema:
        return _json_schema_format(gemini_schema(schema))
    return {"type": "json_object"}


# --------------------------------------------------------------------- B6


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        kind = "object"
    return kind if isinstance(kind, str) else None


_WRONG: Mapping[str, JSON] = {
    "string": 12345,
    "integer": "twelve",
    "number": "twelve point five",
    "boolean": "yes",
    "array": "not-a-list",
    "object": "not-an-object",
    "null": "not-null",
}


_NO_MISFIT = object()


def _wrong_value(schema: Mapping[str, Any], root: Mapping[str, Any]) -> JSON:
    """A value of the wrong type (or outside the enum) for `schema`, else a sentinel."""
    schema = content.resolve_ref(schema, root)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return "__not_one_of_the_allowed_values__"
    kind = _kind(schema)
    if kind is None:
        return _NO_MISFIT
    return _WRONG.get(kind, _NO_MISFIT)


def misfit(
    schema: Mapping[str, Any], rng: random.Random, topic: content.Topic
) -> tuple[JSON, bool]:
    """(document, True): JSON that breaks `schema` (a required property missing, or a
    wrong type), or (None, False) when the schema accepts anything.
    """
    root = schema
    schema = content.resolve_ref(schema, root)
    valid = content.value_from_schema(schema, rng, topic, root=root)
    kind = _kind(schema)
    if kind == "object" and isinstance(valid, dict):
        required = schema.get("required")
        present = [k for k in required if k in valid] if isinstance(required, list) else []
        if present:
            del valid[present[0]]
            return valid, True
        props = schema.get("properties")
        for name, sub in props.items() if isinstance(props, Mapping) else ():
            wrong = _wrong_value(sub, root) if isinstance(sub, Mapping) else _NO_MISFIT
            if wrong is not _NO_MISFIT:
                valid[name] = wrong
                return valid, True
        if schema.get("type") is None:
            return None, False  # "properties" alone does not require an object
        return [valid], True  # an array where an object is required
    if kind == "array":
        return {"items": valid}, True
    wrong = _wrong_value(schema, root)
    return (wrong, True) if wrong is not _NO_MISFIT else (None, False)
