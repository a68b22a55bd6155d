"""How an external provider renders an answer: the `Dialect` type each wire module exports.

NIM and the gateway are rendered by `wire.py` and `faults.py`. The external providers
(`openai_wire.py`, `anthropic_wire.py`, `gemini_wire.py`) each export one `Dialect`
(collected in `dialects.py`), and `completion.py` / `faults.py` call it where they would
otherwise branch per provider. A dialect is pure: it turns what the model said (`Reply`)
into its own wire format.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.wire import JSON, Events

__all__ = ["Dialect", "Reply"]


@dataclass(frozen=True)
class Reply:
    """What the model said, ready to render: id, clock, answer and canonical usage.

    `usage` has the OpenAI names (`prompt_tokens`, `completion_tokens`, `total_tokens`);
    each dialect renames them.
    """

    response_id: str
    created: int
    answer: Answer
    usage: dict[str, int]


@dataclass(frozen=True)
class Dialect:
    """The rendering functions of one provider's wire format.

    - `response_id(rng)`: the id of a completion / message / GenerateContentResponse;
    - `success_headers(seconds)`: headers of a 200 given the nominal processing time;
    - `stream_headers(chat)`: headers of a streamed 200;
    - `document(chat, reply)`: the complete JSON answer;
    - `stream_events(chat, reply)`: the streamed answer, with the index of the first
      content event and the index just past the last one;
    - `fault_response(chat, fault, variant, provider_down, time_scale)`: the response of a
      fault that replaces the whole answer (N1, R1, R2, X1-X4), else None;
    - `b3_document` / `b3_stream`: a 200 without the answer's main field, or with an
      in-band error object (B3), alternating by variant.
    """

    response_id: Callable[[random.Random], str]
    success_headers: Callable[[float], list[tuple[str, str]]]
    stream_headers: Callable[[SimChat], list[tuple[str, str]]]
    document: Callable[[SimChat, Reply], dict[str, JSON]]
    stream_events: Callable[[SimChat, Reply], tuple[Events, int, int]]
    fault_response: Callable[[SimChat, str | None, int, bool, float], SimResponse | None]
    b3_document: Callable[[SimChat, dict[str, JSON], int], dict[str, JSON]]
    b3_stream: Callable[[SimChat, Events, int, int], Events]
