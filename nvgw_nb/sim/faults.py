"""What each fault id (docs/reference/faults.md) does to an answer.

`core.py` serves injected faults first, else draws one from the profile's rates
(`pick_fault` knows which ids can apply to a request), and counts the variant: how many
times that id has fired. The functions here render it. Some faults replace the answer
(`token_fault`, `chat_fault`), some change what the model says (`mutate_answer`), and
some break the bytes of a good answer (`break_body`, `break_stream`). Variants alternate
between the real-world forms of one fault. Each chat provider renders its own errors and
B3 bodies (its `Dialect`, `dialects.py`); the token endpoint's are rendered here.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping
from dataclasses import replace

from nvgw_nb.sim import content, starfleet_wire, structured, wire
from nvgw_nb.sim.chat_request import SimChat
from nvgw_nb.sim.content import Answer, SimToolCall
from nvgw_nb.sim.dialects import DIALECTS
from nvgw_nb.sim.plan import SimResponse
from nvgw_nb.sim.wire import JSON, Events

__all__ = [
    "break_body",
    "break_stream",
    "chat_fault",
    "mutate_answer",
    "pick_fault",
    "token_fault",
]


def pick_fault(rates: Mapping[str, float], u: float, *, tools: bool, stream: bool) -> str | None:
    """The fault a uniform draw `u` picks from a profile's `rates`, among those that apply."""
    for fault, rate in rates.items():
        if fault in ("B4", "B5") and not tools:
            continue
        if fault in ("S1", "S2") and not stream:
            continue
        if fault == "N2" and stream:
            continue  # streams get a 20-minute poll window: no 202 in practice
        if u < rate:
            return fault
        u -= rate
    return None


def token_fault(fault: str | None, variant: int) -> SimResponse | None:
    """What the token endpoint answers instead of a grant under T1-T4, else None."""
    if fault == "T1":
        return starfleet_wire.oauth_error(
            503, "temporarily_unavailable", "The token service is temporarily unavailable."
        )
    if fault == "T2":
        return SimResponse(0, stall=True)
    if fault == "T3":
        return _bad_token_body(variant)
    if fault == "T4":
        return starfleet_wire.oauth_error(401, "invalid_client", "Client authentication failed.")
    return None


def _bad_token_body(variant: int) -> SimResponse:
    """A 200 that is not a usable grant: an SSO page, no token, or a nonsense lifetime."""
    kind = variant % 3
    if kind == 0:
        return wire.sso_login_page("text/html")
    if kind == 1:
        return wire.json_response(200, {"token_type": "Bearer", "expires_in": 900})
    # An opaque token that is never registered, with a meaningless lifetime.
    token = secrets.token_urlsafe(16)
    return wire.json_response(
        200, {"access_token": token, "token_type": "Bearer", "expires_in": "soon"}
    )


def chat_fault(
    chat: SimChat,
    fault: str | None,
    variant: int,
    *,
    provider_down: bool,
    time_scale: float,
) -> SimResponse | None:
    """The response of a fault that replaces the whole chat answer, else None.

    `provider_down` tells a profile's outage (503) from a one-off server error (N1 on the
    gateway); retry hints are scaled by `time_scale` like every other wait.
    """
    if fault == "C2":
        return SimResponse(0, stall=True)
    if fault == "B2":
        return wire.sso_login_page("text/html; charset=utf-8")
    dialect = DIALECTS[chat.provider]
    return dialect.fault_response(chat, fault, variant, provider_down, time_scale)


