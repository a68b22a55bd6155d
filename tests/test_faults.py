"""FAULTS.md, row by row, for nvidia-nim and nvidia-gateway — over real loopback HTTP.

Each row injects a fault into the simulator and checks what the SDK does on the same
provider (retries), whether it moves on (fallback), and what the caller finally sees.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

NIM, GW, SF = "nvidia-nim", "nvidia-gateway", "starfleet"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@dataclass(frozen=True)
class Row:
    """One fault-matrix behaviour."""

    id: str
    inject: tuple[tuple[str, str, int], ...]
    #: (provider, error_kind or "ok") for every attempt, in order
    trace: tuple[tuple[str, str], ...]
    served_by: str | None = None
    raises: type[Exception] | None = None
    call: dict[str, Any] = field(default_factory=dict)


ROWS = [
    Row("N1 once: retried on NIM", ((NIM, "N1", 1),), ((NIM, "server_error"), (NIM, "ok")), NIM),
    Row(
        "N1 thrice: falls back to the gateway",
        ((NIM, "N1", 3),),
        ((NIM, "server_error"),) * 3 + ((GW, "ok"),),
        GW,
    ),
    Row(
        "N1 everywhere: AllProvidersFailed with every attempt",
        ((NIM, "N1", 3), (GW, "N1", 3)),
        ((NIM, "server_error"),) * 3 + ((GW, "server_error"),) * 3,
        raises=nv.AllProvidersFailed,
    ),
    Row("N2: 202 is polled to completion", ((NIM, "N2", 1),), ((NIM, "ok"),), NIM),
    Row("R1 once: waits and retries", ((NIM, "R1", 1),), ((NIM, "rate_limited"), (NIM, "ok")), NIM),
    Row(
        "R1 thrice: falls back",
        ((NIM, "R1", 3),),
        ((NIM, "rate_limited"),) * 3 + ((GW, "ok"),),
        GW,
    ),
    Row("C3 once: retried", ((NIM, "C3", 1),), ((NIM, "connection"), (NIM, "ok")), NIM),
    Row(
        "C3 thrice: falls back",
        ((NIM, "C3", 3),),
        ((NIM, "connection"),) * 3 + ((GW, "ok"),),
        GW,
    ),
    Row("B1 once: retried", ((NIM, "B1", 1),), ((NIM, "malformed"), (NIM, "ok")), NIM),
    Row(
        "B1 twice: retried once, then falls back",
        ((NIM, "B1", 2),),
        ((NIM, "malformed"),) * 2 + ((GW, "ok"),),
        GW,
    ),
    Row("B2: HTML is malformed", ((NIM, "B2", 2),), ((NIM, "malformed"),) * 2 + ((GW, "ok"),), GW),
    Row("B3: no choices", ((NIM, "B3", 2),), ((NIM, "malformed"),) * 2 + ((GW, "ok"),), GW),
    Row(
        "B4: broken tool-call JSON never reaches the caller",
        ((NIM, "B4", 2),),
        ((NIM, "tool_call"),) * 2 + ((GW, "ok"),),
        GW,
        call={"tools": TOOLS},
    ),
    Row(
        "B5: undeclared tool never reaches the caller",
        ((NIM, "B5", 2),),
        ((NIM, "tool_call"),) * 2 + ((GW, "ok"),),
        GW,
        call={"tools": TOOLS},
    ),
    Row("E1: empty answer", ((NIM, "E1", 2),), ((NIM, "empty"),) * 2 + ((GW, "ok"),), GW),
    Row("E2: length is returned, flagged", ((NIM, "E2", 1),), ((NIM, "ok"),), NIM),
    Row(
        "E3: content filter is never routed around",
        ((NIM, "E3", 1),),
        ((NIM, "content_filter"),),
        raises=nv.ContentFiltered,
    ),
    Row(
        "X1: bad request, no fallback",
        ((NIM, "X1", 1),),
        ((NIM, "bad_request"),),
        raises=nv.BadRequest,
    ),
    Row(
        "X2: model not found falls over without retry",
        ((NIM, "X2", 1),),
        ((NIM, "model_not_found"), (GW, "ok")),
        GW,
    ),
    Row(
        "X3: context too long, no fallback",
        ((NIM, "X3", 1),),
        ((NIM, "context_too_long"),),
        raises=nv.ContextTooLong,
    ),
    Row(
        "X4: NIM key rejected falls over without retry",
        ((NIM, "X4", 1),),
        ((NIM, "provider_auth"), (GW, "ok")),
        GW,
    ),
    Row(
        "T1 once: token endpoint retried",
        ((SF, "T1", 1),),
        ((GW, "auth"), (GW, "ok")),
        GW,
        call={"providers": [GW]},
    ),
    Row(
        "T1 thrice: AuthError",
        ((SF, "T1", 3),),
        ((GW, "auth"),) * 3,
        raises=nv.AuthError,
        call={"providers": [GW]},
    ),
    Row(
        "T3 twice: bad token body retried once",
        ((SF, "T3", 2),),
        ((GW, "auth"),) * 2,
        raises=nv.AuthError,
        call={"providers": [GW]},
    ),
    Row(
        "T4: rejected credentials, no retry, NIM still tried",
        ((SF, "T4", 1),),
        ((GW, "auth"), (NIM, "ok")),
        NIM,
        call={"providers": [GW, NIM]},
    ),
    Row(
        "G1 once: 401 refreshes the token and replays",
        ((GW, "G1", 1),),
        ((GW, "ok"),),
        GW,
        call={"providers": [GW]},
    ),
    Row(
        "G1 twice: AuthError",
        ((GW, "G1", 2),),
        ((GW, "auth"),),
        raises=nv.AuthError,
        call={"providers": [GW]},
    ),
    Row(
        "E3 on the gateway is raised too",
        ((GW, "E3", 1),),
        ((GW, "content_filter"),),
        raises=nv.ContentFiltered,
        call={"providers": [GW]},
    ),
    Row(
        "N1 on the gateway after NIM fails: both listed",
        ((NIM, "X2", 1), (GW, "N1", 3)),
        ((NIM, "model_not_found"),) + ((GW, "server_error"),) * 3,
        raises=nv.AllProvidersFailed,
    ),
]


def _trace(attempts: list[nv.Attempt]) -> tuple[tuple[str, str], ...]:
    return tuple((a.provider, a.error_kind or "ok") for a in attempts)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_fault_matrix(sim: Simulator, session: nv.Session, row: Row) -> None:
    """Each FAULTS.md row: retries on the same provider, fallback, and the final outcome."""
    for provider, fault, times in row.inject:
        sim.inject(provider, fault, times)
    call = {"role": "programmer", **row.call}
    if row.raises is not None:
        with pytest.raises(row.raises) as info:
            session.chat("What is the weather in Paris?", **call)
        assert _trace(info.value.attempts) == row.trace
    else:
        result = session.chat("What is the weather in Paris?", **call)
        assert _trace(result.attempts) == row.trace
        assert result.served_by == row.served_by
        assert result.fell_back == (row.served_by != row.trace[0][0])
        if "tools" in call:
            assert result.tool_calls, "the fallback answer carries a valid tool call"
            assert result.tool_calls[0].name == "get_weather"
            assert isinstance(result.tool_calls[0].arguments, dict)


def test_n2_polls_the_nvcf_status_route(sim: Simulator, session: nv.Session) -> None:
    """N2: the 202's NVCF-REQID is polled on the status URL until the answer arrives."""
    sim.inject(NIM, "N2")
    result = session.chat("long one", providers=[NIM])
    assert result.served_by == NIM
    assert sim.stats()["requests"][NIM]["status"] >= 1


