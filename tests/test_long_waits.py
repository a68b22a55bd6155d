"""Long waits (issue 14, items 5 and 11): a long Retry-After or pacing wait moves on to the
next provider (NVGW_MAX_WAIT); on the last provider it is waited, logged and counted down
in the caller's thread; nothing waits past the call's deadline."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import httpx
import pytest

import nvgw_nb as nv
from nvgw_nb import countdown, portal
from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.countdown import Countdown, Wait, listening
from nvgw_nb.engine import Deadlines, Engine, Step
from nvgw_nb.errors import NvgwError, RateLimited, ServerError
from nvgw_nb.inputs import chat_request
from nvgw_nb.outcomes import retry_wait
from nvgw_nb.providers import GatewayProvider, NimProvider
from nvgw_nb.ratelimit import MAX_HOLD_S, RateLimiter
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.sim import Simulator

NIM = NimProvider(base_url="https://nim.test/v1", status_url="https://nvcf.test/status")
GATEWAY = GatewayProvider(base_url="https://gw.test/llm/v1/azure", api_version="2024-12-01-preview")
BOTH = [Step("nvidia-nim", "m"), Step("nvidia-gateway", "gpt-4o")]
NIM_ONLY = [Step("nvidia-nim", "m")]
POLICY = RetryPolicy(attempts=3, wait_initial=0.5, wait_max=8.0, wait_jitter=0.0)


class FakeTime:
    """A clock that only moves when the engine or the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class _Body(httpx.AsyncByteStream):
    """A body that arrives as a stream, as from a real server (not read in advance)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def _answer(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    data = json.dumps(body).encode()
    head = {"content-type": "application/json", **(headers or {})}
    return httpx.Response(status, headers=head, stream=_Body(data))


def _completion(text: str) -> httpx.Response:
    message = {"role": "assistant", "content": text}
    return _answer(200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


def _engine(
    handler: Callable[[httpx.Request], httpx.Response],
    fake: FakeTime,
    *,
    max_wait_s: float | None = 10.0,
    limiter: RateLimiter | None = None,
    call_s: float = 300.0,
) -> Engine:
    return Engine(
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        providers={"nvidia-nim": NIM, "nvidia-gateway": GATEWAY},
        auths={},
        policy=POLICY,
        breakers={"nvidia-nim": CircuitBreaker(), "nvidia-gateway": CircuitBreaker()},
        deadlines=Deadlines(call_s=call_s),
        limiter=limiter,
        sleep=fake.sleep,
        clock=fake.clock,
        max_wait_s=max_wait_s,
    )


def _nim_429_then_ok(retry_after: str, counts: dict[str, int]) -> Callable[..., httpx.Response]:
    """NIM answers 429 once with `retry_after`, then 200; the gateway always answers."""

    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        counts[host] = counts.get(host, 0) + 1
        if host == "nim.test" and counts[host] == 1:
            return _answer(429, {"status": 429}, {"retry-after": retry_after})
        return _completion(f"from {host}")

    return handler


def _limited(after: float | None) -> RateLimited:
    return RateLimited("429", retry_after_s=after, provider="x")


# --- the decision: retry_wait -------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "max_wait", "now", "wait"),
    [
        pytest.param(_limited(5.0), 10.0, 0.0, 5.0, id="short Retry-After: waited"),
        pytest.param(_limited(60.0), 10.0, 0.0, None, id="long, another provider left: move on"),
        pytest.param(_limited(60.0), None, 0.0, 60.0, id="long, last provider: waited"),
        pytest.param(_limited(61.0), None, 0.0, None, id="longer than max_retry_after: never"),
        pytest.param(_limited(1e9), None, 0.0, None, id="1e9: never"),
        pytest.param(_limited(math.inf), None, 0.0, None, id="inf: never"),
        pytest.param(_limited(math.nan), None, 0.0, None, id="NaN: never"),
        pytest.param(_limited(30.0), None, 80.0, None, id="last provider, past the deadline"),
        pytest.param(_limited(0.0), 0.0, 0.0, 0.0, id="NVGW_MAX_WAIT=0 still retries at once"),
        pytest.param(ServerError("503", provider="x"), 0.0, 0.0, 0.5, id="backoff is not capped"),
    ],
)
def test_retry_wait_with_max_wait(
    error: NvgwError, max_wait: float | None, now: float, wait: float | None
) -> None:
    """A Retry-After above NVGW_MAX_WAIT moves on; on the last provider only the policy's
    cap and the call deadline limit it."""
    got = retry_wait(
        error,
        0,
        policy=POLICY,
        breaker_state="closed",
        now=now,
        call_deadline=100.0,
        max_wait=max_wait,
    )
    assert got == wait


# --- the engine -----------------------------------------------------------------------------
def test_long_retry_after_moves_on_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Retry-After 60 s > NVGW_MAX_WAIT 10 s with the gateway left: no sleep, the gateway
    answers, the trace and the log say why NIM was left."""
    fake, counts = FakeTime(), {}
    caplog.set_level(logging.INFO, logger="nvgw_nb")
    run = _engine(_nim_429_then_ok("60", counts), fake).chat(chat_request("hi"), BOTH)
    result = asyncio.run(run)
    assert result.served_by == "nvidia-gateway"
    assert fake.slept == []
    first = result.attempts[0]
    assert (first.error_kind, first.retry_after_s) == ("rate_limited", 60.0)
    assert "more than NVGW_MAX_WAIT" in (first.error or "")
    assert "moved on to nvidia-gateway" in (first.error or "")
    assert any("NVGW_MAX_WAIT" in r.getMessage() for r in caplog.records)


