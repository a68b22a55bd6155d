"""The response plan of an accepted chat request: what the model says, how fast, and how.

Every chat route ends here once it has authenticated the request, checked its rate limit
and drawn its fault. Every provider's answer is rendered by its `Dialect` (`dialects.py`).
Everything here is pure: the caller passes in the state it depends on (the load and the
wall clock).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from nvgw_nb.sim import content, faults, wire
from nvgw_nb.sim.chat_request import SimChat, cut_to_max_tokens
from nvgw_nb.sim.dialects import DIALECTS
from nvgw_nb.sim.nim_wire import REQUEST_ID_HEADER
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.quality import QualityModel
from nvgw_nb.sim.rendering import SimReply

__all__ = ["ChatPlan", "plan_chat"]

# (TTFT median s, sigma, tokens/s median, sigma_tps): docs/reference/facts.md, our modelling choice.
_LATENCY: Mapping[str, tuple[float, float, float, float]] = {
    "meta/llama-4-scout-17b-16e-instruct": (0.50, 0.6, 120.0, 0.40),
    "meta/llama-4-maverick-17b-128e-instruct": (0.70, 0.6, 100.0, 0.40),
    "meta/llama-3.3-70b-instruct": (0.60, 0.6, 50.0, 0.40),
    "gpt-4o": (0.80, 0.5, 80.0, 0.35),
    "gpt-4o-mini": (0.70, 0.5, 90.0, 0.35),
    "claude-sonnet-4-5": (1.10, 0.5, 70.0, 0.30),
    "claude-haiku-4-5": (0.60, 0.5, 140.0, 0.30),
    "gemini-2.0-flash": (0.45, 0.5, 170.0, 0.30),
    "gemini-2.5-flash": (0.90, 0.6, 150.0, 0.35),  # thinks before answering
    "gemini-2.5-pro": (2.20, 0.6, 90.0, 0.35),
}


@dataclass
class ChatPlan:
    """The plan to send now and, when NVCF answered 202 (N2), the result held for polling."""

    response: SimResponse
    held: tuple[str, SimResponse] | None = None  # (nvcf-reqid, the result a poll returns)


def plan_chat(
    chat: SimChat,
    fault: str | None,
    variant: int,
    *,
    seed: int,
    time_scale: float,
    latency_multiplier: float,
    in_flight: int,
    created: int,
    quality: QualityModel | None = None,
) -> ChatPlan:
    """The answer to `chat` under `fault` (one that does not replace the answer), as a plan.

    Delays are scaled by `time_scale`; `in_flight` slows the model down past 8 concurrent
    requests; `created` is the wall-clock second the completion reports. `quality`
    (SIMULATED, `quality.py`) answers learned cases and judge prompts; every other prompt
    gets `content.compose_answer`, as before.
    """
    rng = content.derive_rng("request", seed, chat.provider, chat.key, chat.occurrence)
    answer = quality.answer(chat) if quality is not None else None
    if answer is None:
        answer = content.compose_answer(
            seed=seed,
            provider=chat.provider,
            model=chat.served_model,
            messages=chat.body["messages"],
            tools=chat.tools,
            tool_choice=chat.body.get("tool_choice"),
            response_format=chat.body.get("response_format"),
        )
    answer = cut_to_max_tokens(answer, chat.max_tokens)
    answer = faults.mutate_answer(answer, fault, variant, chat, rng)
    usage = wire.count_usage(chat.body["messages"], answer)
    pre_s, tps = _latency(chat, rng, in_flight, latency_multiplier)
    dialect = DIALECTS[chat.provider]
    reply = SimReply(dialect.response_id(rng), created, answer, usage)
    nominal_s = pre_s + usage["completion_tokens"] / tps
    headers = [*chat.extra_headers, *dialect.answer_headers(chat, nominal_s, rng, fault)]
    if chat.stream and fault != "N2":
        events, start, end = dialect.stream_events(chat, reply)
        streamed = _Streamed(events, (start, end), dialect.stream_headers(chat) + headers)
        return _stream_plan(chat, streamed, fault, variant, pre_s, tps, time_scale)
    doc = dialect.document(chat, reply)
    if fault == "N2":  # NIM only: NVCF answers 202 at once; the result waits for the polls
        return _held_for_polls(doc, headers, pre_s, usage["completion_tokens"] / tps, time_scale)
    resp = wire.json_response(200, doc, headers)
    resp.delay_s = nominal_s * time_scale
    faults.break_body(resp, doc, fault, variant, chat, rng)
    return ChatPlan(resp)


def _held_for_polls(
    doc: dict[str, wire.JSON],
    headers: list[tuple[str, str]],
    pre_s: float,
    generation_s: float,
    time_scale: float,
) -> ChatPlan:
    """N2: an empty 202 after the first-token delay; the result (its `nvcf-status`
    fulfilled) is held under the request id for the client's polls."""
    reqid = next(v for k, v in headers if k == REQUEST_ID_HEADER)
    result = wire.json_response(
        200, doc, [(k, "fulfilled" if k == "nvcf-status" else v) for k, v in headers]
    )
    result.delay_s = generation_s * time_scale
    accepted = SimResponse(202, [*headers, ("content-length", "0")], delay_s=pre_s * time_scale)
    return ChatPlan(accepted, held=(reqid, result))


@dataclass
class _Streamed:
    """A streamed answer before faults: events, their content span, the response headers."""

    events: wire.Events
    span: tuple[int, int]
    headers: list[tuple[str, str]]


def _stream_plan(
    chat: SimChat,
    streamed: _Streamed,
    fault: str | None,
    variant: int,
    pre_s: float,
    tps: float,
    time_scale: float,
) -> ChatPlan:
    """The plan of a stream: headers after the first-token delay, then paced events."""
    events, abort = faults.break_stream(streamed.events, streamed.span, fault, variant, chat)
    chunks = [(tokens / tps * time_scale, data) for tokens, data in events]
    return ChatPlan(
        SimResponse(200, streamed.headers, delay_s=pre_s * time_scale, chunks=chunks, abort=abort)
    )


def _latency(
    chat: SimChat, rng: random.Random, in_flight: int, multiplier: float
) -> tuple[float, float]:
    """(seconds before the first token, tokens per second) before time scaling."""
    ttft_median, sigma, tps_median, sigma_tps = _LATENCY[chat.model]
    ttft = rng.lognormvariate(math.log(ttft_median), sigma)
    tps = rng.lognormvariate(math.log(tps_median), sigma_tps)
    tps = min(max(tps, 0.3 * tps_median), 2.0 * tps_median)
    gw = rng.lognormvariate(math.log(0.05), 0.3) if chat.provider == "nvidia-gateway" else 0.0
    if in_flight > 8:  # load coupling, docs/reference/facts.md
        ttft *= 1 + 0.1 * (in_flight - 8)
        tps /= 1 + 0.03 * (in_flight - 8)
    return (gw + ttft) * multiplier, tps / multiplier