def test_e2_truncated_answer_is_flagged(sim: Simulator, session: nv.Session) -> None:
    """E2: finish_reason=length comes back as a result with truncated=True."""
    sim.inject(NIM, "E2")
    result = session.chat("Write a long essay", providers=[NIM])
    assert result.truncated
    assert result.finish_reason == "length"


def test_r2_retry_after_ms_wins() -> None:
    """R2: `retry-after-ms` is honoured in preference to `Retry-After`."""
    with Simulator(time_scale=0.01) as sim, sim.session(retry=nv.RetryPolicy.no_wait()) as s:
        sim.inject(NIM, "R2")
        result = s.chat("hi", providers=[NIM])
    first = result.attempts[0]
    assert first.error_kind == "rate_limited"
    assert first.retry_after_s == pytest.approx(0.002)
    assert result.attempts[1].backoff_s == pytest.approx(0.002)


def test_x4_opens_the_breaker(sim: Simulator, session: nv.Session) -> None:
    """X4: a rejected key opens NIM's breaker, so the next call skips NIM at once."""
    sim.inject(NIM, "X4")
    session.chat("one")
    second = session.chat("two")
    assert _trace(second.attempts) == ((NIM, "circuit_open"), (GW, "ok"))
    assert second.attempts[0].outcome == "skipped"
    assert session.breakers[NIM].state == "open"


def test_t4_message_names_the_variables(sim: Simulator, session: nv.Session) -> None:
    """T4: the AuthError says which variables to check and masks the client id."""
    sim.inject(SF, "T4")
    with pytest.raises(nv.AuthError) as info:
        session.chat("hi", providers=[GW])
    message = str(info.value)
    assert "STARFLEET_ID" in message
    assert "STARFLEET_SECRET" in message
    assert sim.env()["STARFLEET_ID"] not in message
    assert info.value.phase == "rejected"


def test_t3_names_the_bad_field_not_the_body(sim: Simulator, session: nv.Session) -> None:
    """T3: a bad token body is reported by field or content type, never dumped."""
    sim.inject(SF, "T3", times=2)
    with pytest.raises(nv.AuthError) as info:
        session.chat("hi", providers=[GW])
    assert info.value.phase == "body"
    assert "<html" not in str(info.value).lower()


def test_g1_twice_carries_both_correlation_ids(sim: Simulator, session: nv.Session) -> None:
    """G1: a 401 after the refresh raises AuthError naming both correlationIds."""
    sim.inject(GW, "G1", times=2)
    with pytest.raises(nv.AuthError) as info:
        session.chat("hi", providers=[GW])
    ids = info.value.correlation_ids
    assert len(ids) == 2
    assert ids[0] != ids[1]
    assert all(cid in str(info.value) for cid in ids)


