"""Hedged requests (`hedge_after=`): the next provider races a slow one; the first valid
answer wins and the other request is really closed — over real loopback HTTP.

A stalled NIM (`C2`, held until httpx's read timeout, set long) or a NIM slowed down by a
latency multiplier is what gets hedged; the tests check who answered, what the simulator
saw (request and in-flight counts) and the attempt records — never how fast it went.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb.latency import MIN_SAMPLES, LatencyTracker
from nvgw_nb.results import ChatResult
from nvgw_nb.sim import Simulator
from nvgw_nb.sim.profiles import Profile

NIM, GW = "nvidia-nim", "nvidia-gateway"
#: how long the simulator may take to notice that a cancelled client has gone
SETTLE_S = 5.0
#: NIM about 4x slower than usual and nothing else: at time_scale 0.25 it answers in about
#: 0.2-2 s, the gateway in about 0.1-0.5 s, and a hedge after 0.02 s always fires
SLOW_NIM = Profile("slow-nim-steady", latency_multiplier={NIM: 4.0})


def until(condition: Callable[[], bool], limit: float = SETTLE_S) -> bool:
    """Poll `condition` every 10 ms for up to `limit` seconds; whether it came true."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def nothing_in_flight(sim: Simulator) -> bool:
    """Whether every request the simulator was serving has ended (within SETTLE_S)."""
    return until(lambda: not any(sim.stats()["in_flight"].values()))


def chats(sim: Simulator, provider: str) -> int:
    """Chat requests `provider` received."""
    count: int = sim.stats()["requests"][provider]["chat"]
    return count


def trace(result: ChatResult | nv.NvgwError) -> list[tuple[str, str, bool]]:
    """(provider, error kind or "ok", made by the hedge) of every attempt, in order."""
    return [(a.provider, a.error_kind or "ok", a.hedge) for a in result.attempts]


@pytest.fixture
def stalling() -> Iterator[tuple[Simulator, nv.Session]]:
    """A zero-latency simulator and a Session whose read timeout (60 s) outlasts any test:
    a stalled request stays stalled until it is cancelled."""
    with (
        Simulator(seed=0, time_scale=0) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=60) as session,
    ):
        yield sim, session


@pytest.fixture
def slow() -> Iterator[tuple[Simulator, nv.Session]]:
    """NIM answers, but slower than a 0.02 s hedge; the gateway is quick."""
    with (
        Simulator(profile=SLOW_NIM, seed=0, time_scale=0.25) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait()) as session,
    ):
        yield sim, session


# --- the hedge wins -----------------------------------------------------------------------


def test_a_stalled_primary_is_hedged_and_its_request_closed(
    stalling: tuple[Simulator, nv.Session],
) -> None:
    """NIM stalls: the gateway is asked too and answers; NIM's request is closed, both
    attempts are recorded (NIM's as hedge_cancelled) and both are costed."""
    sim, session = stalling
    sim.inject(NIM, "C2")
    result = session.chat("hi", hedge_after=0.1)
    assert result.served_by == GW
    assert result.hedged
    assert result.fell_back
    assert trace(result) == [(NIM, "hedge_cancelled", False), (GW, "ok", True)]
    cancelled, answered = result.attempts
    assert cancelled.outcome == "error"
    assert cancelled.requests_sent == 1
    assert cancelled.elapsed_s >= 0.1
    assert cancelled.usage is not None
    assert cancelled.usage.prompt_tokens > 0
    assert cancelled.usage.completion_tokens == 0
    assert cancelled.usage_estimated
    assert cancelled.cost_usd > 0
    assert answered.cost_usd > 0
    assert result.cost_usd == pytest.approx(cancelled.cost_usd + answered.cost_usd)
    assert result.correlation_id == answered.correlation_id
    assert result.usage == answered.usage
    assert nothing_in_flight(sim), sim.stats()["in_flight"]
    assert (chats(sim, NIM), chats(sim, GW)) == (1, 1)


def test_cancelled_losers_do_not_open_the_breaker(
    stalling: tuple[Simulator, nv.Session],
) -> None:
    """A request cancelled because its hedge won is not a failure of its provider."""
    sim, session = stalling
    sim.inject(NIM, "C2", times=4)
    for _ in range(4):  # past the breaker's threshold of 3
        assert session.chat("hi", hedge_after=0.05).served_by == GW
    assert session.breakers[NIM].state == "closed"
    assert session.breakers[NIM].failures == 0
    assert nothing_in_flight(sim)
    assert session.chat("and now?").served_by == NIM


def test_session_defaults_hedge_chat_and_batch(stalling: tuple[Simulator, nv.Session]) -> None:
    """hedge_after in session.defaults applies to chat and batch."""
    sim, session = stalling
    session.defaults["hedge_after"] = 0.05
    sim.inject(NIM, "C2", times=2)
    assert session.chat("hi").hedged
    (item,) = session.batch(["in a batch"], progress=False)
    assert item.result is not None
    assert item.result.hedged
    assert item.result.served_by == GW
    assert nothing_in_flight(sim)


# --- no hedge -----------------------------------------------------------------------------


