"""How a provider renders an answer: the `Dialect` type each provider's wire module exports.

Each chat provider has one wire module that exports a `Dialect`: `nim_wire.py`,
`gateway_wire.py`, `openai_wire.py`, `anthropic_wire.py` and `gemini_wire.py` (collected
in `dialects.py`). `completion.py` and `faults.py` call the dialect where they would
otherwise branch per provider. A dialect is pure: it turns what the model said
(`SimReply`) into its own wire format.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.wire import JSON, Events

__all__ = ["Dialect", "SimReply"]


@dataclass(frozen=True)
class SimReply:
    """What the simulated model said, ready to render: id, clock, answer and canonical usage.

    Not the SDK's `nvgw_nb.providers.base.Reply` (what a provider parsed from a response):
    this is the simulator's side, before any wire format. `usage` has the OpenAI names
    (`prompt_tokens`, `completion_tokens`, `total_tokens`); each dialect renames them.
    """

    response_id: str
    created: int
    answer: Answer
    usage: dict[str, int]


@dataclass(frozen=True)
class Dialect:
    """The rendering functions of one provider's wire format.

    - `response_id(rng)`: the id of a completion / message / GenerateContentResponse;
    - `answer_headers(chat, seconds, rng, fault)`: the provider's own headers on an answer
      (a 200, or NVCF's 202 under N2), given its nominal processing time; NIM draws its
      NVCF request id from `rng`, right after the response id;
    - `stream_headers(chat)`: headers of a streamed 200;
    - `document(chat, reply)`: the complete JSON answer;
    - `stream_events(chat, reply)`: the streamed answer, with the index of the first
      content event and the index just past the last one;
    - `fault_response(chat, fault, variant, provider_down, time_scale)`: the response of a
      fault that replaces the whole answer (N1, R1, R2, X1-X4, G1), else None;
    - `b3_document` / `b3_stream`: a 200 without the answer's main field, or with an
      in-band error object (B3), alternating by variant.
    """

    response_id: Callable[[random.Random], str]
    answer_headers: Callable[[SimChat, float, random.Random, str | None], list[tuple[str, str]]]
    stream_headers: Callable[[SimChat], list[tuple[str, str]]]
    document: Callable[[SimChat, SimReply], dict[str, JSON]]
    stream_events: Callable[[SimChat, SimReply], tuple[Events, int, int]]
    fault_response: Callable[[SimChat, str | None, int, bool, float], SimResponse | None]
    b3_document: Callable[[SimChat, dict[str, JSON], int], dict[str, JSON]]
    b3_stream: Callable[[SimChat, Events, int, int], Events]
