"""A chat completion request as the simulator reads it: parsed, validated and keyed.

The OpenAI-style chat endpoints (NIM, the gateway, OpenAI) accept the same body; they
differ only in how they word a rejection, so validation returns (param, message) and each
endpoint wraps it in its own error envelope. Anthropic and Gemini requests are translated
into this same canonical body (`anthropic_request.py`, `gemini_request.py`), so one
`SimChat` describes every chat request whatever its wire format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nvgw_nb.sim import content
from nvgw_nb.sim.content import Answer

__all__ = ["SimChat", "content_key", "cut_to_max_tokens", "parse_body", "validate_chat"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass
class SimChat:
    """One chat request after routing and parsing; `body` is the canonical OpenAI-style body."""

    provider: str
    model: str  # NIM model id, gateway deployment or model alias: the latency-table key
    served_model: str  # the model the response names
    body: dict[str, Any]
    key: str
    occurrence: int
    extra_headers: list[tuple[str, str]]
    framing: str = "sse"  # how a stream is framed: "sse", or "json-array" (Gemini without alt=sse)

    @property
    def stream(self) -> bool:
        """Whether the client asked for server-sent events."""
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk (`stream_options.include_usage`)."""
        opts = self.body.get("stream_options")
        return isinstance(opts, Mapping) and opts.get("include_usage") is True

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The declared tools that are objects (anything else is ignored)."""
        tools = self.body.get("tools")
        return [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []

    @property
    def max_tokens(self) -> int | None:
        """The completion-token limit; `max_completion_tokens` wins over `max_tokens`."""
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_body(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, else None."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def content_key(path: str, body: Mapping[str, Any]) -> str:
    """A stable digest of what was asked: equal requests draw the same answers and faults."""
    blob = json.dumps([path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def validate_chat(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(param, message) of the first problem with a chat body, else None."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "'messages' must be a non-empty list of messages."
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return "messages", f"Invalid message at index {i}: expected an object with a role."
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return name, f"{name} must be an integer, got {value!r}."
        if value < 1:
            return name, f"{name} must be at least 1, got {value}."
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        return "temperature", f"temperature must be in [0, 2], got {temperature!r}."
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)
    ):
        return "tools", "'tools' must be a list of tool objects."
    return None


def cut_to_max_tokens(answer: Answer, limit: int | None) -> Answer:
    """A text answer cut to `limit` tokens, finishing with `length`; tool calls are kept whole."""
    if limit is None or answer.content is None or answer.tool_calls:
        return answer
    if content.count_tokens(answer.content) <= limit:
        return answer
    return Answer(content.truncate_to_tokens(answer.content, limit), (), "length")
