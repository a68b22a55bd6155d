"""A Gemini generateContent request, validated and translated into the canonical chat body.

`contents` turns into messages (`model` → `assistant`), `systemInstruction` into a system
message, `functionCall` / `functionResponse` parts into tool calls and `tool` messages
(Gemini calls usually carry no id, so ids are matched by function name, in order),
`functionDeclarations` into OpenAI-style tools (upper-case OpenAPI types lowered),
`generationConfig` into `max_tokens` / `temperature` / `response_format`. Like the real
API (proto3 JSON), both camelCase and snake_case field names are accepted and unknown
top-level fields are refused.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from nvgw_nb.sim import structured

__all__ = ["translate"]

JSON = Any

_TOP_LEVEL = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    }
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]`, also under its snake_case spelling."""
    return obj.get(name, obj.get(_snake(name)))


def _parts_text(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return " ".join(str(p["text"]) for p in parts if isinstance(p, Mapping) and "text" in p)


class _CallIds:
    """Synthesised call ids, matched to function responses by name in call order."""

    def __init__(self) -> None:
        self._count = 0
        self._open: dict[str, list[str]] = defaultdict(list)

    def call(self, name: str, given: object) -> str:
        self._count += 1
        call_id = given if isinstance(given, str) and given else f"gemini-call-{self._count}"
        self._open[name].append(call_id)
        return call_id

    def response(self, name: str, given: object) -> str:
        if isinstance(given, str) and given:
            return given
        return self._open[name].pop(0) if self._open[name] else f"gemini-call-{name}"


def _messages(contents: object) -> list[dict[str, JSON]] | str:
    if not isinstance(contents, list) or not contents:
        return "* GenerateContentRequest.contents: contents is not specified\n"
    ids = _CallIds()
    out: list[dict[str, JSON]] = []
    for i, turn in enumerate(contents):
        role = (turn.get("role") or "user") if isinstance(turn, Mapping) else None
        if role not in ("user", "model"):
            return "Please use a valid role: user, model."
        parts = turn.get("parts") if isinstance(turn, Mapping) else None
        if not isinstance(parts, list) or not parts:
            return (
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )
        texts: list[str] = []
        calls: list[dict[str, JSON]] = []
        results: list[dict[str, JSON]] = []
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            call = _field(part, "functionCall")
            answer = _field(part, "functionResponse")
            if "text" in part and not part.get("thought"):
                texts.append(str(part["text"]))
            elif isinstance(call, Mapping) and role == "model":
                name = str(call.get("name", ""))
                function = {"name": name, "arguments": json.dumps(call.get("args") or {})}
                call_id = ids.call(name, call.get("id"))
                calls.append({"id": call_id, "type": "function", "function": function})
            elif isinstance(answer, Mapping) and role == "user":
                name = str(answer.get("name", ""))
                result = json.dumps(answer.get("response") or {})
                call_id = ids.response(name, answer.get("id"))
                results.append({"role": "tool", "tool_call_id": call_id, "content": result})
        if role == "model":
            assistant: dict[str, JSON] = {"role": "assistant", "content": " ".join(texts) or None}
            if calls:
                assistant["tool_calls"] = calls
            out.append(assistant)
            continue
        if texts:
            out.append({"role": "user", "content": " ".join(texts)})
        out.extend(results)
    return out


def _tools(body: Mapping[str, Any]) -> list[dict[str, JSON]]:
    out: list[dict[str, JSON]] = []
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        declarations = _field(tool, "functionDeclarations") if isinstance(tool, Mapping) else None
        for decl in declarations if isinstance(declarations, list) else ():
            if not isinstance(decl, Mapping) or not isinstance(decl.get("name"), str):
                continue
            json_schema = _field(decl, "parametersJsonSchema")
            params = _field(decl, "parameters")
            if isinstance(json_schema, Mapping):
                parameters = dict(json_schema)
            elif isinstance(params, Mapping):
                parameters = structured.gemini_schema(params)
            else:
                parameters = {"type": "object", "properties": {}}
            function = {"name": decl["name"], "description": decl.get("description", "")}
            out.append({"type": "function", "function": {**function, "parameters": parameters}})
    return out


def _tool_choice(body: Mapping[str, Any]) -> JSON:
    config = _field(body, "toolConfig")
    calling = _field(config, "functionCallingConfig") if isinstance(config, Mapping) else None
    if not isinstance(calling, Mapping):
        return None
    mode = calling.get("mode")
    if mode == "NONE":
        return "none"
    allowed = _field(calling, "allowedFunctionNames")
    if mode == "ANY" and isinstance(allowed, list) and allowed:
        return {"type": "function", "function": {"name": allowed[0]}}
    return "auto"


def _generation(config: Mapping[str, Any], canonical: dict[str, JSON]) -> str | None:
    limit = _field(config, "maxOutputTokens")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return (
                "* GenerateContentRequest.generation_config.max_output_tokens: "
                "must be a positive integer\n"
            )
        canonical["max_tokens"] = limit
    temperature = _field(config, "temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            return "Invalid value at 'generation_config.temperature' (TYPE_FLOAT)"
        if not 0 <= temperature <= 2:
            return (
                "* GenerateContentRequest.generation_config.temperature: "
                "temperature must be in the range [0.0, 2.0]\n"
            )
        canonical["temperature"] = temperature
    camel = {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): v for k, v in config.items()}
    response_format = structured.gemini_response_format(camel)
    if response_format is not None:
        canonical["response_format"] = response_format
    return None


def translate(body: Mapping[str, Any], *, stream: bool) -> dict[str, JSON] | str:
    """The canonical chat body of a generateContent request, else the API's error message."""
    for name in body:
        if name not in _TOP_LEVEL and name not in {_snake(n) for n in _TOP_LEVEL}:
            return f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
    messages = _messages(body.get("contents"))
    if isinstance(messages, str):
        return messages
    system = _field(body, "systemInstruction")
    system_text = _parts_text(system.get("parts")) if isinstance(system, Mapping) else ""
    if system_text:
        messages.insert(0, {"role": "system", "content": system_text})
    canonical: dict[str, JSON] = {"messages": messages, "stream": stream}
    tools = _tools(body)
    if tools:
        canonical["tools"] = tools
    tool_choice = _tool_choice(body)
    if tool_choice is not None:
        canonical["tool_choice"] = tool_choice
    config = _field(body, "generationConfig")
    if isinstance(config, Mapping):
        problem = _generation(config, canonical)
        if problem is not None:
            return problem
    return canonical
