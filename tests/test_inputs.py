"""Bad call arguments fail before any request, naming the argument, index and field."""

from __future__ import annotations

from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("no prompt", {}, "either a prompt or messages"),
    ("both", {"prompt": "hi", "messages": [{"role": "user", "content": "x"}]}, "not both"),
    ("blank prompt", {"prompt": "   "}, "prompt must be a non-empty string"),
    ("empty messages", {"messages": []}, "non-empty list"),
    ("bad role", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    (
        "empty content",
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": ""}]},
        "messages[1].content is empty",
    ),
    ("non-text content", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("tool without id", {"messages": [{"role": "tool", "content": "r"}]}, "tool_call_id"),
    (
        "tool result for an unknown call",
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "call_1", "name": "lookup", "arguments": {}}],
                },
                {"role": "tool", "tool_call_id": "call_9", "content": "sunny"},
            ]
        },
        "messages[2].tool_call_id 'call_9' answers no earlier",
    ),
    ("temperature", {"prompt": "hi", "temperature": 2.5}, "temperature must be in [0, 2]"),
    ("top_p zero", {"prompt": "hi", "top_p": 0}, "top_p must be in (0, 1]"),
    ("max_tokens", {"prompt": "hi", "max_tokens": 0}, "max_tokens"),
    ("max_tokens float", {"prompt": "hi", "max_tokens": 1.5}, "max_tokens"),
    ("stop", {"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop must be"),
    ("tools dict", {"prompt": "hi", "tools": TOOL}, "tools must be a non-empty list"),
    (
        "duplicate tool",
        {"prompt": "hi", "tools": [TOOL, TOOL]},
        "tools[1].function.name 'lookup' is declared twice",
    ),
    (
        "bad tool name",
        {"prompt": "hi", "tools": [{"type": "function", "function": {"name": "a b"}}]},
        "tools[0].function.name",
    ),
    (
        "tool_choice undeclared",
        {"prompt": "hi", "tools": [TOOL], "tool_choice": "search"},
        "tool_choice names 'search'",
    ),
    ("required without tools", {"prompt": "hi", "tool_choice": "required"}, "needs tools"),
    ("unknown role", {"prompt": "hi", "role": "captain"}, "unknown role 'captain'"),
    ("unknown provider", {"prompt": "hi", "providers": ["nvidia-nim", "nim"]}, "unknown provider"),
    ("empty providers", {"prompt": "hi", "providers": []}, "empty"),
    (
        "duplicate providers",
        {"prompt": "hi", "providers": ["nvidia-nim", "nvidia-nim"]},
        "more than once",
    ),
    ("external provider", {"prompt": "hi", "providers": ["openai"]}, "NVGW_ALLOW_EXTERNAL"),
]


@pytest.mark.parametrize(("case", "kwargs", "says"), BAD_CALLS, ids=[c for c, _, _ in BAD_CALLS])
def test_bad_input_fails_before_any_request(
    sim: Simulator, session: nv.Session, case: str, kwargs: dict[str, Any], says: str
) -> None:
    """ConfigError with a message that names what is wrong; the simulator saw nothing."""
    with pytest.raises(nv.ConfigError) as info:
        session.chat(**kwargs)
    assert says in str(info.value), case
    requests = sim.stats()["requests"]
    assert requests["nvidia-nim"]["chat"] == 0
    assert requests["nvidia-gateway"]["chat"] == 0


def test_good_messages_with_system_and_tools(session: nv.Session) -> None:
    """A full conversation with a system prompt, tools and tool_choice goes through."""
    result = session.chat(
        messages=[{"role": "user", "content": "look it up"}],
        system="Be brief.",
        tools=[TOOL],
        tool_choice="lookup",
        temperature=0.2,
        max_tokens=64,
    )
    assert result.tool_calls[0].name == "lookup"
