"""An Anthropic Messages request, validated and translated into the canonical chat body.

The canonical body is the OpenAI-style one every simulated model answers
(`chat_request.py`): top-level `system` becomes a system message, `tool_use` blocks become
assistant `tool_calls`, `tool_result` blocks become `tool` messages, `input_schema` becomes
`parameters`, and structured output becomes `response_format` (`structured.py`). Rejections
use the API's wording (`field: problem`), as (message) strings the route wraps in an
`invalid_request_error`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nvgw_nb.sim import content, structured

__all__ = ["translate"]

JSON = Any


def _text(value: object) -> str:
    """The text of a string or of a list of text blocks."""
    return content.text_of(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_numbers(body: Mapping[str, Any]) -> str | None:
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not _is_int(max_tokens):
        return "max_tokens: Input should be a valid integer"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name}: Input should be a valid number"
        if not 0 <= value <= high:
            return f"{name}: Input should be less than or equal to {high:g} and at least 0"
    return None


def _tools(body: Mapping[str, Any]) -> list[dict[str, JSON]] | str:
    tools = body.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    out: list[dict[str, JSON]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
            return f"tools.{i}.name: Field required"
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, code execution): never called here
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping):
            return f"tools.{i}.custom.input_schema: Field required"
        function = {"name": tool["name"], "description": tool.get("description", "")}
        out.append({"type": "function", "function": {**function, "parameters": dict(schema)}})
    return out


def _tool_choice(body: Mapping[str, Any], names: list[str]) -> tuple[JSON, str | None]:
    """(canonical tool_choice, error message)."""
    choice = body.get("tool_choice")
    if choice is None:
        return None, None
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind not in ("auto", "any", "tool", "none"):
        return None, (
            f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'"
        )
    if kind == "none":
        return "none", None
    if kind == "tool":
        name = choice.get("name")
        if name not in names:
            return None, f"tool_choice: Tool '{name}' not found in provided tools"
        return {"type": "function", "function": {"name": name}}, None
    return "auto", None


def _messages(raw: object) -> list[dict[str, JSON]] | str:
    if not isinstance(raw, list) or not raw:
        if raw is None:
            return "messages: Field required"
        return "messages: at least one message is required"
    out: list[dict[str, JSON]] = []
    for i, message in enumerate(raw):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role == "system":
            return (
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        blocks = message.get("content")
        if isinstance(blocks, str):
            out.append({"role": role, "content": blocks})
            continue
        if not isinstance(blocks, list):
            return f"messages.{i}.content: Input should be a valid list"
        texts: list[str] = []
        calls: list[dict[str, JSON]] = []
        results: list[dict[str, JSON]] = []
        for block in blocks:
            kind = block.get("type") if isinstance(block, Mapping) else None
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use" and role == "assistant":
                arguments = json.dumps(block.get("input", {}))
                function = {"name": str(block.get("name", "")), "arguments": arguments}
                calls.append({"id": block.get("id"), "type": "function", "function": function})
            elif kind == "tool_result" and role == "user":
                result = _text(block.get("content", ""))
                results.append(
                    {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": result}
                )
        if role == "assistant":
            assistant: dict[str, JSON] = {"role": "assistant", "content": " ".join(texts) or None}
            if calls:
                assistant["tool_calls"] = calls
            out.append(assistant)
            continue
        if texts:
            out.append({"role": "user", "content": " ".join(texts)})
        out.extend(results)  # results last: the model answers the tool's output
    return out


def translate(body: Mapping[str, Any]) -> tuple[str, dict[str, JSON]] | str:
    """(model, canonical chat body) of a Messages request, else the API's error message."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    problem = _check_numbers(body)
    if problem is not None:
        return problem
    messages = _messages(body.get("messages"))
    if isinstance(messages, str):
        return messages
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        return "system: Input should be a valid string or a list of text blocks"
    system_text = _text(system)
    if system_text:
        messages.insert(0, {"role": "system", "content": system_text})
    tools = _tools(body)
    if isinstance(tools, str):
        return tools
    tool_choice, problem = _tool_choice(body, content.tool_names(tools))
    if problem is not None:
        return problem
    canonical: dict[str, JSON] = {
        "messages": messages,
        "max_tokens": body["max_tokens"],
        "stream": body.get("stream") is True,
    }
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        canonical["temperature"] = temperature  # the simulated model's repeats follow it
    if tools:
        canonical["tools"] = tools
    if tool_choice is not None:
        canonical["tool_choice"] = tool_choice
    response_format = structured.anthropic_response_format(body, system_text)
    if response_format is not None:
        canonical["response_format"] = response_format
    return model, canonical