def test_a_primary_that_answers_in_time_sends_no_hedge(sim: Simulator, session: nv.Session) -> None:
    """NIM answers before hedge_after: the gateway never sees a request."""
    result = session.chat("hi", hedge_after=30)
    items = session.batch(["a", "b", "c"], progress=False, hedge_after=30)
    assert result.served_by == NIM
    assert not result.hedged
    assert not result.fell_back
    assert trace(result) == [(NIM, "ok", False)]
    assert all(i.result is not None and not i.result.hedged for i in items)
    assert chats(sim, GW) == 0


def test_a_primary_failing_before_the_hedge_falls_back_as_usual(
    sim: Simulator, session: nv.Session
) -> None:
    """NIM fails fast (503 three times) before hedge_after: ordinary fallback, no hedge."""
    sim.inject(NIM, "N1", times=3)
    result = session.chat("hi", hedge_after=30)
    assert trace(result) == [(NIM, "server_error", False)] * 3 + [(GW, "ok", False)]
    assert result.fell_back
    assert not result.hedged


def test_without_fallbacks_there_is_nothing_to_hedge(sim: Simulator) -> None:
    """fallbacks=False (one provider): hedge_after does nothing; NIM's own retry answers."""
    with sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=0.5) as session:
        sim.inject(NIM, "C2")
        result = session.chat("hi", hedge_after=0.01, fallbacks=False)
    assert result.served_by == NIM
    assert trace(result) == [(NIM, "timeout", False), (NIM, "ok", False)]
    assert chats(sim, GW) == 0


def test_compare_is_never_hedged(sim: Simulator, session: nv.Session) -> None:
    """compare() pins one provider per job, so hedge_after cannot mix providers up."""
    cmp = session.compare(["hi"], hedge_after=0.001, progress=False)
    assert len(cmp.rows) == 2
    assert (chats(sim, NIM), chats(sim, GW)) == (1, 1)


# --- the hedge fails, or both do ----------------------------------------------------------


def _gateway_rejected(result: ChatResult) -> bool:
    return result.served_by != GW


@pytest.mark.parametrize(
    ("inject", "call", "kinds"),
    [
        pytest.param((GW, "N1", 3), {}, ["server_error"] * 3, id="hedge-5xx"),
        pytest.param((GW, "X1", 1), {}, ["bad_request"], id="hedge-bad-request"),
        pytest.param(
            None, {"validator": _gateway_rejected}, ["validation"] * 2, id="hedge-invalid"
        ),
    ],
)
def test_a_failed_hedge_leaves_the_primary_to_answer(
    slow: tuple[Simulator, nv.Session],
    inject: tuple[str, str, int] | None,
    call: dict[str, Any],
    kinds: list[str],
) -> None:
    """The gateway's hedge fails (even with an error that would not fall over, or an
    answer the validator rejects): NIM, still running, answers; nothing fell back."""
    sim, session = slow
    if inject is not None:
        sim.inject(*inject)
    result = session.chat("hi", hedge_after=0.02, **call)
    assert result.served_by == NIM
    assert result.hedged
    assert not result.fell_back
    assert [(a.provider, a.error_kind or "ok") for a in result.attempts if a.hedge] == [
        (GW, kind) for kind in kinds
    ]
    assert [a.error_kind or "ok" for a in result.attempts if not a.hedge] == ["ok"]
    assert result.attempts[0].provider == NIM  # in start order: the primary began first
    assert result.cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts))
    assert nothing_in_flight(sim)


def test_when_both_fail_every_attempt_is_reported(sim: Simulator) -> None:
    """NIM stalls through its retry, the hedge fails: AllProvidersFailed, all attempts, in
    the order they started."""
    with sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=1.0) as session:
        sim.inject(NIM, "C2", times=2)
        sim.inject(GW, "N1", times=3)
        with pytest.raises(nv.AllProvidersFailed) as info:
            session.chat("hi", hedge_after=0.1)
    err = info.value
    assert sorted(trace(err)) == sorted(
        [(NIM, "timeout", False)] * 2 + [(GW, "server_error", True)] * 3
    )
    assert trace(err)[0] == (NIM, "timeout", False)
    starts = [a.started_at for a in err.attempts]
    assert starts == sorted(starts)
    assert set(err.errors) == {NIM, GW}
    assert nothing_in_flight(sim)


def test_a_primary_error_that_must_not_fall_over_ends_the_race(
    slow: tuple[Simulator, nv.Session],
) -> None:
    """NIM's content filter (E3) is never routed around, hedge or not: the hedge is
    cancelled and ContentFiltered reaches the caller."""
    sim, session = slow
    sim.inject(NIM, "E3")
    sim.inject(GW, "C2")  # the hedge stalls: it is still running when NIM's answer comes
    with pytest.raises(nv.ContentFiltered) as info:
        session.chat("hi", hedge_after=0.02)
    assert trace(info.value) == [(NIM, "content_filter", False), (GW, "hedge_cancelled", True)]
    assert nothing_in_flight(sim)


# --- "p95" --------------------------------------------------------------------------------


