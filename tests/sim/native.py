"""Test-local request builders and answer readers for the OpenAI, Anthropic and Gemini wires.

Built from WIRE.md by hand: no nvgw_nb code other than the simulator under test.
"""

from __future__ import annotations

import json
from typing import Any

from .conftest import WEATHER_TOOL, Outcome, WireClient, parse_named_sse, parse_sse

ANTHROPIC_WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}
GEMINI_WEATHER = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING"},
                    "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
                    "days": {"type": "INTEGER"},
                },
                "required": ["city", "unit"],
            },
        }
    ]
}
NORMAL_FINISH = {"openai": "stop", "anthropic": "end_turn", "google-genai": "STOP"}
LENGTH_FINISH = {"openai": "length", "anthropic": "max_tokens", "google-genai": "MAX_TOKENS"}
FILTER_FINISH = {"openai": "content_filter", "anthropic": "refusal", "google-genai": "SAFETY"}
TOOL_FINISH = {"openai": "tool_calls", "anthropic": "tool_use", "google-genai": "STOP"}


def ask(
    wire: WireClient,
    provider: str,
    prompt: str = "Explain retry budgets for HTTP clients",
    *,
    stream: bool = False,
    tools: bool = False,
    system: str | None = None,
    **extra: Any,
) -> Outcome:
    """One native request to `provider` (JSON or SSE), optionally with the weather tool."""
    if provider == "openai":
        messages = [{"role": "system", "content": system}] if system else []
        body: dict[str, Any] = {"messages": [*messages, {"role": "user", "content": prompt}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        if tools:
            body["tools"] = [WEATHER_TOOL]
        return wire.openai_chat(body | extra)
    if provider == "anthropic":
        body = {"messages": [{"role": "user", "content": prompt}], "stream": stream}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [ANTHROPIC_WEATHER]
        return wire.anthropic_messages(body | extra)
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if tools:
        body["tools"] = [GEMINI_WEATHER]
    return wire.google(body | extra, stream=stream)


def _call(name: str, arguments: Any) -> dict[str, str]:
    return {
        "name": name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
    }


def _openai(out: Outcome, stream: bool) -> dict[str, Any]:
    if not stream:
        choice = out.json()["choices"][0]
        message = choice["message"]
        calls = [
            _call(c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or []
        ]
        return {
            "content": message["content"] or "",
            "tool_calls": calls,
            "finish": choice["finish_reason"],
            "complete": True,
        }
    events = out.events
    text, calls, finish = "", {}, None
    for event in events:
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for frag in delta.get("tool_calls") or []:
                call = calls.setdefault(frag["index"], {"name": "", "arguments": ""})
                call["name"] = (frag.get("function") or {}).get("name") or call["name"]
                call["arguments"] += (frag.get("function") or {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {
        "content": text,
        "tool_calls": list(calls.values()),
        "finish": finish,
        "complete": bool(events) and events[-1] == "[DONE]",
    }


def _anthropic(out: Outcome, stream: bool) -> dict[str, Any]:
    if not stream:
        doc = out.json()
        blocks = doc["content"]
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        calls = [_call(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
        return {
            "content": text,
            "tool_calls": calls,
            "finish": doc["stop_reason"],
            "complete": True,
        }
    events = parse_named_sse(out.body)
    text, calls, finish = "", {}, None
    for name, data in events:
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use":
            calls[data["index"]] = {"name": data["content_block"]["name"], "arguments": ""}
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            else:
                calls[data["index"]]["arguments"] += delta["partial_json"]
        elif name == "message_delta":
            finish = data["delta"]["stop_reason"]
    complete = bool(events) and events[-1][0] == "message_stop"
    return {
        "content": text,
        "tool_calls": list(calls.values()),
        "finish": finish,
        "complete": complete,
    }


def gemini_responses(out: Outcome, stream: bool) -> list[Any]:
    """The GenerateContentResponses of a Gemini answer: one, SSE events, or a JSON array."""
    if not stream:
        return [out.json()]
    if out.headers.get("content-type", "").startswith("application/json"):
        return list(json.loads(out.body))
    return parse_sse(out.body)


def _gemini(out: Outcome, stream: bool) -> dict[str, Any]:
    text, calls, finish = "", [], None
    for response in gemini_responses(out, stream):
        for candidate in response.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                text += part.get("text", "")
                if "functionCall" in part:
                    calls.append(_call(part["functionCall"]["name"], part["functionCall"]["args"]))
            finish = candidate.get("finishReason") or finish
    return {"content": text, "tool_calls": calls, "finish": finish, "complete": finish is not None}


def answer_of(provider: str, out: Outcome, stream: bool) -> dict[str, Any]:
    """content / tool_calls ({name, arguments as a string}) / finish / complete of a 200."""
    assert out.status == 200, (out.status, out.body[:300])
    reader = {"openai": _openai, "anthropic": _anthropic, "google-genai": _gemini}[provider]
    return reader(out, stream)