def test_the_final_error_says_the_wait_was_not_taken() -> None:
    """When the gateway fails too, the final error's NIM line names NVGW_MAX_WAIT."""
    fake = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "nim.test":
            return _answer(429, {"status": 429}, {"retry-after": "60"})
        return _answer(404, {"error": {"code": "DeploymentNotFound"}})

    with pytest.raises(nv.AllProvidersFailed, match="NVGW_MAX_WAIT"):
        asyncio.run(_engine(handler, fake).chat(chat_request("hi"), BOTH))
    assert fake.slept == []


def test_a_short_retry_after_is_still_waited() -> None:
    """Retry-After 3 s ≤ NVGW_MAX_WAIT: NIM is retried after exactly that wait."""
    fake, counts = FakeTime(), {}
    run = _engine(_nim_429_then_ok("3", counts), fake).chat(chat_request("hi"), BOTH)
    result = asyncio.run(run)
    assert (result.served_by, fake.slept) == ("nvidia-nim", [3.0])


def test_the_last_provider_waits_with_a_warning_and_an_announcement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No provider left: Retry-After 30 s is waited; the log warns and the caller hears."""
    fake, counts = FakeTime(), {}
    heard: list[Wait] = []
    run = _engine(_nim_429_then_ok("30", counts), fake).chat(chat_request("hi"), NIM_ONLY)
    result = asyncio.run(listening(run, heard.append))
    assert (result.served_by, fake.slept) == ("nvidia-nim", [30.0])
    assert [(w.provider, w.seconds, w.reason) for w in heard] == [
        ("nvidia-nim", 30.0, "Retry-After")
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("waiting 30.0 s (Retry-After)" in r.getMessage() for r in warnings)


def test_the_last_provider_never_waits_past_the_call_deadline() -> None:
    """Retry-After 30 s with 20 s left in the call: the 429 is the answer, no sleep."""
    fake, counts = FakeTime(), {}
    run = _engine(_nim_429_then_ok("30", counts), fake, call_s=20.0).chat(
        chat_request("hi"), NIM_ONLY
    )
    with pytest.raises(nv.RateLimited):
        asyncio.run(run)
    assert fake.slept == []


# --- the rate limiter -----------------------------------------------------------------------
def test_pacing_refuses_a_wait_longer_than_max_wait() -> None:
    """The next slot 30 s away and max_wait 10 s: RateLimited at once, the slot not taken."""
    fake = FakeTime()
    limiter = RateLimiter({"nvidia-nim": (2, 60.0)}, clock=fake.clock, sleep=fake.sleep)
    asyncio.run(limiter.acquire("nvidia-nim", max_wait=10.0))
    with pytest.raises(nv.RateLimited, match="NVGW_MAX_WAIT") as caught:
        asyncio.run(limiter.acquire("nvidia-nim", max_wait=10.0))
    assert caught.value.retry_after_s == pytest.approx(30.6)
    assert fake.slept == []
    assert asyncio.run(limiter.acquire("nvidia-nim", max_wait=60.0)) == pytest.approx(30.6)


def test_pacing_refuses_a_wait_past_the_deadline() -> None:
    """A slot that lies past the call's deadline is refused, however short max_wait is not."""
    fake = FakeTime()
    limiter = RateLimiter({"nvidia-nim": (2, 60.0)}, clock=fake.clock, sleep=fake.sleep)
    asyncio.run(limiter.acquire("nvidia-nim"))
    with pytest.raises(nv.RateLimited, match="deadline"):
        asyncio.run(limiter.acquire("nvidia-nim", deadline=fake.now + 5.0))
    assert fake.slept == []