def test_p95_with_too_few_samples_does_not_hedge(sim: Simulator) -> None:
    """hedge_after="p95" with fewer than MIN_SAMPLES latencies of NIM: no hedge."""
    with sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=0.5) as session:
        for _ in range(MIN_SAMPLES - 1):
            session.latencies.record(NIM, 0.01)
        assert session.latencies.p95(NIM) is None
        sim.inject(NIM, "C2")
        result = session.chat("hi", hedge_after="p95")
    assert trace(result) == [(NIM, "timeout", False), (NIM, "ok", False)]
    assert chats(sim, GW) == 0


def test_p95_is_learned_from_answers(stalling: tuple[Simulator, nv.Session]) -> None:
    """After MIN_SAMPLES answers from NIM, "p95" knows its latency and hedges a stall."""
    sim, session = stalling
    for _ in range(MIN_SAMPLES):
        session.chat("warm up")
    learned = session.latencies.p95(NIM)
    assert learned is not None
    assert learned > 0
    assert session.latencies.snapshot()[NIM]["n"] == MIN_SAMPLES
    sim.inject(NIM, "C2")
    result = session.chat("hi", hedge_after="p95")
    assert result.served_by == GW
    assert result.hedged
    assert nothing_in_flight(sim)


def test_p95_hedges_only_after_the_learned_threshold(
    stalling: tuple[Simulator, nv.Session],
) -> None:
    """With NIM's p95 at 0.3 s, the hedge starts no earlier than 0.3 s into the call."""
    sim, session = stalling
    for _ in range(MIN_SAMPLES):
        session.latencies.record(NIM, 0.3)
    sim.inject(NIM, "C2")
    result = session.chat("hi", hedge_after="p95")
    cancelled, answered = result.attempts
    assert answered.hedge
    assert answered.provider == GW
    assert (answered.started_at - cancelled.started_at).total_seconds() >= 0.3
    # The cancelled primary is a sample too (a lower bound): the tail stays in the p95.
    assert len(session.latencies.samples(NIM)) == MIN_SAMPLES + 1
    assert session.latencies.samples(NIM)[-1] >= 0.3


def test_the_tracker_keeps_a_bounded_window() -> None:
    """The tracker keeps the last `window` samples and needs `min_samples` for a p95."""
    tracker = LatencyTracker(window=50, min_samples=20)
    for value in range(100):
        tracker.record("p", float(value))
    assert tracker.samples("p") == [float(v) for v in range(50, 100)]
    assert tracker.p95("p") == 97.0
    tracker.record("q", math.nan)
    assert tracker.p95("q") is None
    assert "q" not in tracker.snapshot()


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, math.nan, math.inf, "p99", "soon", True, [1.0]], ids=repr)
def test_invalid_hedge_after_is_refused_before_any_request(
    sim: Simulator, session: nv.Session, value: object
) -> None:
    """hedge_after must be seconds > 0 or "p95": anything else is a ConfigError, unsent."""
    with pytest.raises(nv.ConfigError, match="hedge_after"):
        session.chat("hi", hedge_after=value)  # type: ignore[arg-type]
    session.defaults["hedge_after"] = value
    with pytest.raises(nv.ConfigError, match="hedge_after"):
        session.batch(["hi"], progress=False)
    assert not any(
        counts["chat"] for counts in sim.stats()["requests"].values() if "chat" in counts
    )


def test_streams_refuse_hedge_after_and_ignore_the_default(
    slow: tuple[Simulator, nv.Session],
) -> None:
    """stream(hedge_after=...) is a ConfigError (text already shown cannot be raced); a
    default hedge_after does not apply to streams."""
    sim, session = slow
    with pytest.raises(nv.ConfigError, match="stream"):
        session.stream("hi", hedge_after=0.02)
    session.defaults["hedge_after"] = 0.02
    stream = session.stream("hi")
    text = "".join(chunk.text for chunk in stream)
    assert text
    assert stream.result is not None
    assert stream.result.served_by == NIM
    assert chats(sim, GW) == 0


# --- cancellation -------------------------------------------------------------------------


async def test_cancelling_a_hedged_call_closes_both_requests(
    stalling: tuple[Simulator, nv.Session],
) -> None:
    """task.cancel() while NIM and its hedge both run: both requests are closed, no task
    is left on the Session's loop, and the Session still answers."""
    sim, session = stalling
    sim.inject(NIM, "C2")
    sim.inject(GW, "C2")
    task = asyncio.create_task(session.achat("stall", hedge_after=0.05))
    deadline = time.monotonic() + SETTLE_S
    while not (sim.stats()["in_flight"][NIM] and sim.stats()["in_flight"][GW]):
        assert time.monotonic() < deadline, "the hedge never started"
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + SETTLE_S
    while any(sim.stats()["in_flight"].values()):
        assert time.monotonic() < deadline, sim.stats()["in_flight"]
        await asyncio.sleep(0.01)
    assert session._portal.run(_other_tasks()) == 0
    assert (await session.achat("and now?")).served_by == NIM


async def _other_tasks() -> int:
    """Tasks still running on the current loop besides this one."""
    await asyncio.sleep(0)
    current = asyncio.current_task()
    return sum(1 for t in asyncio.all_tasks() if t is not current and not t.done())