def mutate_answer(
    answer: Answer, fault: str | None, variant: int, chat: SimChat, rng: random.Random
) -> Answer:
    """Content faults: the model answers, but badly (E1-E3, B4-B6)."""
    text = answer.content or ""
    if fault == "B6":
        return _misfit_answer(chat, rng)
    if fault == "E1":
        return Answer("", (), "stop")
    if fault == "E2":
        words = text.split()
        return Answer(" ".join(words[: max(3, len(words) // 3)]), (), "length")
    if fault == "E3":
        return Answer(" ".join(text.split()[:4]), (), "content_filter")
    if fault in ("B4", "B5"):
        declared = content.tool_names(chat.tools)
        call = answer.tool_calls[0] if answer.tool_calls else None
        if call is None:
            topic = content.topic_of(content.last_user_text(chat.body["messages"]))
            query = " ".join(topic.phrases[:2]) or "status"
            name = declared[0] if declared else "search"
            call = SimToolCall(
                content.tool_call_id(rng, chat.provider), name, json.dumps({"query": query})
            )
        if fault == "B4":
            args = call.arguments
            # Alternate the two classic breakages: a missing brace and a trailing comma.
            broken = args[:-1] if variant % 2 == 0 else args[:-1] + ", }"
            call = replace(call, arguments=broken)
        else:
            name = "run_shell_command"
            while name in declared:
                name += "_v2"
            call = replace(call, name=name)
        return Answer(None, (call,), "tool_calls")
    return answer


def _misfit_answer(chat: SimChat, rng: random.Random) -> Answer:
    """B6: JSON that does not fit the requested schema; prose where JSON or nothing was asked."""
    messages = chat.body["messages"]
    schema = structured.schema_of(chat.body.get("response_format"))
    if schema is not None:
        topic = content.topic_of(content.last_user_text(messages))
        document, broken = structured.misfit(schema, rng, topic)
        if broken:
            return Answer(json.dumps(document))
    return Answer(content.plain_answer(rng, content.voice_for(chat.provider), messages))


def break_body(
    resp: SimResponse,
    doc: dict[str, JSON],
    fault: str | None,
    variant: int,
    chat: SimChat,
    rng: random.Random,
) -> None:
    """Break the complete JSON answer `resp` (whose document is `doc`) in place.

    B1 (cut JSON) and B3 (no `choices`, or an in-band error) send a broken body with a true
    Content-Length; C3, S1 and S2 cut the connection mid-body.
    """
    if fault == "B1":
        _set_body(resp, resp.body[: max(1, int(len(resp.body) * rng.uniform(0.4, 0.8)))])
    elif fault == "B3":
        _set_body(resp, wire.dumps(_b3_document(chat, doc, variant)))
    elif fault in ("C3", "S1", "S2"):
        resp.body = resp.body[: len(resp.body) // 2]
        resp.abort = True


def break_stream(
    events: Events,
    content_span: tuple[int, int],
    fault: str | None,
    variant: int,
    chat: SimChat,
) -> tuple[Events, bool]:
    """The events of a broken stream, and whether the connection is then cut.

    `content_span` is (first content event, one past the last), as a dialect's
    `stream_events` returns it.
    """
    start, end = content_span
    middle = start + (end - start) // 2
    if fault == "S1":
        return events[:start], True
    if fault == "S2":
        return events[: max(start + 1, middle)], True
    if fault == "C3":
        blob = b"".join(e for _, e in events)
        return [(0, blob[: len(blob) // 2])], True
    if fault == "B1":
        # One event's JSON is cut short; the stream itself ends cleanly.
        events = list(events)
        tokens, broken = events[middle]
        events[middle] = (tokens, broken[: max(8, len(broken) // 2)] + b"\n\n")
    elif fault == "B3":
        events = _b3_stream(chat, events, start, variant)
    return events, False


def _set_body(resp: SimResponse, body: bytes) -> None:
    """Replace a complete body, keeping Content-Length true (the body itself is the fault)."""
    resp.body = body
    resp.headers = [(k, str(len(body)) if k == "content-length" else v) for k, v in resp.headers]


def _b3_document(chat: SimChat, doc: dict[str, JSON], variant: int) -> dict[str, JSON]:
    """B3 on a document: no main field, or an error object in place of the answer."""
    return DIALECTS[chat.provider].b3_document(chat, doc, variant)


def _b3_stream(chat: SimChat, events: Events, prologue: int, variant: int) -> Events:
    """B3 on a stream: events without the main field, or an error event after the prologue."""
    return DIALECTS[chat.provider].b3_stream(chat, events, prologue, variant)