@pytest.mark.parametrize("after", [1e9, math.inf, math.nan, -5.0])
def test_a_huge_or_broken_retry_after_holds_a_provider_at_most_max_hold(after: float) -> None:
    """throttled(1e9 / inf) holds the provider MAX_HOLD_S at most; NaN or negative: not at all."""
    fake = FakeTime()
    limiter = RateLimiter({"nvidia-nim": "600/min"}, clock=fake.clock, sleep=fake.sleep)
    limiter.throttled("nvidia-nim", after)
    asyncio.run(limiter.acquire("nvidia-nim"))
    assert fake.slept == [] or fake.slept[0] <= MAX_HOLD_S
    if not after > 0:
        assert fake.slept == []


def test_retry_after_1e9_with_pacing_falls_over_instead_of_sleeping() -> None:
    """Issue item 11: after a 429 with Retry-After 1e9 under rate_limits, the next call
    is refused by the limiter (nothing sent, recorded), the gateway answers, no sleep."""
    fake, counts = FakeTime(), {}
    limiter = RateLimiter({"nvidia-nim": "600/min"}, clock=fake.clock, sleep=fake.sleep)
    paced = _engine(_nim_429_then_ok("1e9", counts), fake, limiter=limiter)
    first = asyncio.run(paced.chat(chat_request("one"), BOTH))
    second = asyncio.run(paced.chat(chat_request("two"), BOTH))
    assert (first.served_by, second.served_by) == ("nvidia-gateway", "nvidia-gateway")
    assert counts["nim.test"] == 1  # the second call sent nothing to NIM
    assert fake.slept == []
    refused = second.attempts[0]
    assert (refused.error_kind, refused.requests_sent) == ("rate_limited", 0)
    assert "rate limit" in (refused.error or "")
    assert paced.breakers["nvidia-nim"].failures == 1  # the refusal is not the provider's


def test_pacing_on_the_last_provider_is_waited_then_retried() -> None:
    """No provider left and the slot 6 s away (> max_wait 1 s): waited once, then sent."""
    fake, counts = FakeTime(), {}
    limiter = RateLimiter({"nvidia-nim": (10, 60.0)}, clock=fake.clock, sleep=fake.sleep)
    paced = _engine(lambda r: _completion("ok"), fake, limiter=limiter, max_wait_s=1.0)
    asyncio.run(paced.chat(chat_request("one"), NIM_ONLY))
    result = asyncio.run(paced.chat(chat_request("two"), NIM_ONLY))
    assert result.served_by == "nvidia-nim"
    assert fake.slept == [pytest.approx(6.12)]
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    del counts


