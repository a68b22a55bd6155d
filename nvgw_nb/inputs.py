"""Turn a caller's arguments into a validated `ChatRequest` — before any request is sent.

Every mistake is a `ConfigError` that says which argument (and which message index
and field) is wrong — also what would only fail later: a NaN, a lone surrogate (which
cannot be encoded as UTF-8), a tool schema that is not a valid JSON schema.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from nvgw_nb.errors import ConfigError
from nvgw_nb.results import ChatRequest, Message
from nvgw_nb.validation import schema_error

__all__ = ["chat_request", "check_unicode"]

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLES = ("system", "developer", "user", "assistant", "tool")


def chat_request(
    prompt: str | None = None,
    *,
    messages: Sequence[Mapping[str, Any] | Message] | None = None,
    system: str | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    seed: int | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    stream: bool = False,
) -> ChatRequest:
    """Validate the arguments of `Session.chat` and friends into a ChatRequest."""
    parsed = _messages(prompt, messages, system)
    _check_range("temperature", temperature, 0.0, 2.0)
    _check_range("top_p", top_p, 0.0, 1.0, low_open=True)
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise ConfigError("max_tokens must be a whole number of at least 1")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError("seed must be a whole number")
    stops = [stop] if isinstance(stop, str) else list(stop) if stop is not None else None
    if stops is not None and (
        not stops or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ConfigError("stop must be one to four non-empty strings")
    check_unicode(stops, "stop")
    tool_list = _tools(tools)
    choice = _tool_choice(tool_choice, tool_list)
    return ChatRequest(
        messages=parsed,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=stops,
        seed=seed,
        tools=tool_list,
        tool_choice=choice,
        response_format=response_format,
        stream=stream,
    )


def _messages(
    prompt: str | None,
    messages: Sequence[Mapping[str, Any] | Message] | None,
    system: str | None,
) -> list[Message]:
    if (prompt is None) == (messages is None):
        raise ConfigError("give either a prompt or messages=[...], not both and not neither")
    out: list[Message] = []
    if system is not None:
        if not isinstance(system, str) or not system.strip():
            raise ConfigError("system must be a non-empty string")
        check_unicode(system, "system")
        out.append(Message(role="system", content=system))
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigError("prompt must be a non-empty string")
        check_unicode(prompt, "prompt")
        out.append(Message(role="user", content=prompt))
        return out
    assert messages is not None
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise ConfigError("messages must be a non-empty list of {'role': ..., 'content': ...}")
    call_ids: set[str] = set()
    for index, item in enumerate(messages):
        message = _message(index, item)
        check_unicode(message.model_dump(exclude_none=True), f"messages[{index}]")
        call_ids.update(call.id for call in message.tool_calls or ())
        if message.role == "tool" and call_ids and message.tool_call_id not in call_ids:
            raise ConfigError(
                f"messages[{index}].tool_call_id {message.tool_call_id!r} answers no earlier "
                "assistant tool call"
            )
        out.append(message)
    if out[-1].role == "assistant" and not out[-1].content:
        raise ConfigError(f"messages[{len(out) - 1}] is an empty assistant message at the end")
    return out


def _message(index: int, item: Mapping[str, Any] | Message) -> Message:
    where = f"messages[{index}]"
    if isinstance(item, Message):
        return item
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} must be a dict with 'role' and 'content'")
    role = item.get("role")
    if role not in _ROLES:
        raise ConfigError(f"{where}.role must be one of {', '.join(_ROLES)} (got {role!r})")
    content = item.get("content")
    if content is not None and not isinstance(content, str):
        raise ConfigError(f"{where}.content must be a string")
    if role == "tool" and not item.get("tool_call_id"):
        raise ConfigError(f"{where}.tool_call_id is required for a tool message")
    if not content and not (role == "assistant" and item.get("tool_calls")):
        raise ConfigError(f"{where}.content is empty")
    try:
        return Message.model_validate(dict(item))
    except ValidationError as err:
        first = err.errors(include_input=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}.{field}: {first['msg']}") from None


def _check_range(
    name: str, value: float | None, low: float, high: float, *, low_open: bool = False
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number")
    bracket = "(" if low_open else "["
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number in {bracket}{low:g}, {high:g}]")
    if value > high or value < low or (low_open and value == low):
        raise ConfigError(f"{name} must be in {bracket}{low:g}, {high:g}] (got {value:g})")


def _tools(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if isinstance(tools, Mapping) or not isinstance(tools, Sequence) or not tools:
        raise ConfigError("tools must be a non-empty list of OpenAI-style tool definitions")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if (
            not isinstance(tool, Mapping)
            or tool.get("type") != "function"
            or not isinstance(function, Mapping)
        ):
            raise ConfigError(f"{where} must be {{'type': 'function', 'function': {{...}}}}")
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise ConfigError(f"{where}.function.name must match [A-Za-z0-9_-]{{1,64}}")
        if name in seen:
            raise ConfigError(f"{where}.function.name {name!r} is declared twice")
        seen.add(name)
        params = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, Mapping) or params.get("type", "object") != "object":
            raise ConfigError(f"{where}.function.parameters must be a JSON schema object")
        problem = schema_error(params)
        if problem is not None:
            raise ConfigError(
                f"{where}.function.parameters is not a valid JSON schema ({problem}); fix it "
                "before sending: the provider would bill the call, and its tool calls could "
                "not be checked"
            )
        check_unicode(tool, where)
        out.append({"type": "function", "function": {**function, "parameters": dict(params)}})
    return out


def _tool_choice(
    choice: str | Mapping[str, Any] | None, tools: list[dict[str, Any]] | None
) -> str | dict[str, Any] | None:
    if choice is None:
        return None
    names = {t["function"]["name"] for t in tools or ()}
    if choice in ("auto", "none", "required"):
        if choice == "required" and not names:
            raise ConfigError("tool_choice='required' needs tools=[...]")
        return str(choice)
    name = choice if isinstance(choice, str) else (choice.get("function") or {}).get("name")
    if name not in names:
        raise ConfigError(
            f"tool_choice names {name!r}, which is not among the declared tools"
            + (f" ({', '.join(sorted(names))})" if names else " (no tools declared)")
        )
    return {"type": "function", "function": {"name": name}}


def check_unicode(value: object, where: str) -> None:
    """`ConfigError` naming where `value` (a string, or JSON-like lists and dicts of them)
    holds a lone surrogate: it cannot be encoded as UTF-8, so it could never be sent."""
    stack: list[tuple[object, str]] = [(value, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                named = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key!r}]"
                if isinstance(key, str):
                    _check_text(key, f"a key of {path}")
                stack.append((inner, named))
        elif isinstance(item, list | tuple):
            stack.extend((inner, f"{path}[{i}]") for i, inner in enumerate(item))


def _check_text(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ConfigError(
            f"{where} holds a lone surrogate ({text[err.start]!r} at character {err.start}), "
            "which cannot be sent as UTF-8: fix the text (a broken emoji pair, or bytes "
            "decoded with errors='surrogateescape', leave one)"
        ) from None
