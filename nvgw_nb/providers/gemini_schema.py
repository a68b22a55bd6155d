"""JSON Schema → the OpenAPI-subset Schema Gemini takes for tools and `responseSchema`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["gemini_schema"]

_TYPES = {
    "object": "OBJECT",
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
}
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_KEPT = ("description", "enum", "minItems", "maxItems", "minimum", "maximum")


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a JSON Schema to the Schema Gemini takes for tools and `responseSchema`.

    Types become upper case, `type: [x, "null"]` and `anyOf: [x, {type: null}]` become
    `nullable`, local `$ref`s are inlined (Gemini has no `$defs`), `const` becomes a
    one-value `enum`, and keywords Gemini rejects (`additionalProperties`, `$schema`,
    `default`, `title`, unsupported `format`s, …) are dropped.

    >>> gemini_schema({"type": "object", "properties": {"n": {"type": ["integer", "null"]}},
    ...                "additionalProperties": False})
    {'type': 'OBJECT', 'properties': {'n': {'type': 'INTEGER', 'nullable': True}}}
    """
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), Mapping):
            defs.update(schema[key])
    return _convert(schema, defs, frozenset())


def _convert(
    schema: Mapping[str, Any], defs: Mapping[str, Any], seen: frozenset[str]
) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        # A recursive or unresolvable reference cannot be expressed: keep only the siblings.
        base = (
            {}
            if name in seen or not isinstance(target, Mapping)
            else _convert(target, defs, seen | {name})
        )
        return {**base, **_convert(siblings, defs, seen)}
    out: dict[str, Any] = {}
    nullable = schema.get("nullable") is True
    for part in schema.get("allOf") or ():  # pydantic wraps a described $ref in allOf
        if isinstance(part, Mapping):
            out.update(_convert(part, defs, seen))
    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if isinstance(v, Mapping) and v.get("type") != "null"]
        nullable = nullable or len(kept) < len(variants)
        if len(kept) == 1:
            out.update(_convert(kept[0], defs, seen))
        elif kept:
            out["anyOf"] = [_convert(v, defs, seen) for v in kept]
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kinds = [k for k in kind if k != "null"]
        if len(kinds) == 1:
            kind = kinds[0]
        else:
            kind = None
            if kinds:
                out["anyOf"] = [{"type": _TYPES[k]} for k in kinds if k in _TYPES]
    if kind == "null":
        nullable, kind = True, None
    if kind is None and "properties" in schema:
        kind = "object"
    if kind is None and "items" in schema:
        kind = "array"
    if isinstance(kind, str) and kind.lower() in _TYPES:
        out["type"] = _TYPES[kind.lower()]
    if schema.get("format") in _FORMATS.get(str(out.get("type")), ()):
        out["format"] = schema["format"]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key in _KEPT:
        if key in schema:
            out[key] = schema[key]
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        out["properties"] = {
            str(name): _convert(sub, defs, seen)
            for name, sub in properties.items()
            if isinstance(sub, Mapping)
        }
    if isinstance(schema.get("required"), list):
        out["required"] = list(schema["required"])
    if isinstance(schema.get("items"), Mapping):
        out["items"] = _convert(schema["items"], defs, seen)
    if nullable:
        out["nullable"] = True
    return out


# --- response ---------------------------------------------------------------------------