def test_correlation_id_is_fresh_per_request(sim: Simulator, session: nv.Session) -> None:
    """Every gateway request carries a new correlationId, recorded on its Attempt."""
    sim.inject(GW, "N1", times=2)
    result = session.chat("hi", providers=[GW])
    ids = [a.correlation_id for a in result.attempts]
    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert result.correlation_id == ids[-1]
    assert sim.stats()["correlation_ids"]["duplicates"] == 0


def test_attempt_endpoint_has_no_query(sim: Simulator, session: nv.Session) -> None:
    """Attempt.endpoint is host and path only: the api-version query is not recorded."""
    result = session.chat("hi", providers=[GW])
    assert "?" not in result.attempts[0].endpoint
    assert result.attempts[0].endpoint.endswith("/openai/deployments/gpt-4o-mini/chat/completions")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_c1_connection_refused_falls_back(sim: Simulator) -> None:
    """C1: a refused connection is retried, then the gateway answers; only the host is named."""
    env = {**sim.env(), "NVIDIA_NIM_BASE_URL": f"http://127.0.0.1:{_closed_port()}/v1"}
    with nv.Session.from_env(env=env, env_file=None, retry=nv.RetryPolicy.no_wait()) as s:
        result = s.chat("hi")
    assert _trace(result.attempts) == ((NIM, "unreachable"),) * 3 + ((GW, "ok"),)
    with (
        nv.Session.from_env(env=env, env_file=None, retry=nv.RetryPolicy.no_wait()) as s,
        pytest.raises(nv.ProviderUnreachable) as info,
    ):
        s.chat("hi", providers=[NIM])
    assert "127.0.0.1" in str(info.value)


@pytest.fixture
def impatient(sim: Simulator) -> Iterator[nv.Session]:
    """A Session whose read timeout is short, for stalls."""
    with sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=0.3) as s:
        yield s


def test_c2_stall_times_out_then_falls_back(sim: Simulator, impatient: nv.Session) -> None:
    """C2: a stalled read times out, is retried once, then the gateway answers."""
    sim.inject(NIM, "C2", times=2)
    result = impatient.chat("hi")
    assert _trace(result.attempts) == ((NIM, "timeout"),) * 2 + ((GW, "ok"),)
    assert result.attempts[0].elapsed_s >= 0.3


def test_c2_attempt_deadline_is_wall_clock(sim: Simulator) -> None:
    """The per-attempt deadline ends an attempt even when httpx's read timeout would not."""
    with sim.session(retry=nv.RetryPolicy.no_wait(), attempt_deadline_s=0.3) as s:
        sim.inject(NIM, "C2", times=2)
        with pytest.raises(nv.ProviderTimeout) as info:
            s.chat("hi", providers=[NIM], fallbacks=False)
    assert info.value.phase == "deadline"


def test_t2_token_stall_is_an_auth_error(sim: Simulator, impatient: nv.Session) -> None:
    """T2: a token endpoint that never answers gives an AuthError naming the phase."""
    sim.inject(SF, "T2", times=3)
    with pytest.raises(nv.AuthError) as info:
        impatient.chat("hi", providers=[GW])
    assert info.value.phase == "read"
    assert "Starfleet" in str(info.value)


def test_breaker_cooldown_then_half_open_trial(sim: Simulator, session: nv.Session) -> None:
    """Three consecutive failures open the breaker; after the cooldown one trial goes through."""
    now = [1000.0]
    breaker = session.breakers[NIM]
    breaker.clock = lambda: now[0]
    sim.inject(NIM, "N1", times=3)
    session.chat("fail thrice")
    assert breaker.state == "open"
    assert session.chat("skip").attempts[0].error_kind == "circuit_open"
    now[0] += breaker.cooldown_s
    assert breaker.state == "half_open"
    trial = session.chat("trial")
    assert _trace(trial.attempts) == ((NIM, "ok"),)
    assert breaker.state == "closed"


def test_all_failed_lists_one_line_per_provider(sim: Simulator, session: nv.Session) -> None:
    """Z1: the message has one line per provider with its attempt count."""
    sim.inject(NIM, "N1", times=3)
    sim.inject(GW, "N1", times=3)
    with pytest.raises(nv.AllProvidersFailed) as info:
        session.chat("hi")
    lines = str(info.value).splitlines()
    assert lines[0] == "All providers failed:"
    assert lines[1].strip().startswith("nvidia-nim:")
    assert lines[1].endswith("(3 attempts)")
    assert lines[2].strip().startswith("nvidia-gateway:")
    assert set(info.value.errors) == {NIM, GW}


def test_fallbacks_false_means_one_provider(sim: Simulator, session: nv.Session) -> None:
    """fallbacks=False tries only the first provider and raises its own error."""
    sim.inject(NIM, "N1", times=3)
    with pytest.raises(nv.ServerError) as info:
        session.chat("hi", fallbacks=False)
    assert {a.provider for a in info.value.attempts} == {NIM}