# --- the countdown --------------------------------------------------------------------------
class FakeBar:
    """Records what a tqdm bar was asked to show, and from which thread."""

    made: ClassVar[list[FakeBar]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.n = 0.0
        self.postfix = ""
        self.closed = False
        self.thread = threading.current_thread()
        FakeBar.made.append(self)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_countdown_counts_the_longest_wait_down_and_closes() -> None:
    """The bar shows the wait's total and the seconds left, and goes when it is over."""
    now = [0.0]
    FakeBar.made = []
    shown = Countdown(bar_factory=FakeBar, clock=lambda: now[0])
    shown.post(Wait("nvidia-gateway", 30.0, "Retry-After", ends_at=30.0))
    shown.post(Wait("nvidia-nim", 5.0, "Retry-After", ends_at=5.0))
    shown.tick()
    (bar,) = FakeBar.made
    assert bar.kwargs["total"] == 30.0
    assert "nvidia-gateway" in bar.kwargs["desc"]
    now[0] = 12.0
    shown.tick()
    assert (bar.n, bar.postfix) == (12.0, "18 s left")
    now[0] = 31.0
    shown.tick()
    assert bar.closed
    assert not shown.active


def test_a_session_counts_a_long_wait_down_in_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Simulator R1 on the only provider, Retry-After above NVGW_MAX_WAIT: the call waits,
    and the countdown bar is made in the thread that called chat() (Jupyter shows it in
    that cell), not on the Session's loop thread."""
    FakeBar.made = []

    class RecordingCountdown(Countdown):
        def __init__(self) -> None:
            super().__init__(bar_factory=FakeBar)

    monkeypatch.setattr(portal, "Countdown", RecordingCountdown)
    monkeypatch.setattr(countdown, "COUNTDOWN_AFTER_S", 0.1)
    with Simulator(seed=0, time_scale=0.3) as sim:
        sim.inject("nvidia-nim", "R1")  # Retry-After: 0.3 s at this time scale
        with sim.session(max_wait_s=0.05) as session:
            started = time.monotonic()
            result = session.chat("hi", providers=["nvidia-nim"], fallbacks=False)
            elapsed = time.monotonic() - started
    assert result.served_by == "nvidia-nim"
    assert [a.error_kind for a in result.attempts] == ["rate_limited", None]
    assert elapsed >= 0.3
    assert FakeBar.made
    assert all(b.thread is threading.current_thread() for b in FakeBar.made)
    assert all(b.closed for b in FakeBar.made)


def test_an_async_caller_sees_the_countdown_on_its_own_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """achat(): the countdown bar is made and closed on the awaiting loop's thread."""
    FakeBar.made = []

    class RecordingCountdown(Countdown):
        def __init__(self) -> None:
            super().__init__(bar_factory=FakeBar)

    monkeypatch.setattr(portal, "Countdown", RecordingCountdown)
    monkeypatch.setattr(countdown, "COUNTDOWN_AFTER_S", 0.1)
    with Simulator(seed=0, time_scale=0.5) as sim:
        sim.inject("nvidia-nim", "R1")  # Retry-After: 0.5 s at this time scale
        with sim.session(max_wait_s=0.05) as session:
            call = session.achat("hi", providers=["nvidia-nim"], fallbacks=False)
            result = asyncio.run(call)
    assert result.served_by == "nvidia-nim"
    assert FakeBar.made
    assert all(b.thread is threading.current_thread() for b in FakeBar.made)
    assert all(b.closed for b in FakeBar.made)


def test_a_session_moves_on_from_simulator_r1_above_max_wait() -> None:
    """Simulator R1 (Retry-After 1 s) with NVGW_MAX_WAIT=0.2: the gateway answers at once."""
    with Simulator(seed=0, time_scale=1.0) as sim:
        sim.inject("nvidia-nim", "R1")
        with sim.session(max_wait_s=0.2) as session:
            result = session.chat("hi")
    assert result.served_by == "nvidia-gateway"
    assert "NVGW_MAX_WAIT" in (result.attempts[0].error or "")
    # the time outside the two attempts (waits, token fetch aside) is far below 1 s
    waited = result.latency_s - sum(a.elapsed_s for a in result.attempts)
    assert waited < 0.5


def test_nothing_is_announced_without_a_listener() -> None:
    """announce() outside a call with a listener is a no-op."""
    countdown.announce(Wait("x", 9.0, "Retry-After", ends_at=0.0))
