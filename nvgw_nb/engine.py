"""The fallback engine: providers in order, retries, circuit breakers, the Attempt trace.

The engine runs on the Session's private event loop. It sends what providers build,
classifies every outcome into the FAULTS.md matrix, and records an `Attempt` for each
try — also when the call finally fails (the error carries them).

With `hedge_after=`, a step that has not answered in time races the next one (the first
valid answer wins; the other request is cancelled and recorded as `hedge_cancelled`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import anyio
import httpx
from httpx_sse import EventSource
from pydantic import BaseModel

from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.cache import CacheKey, ResponseCache
from nvgw_nb.config import BASE_URL_VARIABLES
from nvgw_nb.errors import (
    AllProvidersFailed,
    AuthError,
    CircuitOpen,
    ContentFiltered,
    EmptyResponse,
    MalformedResponse,
    ModelNotFound,
    NvgwError,
    PolicyError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimited,
    StreamInterrupted,
)
from nvgw_nb.latency import LatencyTracker
from nvgw_nb.pricing import Pricing, estimate_usage
from nvgw_nb.providers.base import Provider, Reply
from nvgw_nb.ratelimit import RateLimiter
from nvgw_nb.redaction import location_host
from nvgw_nb.results import Attempt, ChatRequest, ChatResult, StreamChunk, Usage
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.validation import check_tool_calls, parse_structured, run_validator

__all__ = ["CallPolicy", "Deadlines", "Engine", "Step"]

logger = logging.getLogger("nvgw_nb")

_T = TypeVar("_T")

SIMULATOR_HEADER = "x-nvgw-simulator"


@dataclass(frozen=True)
class Step:
    """One provider of a call's plan, with the model to ask it for.

    `skip` says why policy forbids this provider: it is recorded as a skipped attempt.
    """

    provider: str
    model: str
    skip: str | None = None


@dataclass(frozen=True)
class CallPolicy:
    """What a call asks of an answer beyond the wire request."""

    #: apply deterministic repairs (code fences, trailing commas) to tool-call JSON
    repair: bool = False
    #: parse structured output into this pydantic model (else the JSON value)
    output_model: type[BaseModel] | None = None
    #: a user check of the result: raising or returning False rejects it (B6)
    validator: Callable[[ChatResult], object] | None = None
    #: after text was shown, "raise" StreamInterrupted or "restart" on the next provider
    stream_mode: Literal["raise", "restart"] = "raise"
    #: consult and feed the circuit breakers; a pinned comparison turns this off so every
    #: request is really sent and a provider is measured, not skipped
    use_breakers: bool = True
    #: seconds (or "p95": the provider's learned 95th percentile) after which a step that
    #: has not answered is hedged by starting the next step too; None: never. Streams are
    #: never hedged (their text is shown as it arrives).
    hedge_after: float | Literal["p95"] | None = None
    #: read and feed the response cache (when the engine has one); `cache=False` on a call
    #: and pinned comparisons (which measure) turn it off
    use_cache: bool = True


@dataclass(frozen=True)
class Deadlines:
    """Wall-clock limits, separate from httpx's per-read timeouts."""

    attempt_s: float = 120.0
    call_s: float = 300.0


@dataclass
class _Outcome:
    """What one attempt produced: a result or an error, and its Attempt record."""

    attempt: Attempt
    result: ChatResult | None = None
    error: NvgwError | None = None


@dataclass
class _StepEnd:
    """How one step of the plan (a provider with its retries) ended.

    `fatal`: the error must reach the caller (it does not fall over to the next step).
    """

    step: Step
    result: ChatResult | None = None
    attempt: Attempt | None = None
    error: NvgwError | None = None
    fatal: bool = False


@dataclass
class _Live:
    """The attempt a step has in flight: what a cancelled hedge loser is recorded from."""

    record: dict[str, Any] | None = None
    t0: float = 0.0
    counted: _CountingAuth | None = None


@dataclass
class _Branch:
    """One side of a hedged pair: a step run as its own task, with its own attempts."""

    step: Step
    hedge: bool
    attempts: list[Attempt] = field(default_factory=list)
    live: _Live = field(default_factory=_Live)
    task: asyncio.Task[_StepEnd] | None = None
    end: _StepEnd | None = None


class Engine:
    """Tries a plan of providers with retries and breakers; sync-free, loop-bound."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        providers: Mapping[str, Provider],
        auths: Mapping[str, httpx.Auth],
        policy: RetryPolicy,
        breakers: Mapping[str, CircuitBreaker],
        deadlines: Deadlines,
        pricing: Pricing | None = None,
        limiter: RateLimiter | None = None,
        token_url: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        latencies: LatencyTracker | None = None,
        cache: ResponseCache | None = None,
        replay_simulated: bool = True,
    ) -> None:
        self.client = client
        self.providers = providers
        self.auths = auths
        self.policy = policy
        self.breakers = breakers
        self.deadlines = deadlines
        self.pricing = pricing or Pricing()
        self.limiter = limiter
        self.token_url = token_url
        self.sleep = sleep
        self.clock = clock
        #: recent latencies per provider: what `hedge_after="p95"` waits for
        self.latencies = latencies if latencies is not None else LatencyTracker()
        #: stored answers by request fingerprint; None: every call goes to the providers
        self.cache = cache
        #: replay answers the simulator gave; a Session on real endpoints says False, so a
        #: cache filled on the simulator never passes a simulated answer off as a real one
        self.replay_simulated = replay_simulated

    # --- public -------------------------------------------------------------------------
    async def chat(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> ChatResult:
        """Run `request` through `plan`; the result, or the error with every attempt."""
        result: ChatResult | None = None
        async for item in self._cached_run(request, plan, options or CallPolicy()):
            if isinstance(item, ChatResult):
                result = item
        assert result is not None
        return result

    def stream(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> AsyncIterator[StreamChunk | ChatResult]:
        """Text chunks as they arrive, then the ChatResult as the last item."""
        return self._cached_run(request, plan, options or CallPolicy())

    # --- the response cache, around the loop --------------------------------------------
    def _cached_run(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy
    ) -> AsyncIterator[StreamChunk | ChatResult]:
        """`_run`, or with a cache: the first stored answer in plan order, replayed, else
        `_run` with its answer stored under the key of the step that served it."""
        if self.cache is None or not options.use_cache:
            return self._run(request, plan, options)
        return self._through_cache(self.cache, request, plan, options)

    async def _through_cache(
        self, cache: ResponseCache, request: ChatRequest, plan: Sequence[Step], options: CallPolicy
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        started = self.clock()
        # Steps that policy skips are not replayed either: the call must not use them.
        keys = {s.provider: CacheKey.of(request, s.provider, s.model) for s in plan if not s.skip}
        for key in keys.values():
            stored = await _cache_io(cache.get, key)
            replay = self._replay(stored, options) if stored is not None else None
            if replay is not None:
                logger.info("replaying %s's answer from the response cache", key.provider)
                replay = replay.model_copy(update={"latency_s": self.clock() - started})
                if request.stream and replay.content:
                    yield StreamChunk(
                        text=replay.content, provider=replay.served_by, model=replay.model
                    )
                yield replay
                return
        async with aclosing(self._run(request, plan, options)) as items:
            async for item in items:
                # Only a whole, accepted answer arrives as a ChatResult: errors raise and
                # partial streams never get here. Stored before the caller sees it, so a
                # reader that stops at the result still leaves it recorded.
                if isinstance(item, ChatResult) and item.served_by in keys:
                    await _cache_io(cache.put, keys[item.served_by], item)
                yield item

    def _replay(self, stored: ChatResult, options: CallPolicy) -> ChatResult | None:
        """`stored` as a cached replay, or None when this call must not use it."""
        if stored.simulated and not self.replay_simulated:
            return None
        parsed = stored.parsed
        if options.output_model is not None and parsed is not None:
            try:
                parsed = options.output_model.model_validate(parsed)
            except ValueError:  # pydantic's ValidationError: the model changed since
                return None
        replay = stored.model_copy(
            update={
                "cached": True,
                "parsed": parsed,
                "original_latency_s": stored.latency_s,
                # Nothing was billed now; the recorded attempts keep what the call cost.
                "cost_usd": 0.0,
            }
        )
        if options.validator is not None:
            try:
                run_validator(options.validator, replay, replay.served_by)
            except NvgwError as err:
                logger.info("not replaying the cached answer: %s", err)
                return None
        return replay

    # --- the loop over providers and retries --------------------------------------------
    async def _run(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        started = self.clock()
        call_deadline = started + self.deadlines.call_s
        attempts: list[Attempt] = []
        errors: dict[str, NvgwError] = {}
        index = 0
        while index < len(plan):
            step = plan[index]
            next_step = plan[index + 1] if index + 1 < len(plan) else None
            delay = self._hedge_delay(request, plan, index, options)
            ends: list[_StepEnd] = []
            if delay is not None:
                ended, tried = await self._hedged(
                    request, plan, index, delay, call_deadline, options
                )
                ends += ended
                attempts += tried
            else:
                # aclosing: a reader that stops early closes the response at once, not at GC.
                async with aclosing(
                    self._step(request, step, next_step, call_deadline, options, attempts)
                ) as items:
                    async for item in items:
                        if isinstance(item, _StepEnd):
                            ends.append(item)
                        else:
                            yield item
            for ended_step in ends:
                if ended_step.result is not None:
                    yield self._finish(ended_step.result, attempts, started, ended_step.attempt)
                    return
            # No answer: judge the ends in plan order, as if the steps had run one by one.
            for ended_step in ends:
                assert ended_step.error is not None
                if ended_step.fatal:
                    raise _final(ended_step.error, attempts)
                errors[ended_step.step.provider] = ended_step.error
            index += len(ends)
        raise _all_failed(plan, errors, attempts)

    async def _step(
        self,
        request: ChatRequest,
        step: Step,
        next_step: Step | None,
        call_deadline: float,
        options: CallPolicy,
        attempts: list[Attempt],
        branch: _Branch | None = None,
    ) -> AsyncGenerator[StreamChunk | _StepEnd, None]:
        """One provider with its retries: text chunks as they arrive, then how it ended.

        Each attempt is appended to `attempts` as it ends.
        """
        hedge = branch is not None and branch.hedge
        shared = self.breakers.get(step.provider)
        breaker = shared if shared is not None and options.use_breakers else CircuitBreaker()
        skipped: NvgwError | None = None
        if step.skip is not None:
            skipped = PolicyError(f"{step.provider} skipped by policy: {step.skip}")
        elif not breaker.allow():
            skipped = CircuitOpen(
                f"{step.provider} skipped: {breaker.describe()}", provider=step.provider
            )
        if skipped is not None:
            attempts.append(self._skipped(step, skipped, breaker, hedge=hedge))
            logger.info("%s", skipped)
            yield _StepEnd(step, error=skipped)
            return
        retry = 0
        backoff = 0.0
        while True:
            outcome: _Outcome | None = None
            async with aclosing(
                self._attempt(
                    request,
                    step,
                    retry + 1,
                    backoff,
                    call_deadline,
                    options,
                    live=branch.live if branch is not None else None,
                    hedge=hedge,
                )
            ) as items:
                async for item in items:
                    if isinstance(item, _Outcome):
                        outcome = item
                    else:
                        yield item
            assert outcome is not None
            attempts.append(outcome.attempt)
            self._learn(outcome)
            if outcome.result is not None:
                breaker.record_success()
                yield _StepEnd(step, result=outcome.result, attempt=outcome.attempt)
                return
            error = outcome.error
            assert error is not None
            self._judge(breaker, error)
            if isinstance(error, StreamInterrupted) and options.stream_mode == "restart":
                if next_step is None:
                    yield _StepEnd(step, error=error, fatal=True)
                    return
                # The text shown so far is void: say so, then start over on the next one.
                logger.info("restarting the stream on %s after %s", next_step.provider, error)
                yield StreamChunk(
                    text="", provider=next_step.provider, model=next_step.model, reset=True
                )
                yield _StepEnd(step, error=error)
                return
            if not error.falls_over:
                yield _StepEnd(step, error=error, fatal=True)
                return
            wait = self._retry_wait(error, retry, breaker, call_deadline)
            if wait is None:
                if next_step is not None:
                    logger.info(
                        "falling back from %s to %s after %s",
                        step.provider,
                        next_step.provider,
                        error.kind,
                    )
                yield _StepEnd(step, error=error)
                return
            retry += 1
            logger.info(
                "%s attempt %d failed (%s); retrying in %.2f s",
                step.provider,
                retry,
                error.kind,
                wait,
            )
            await self.sleep(wait)
            backoff = wait

    def _learn(self, outcome: _Outcome) -> None:
        """Feed the latency tracker: answers, and timeouts as a lower bound."""
        attempt = outcome.attempt
        if outcome.result is not None or isinstance(outcome.error, ProviderTimeout):
            self.latencies.record(attempt.provider, attempt.elapsed_s)

    # --- hedged requests ------------------------------------------------------------------
    def _hedge_delay(
        self, request: ChatRequest, plan: Sequence[Step], index: int, options: CallPolicy
    ) -> float | None:
        """Seconds after which step `index` is hedged by step `index + 1`, or None."""
        hedge_after = options.hedge_after
        if hedge_after is None or request.stream or index + 1 >= len(plan):
            return None
        if plan[index].skip is not None or plan[index + 1].skip is not None:
            return None
        if hedge_after == "p95":
            return self.latencies.p95(plan[index].provider)
        return float(hedge_after)

    async def _hedged(
        self,
        request: ChatRequest,
        plan: Sequence[Step],
        index: int,
        delay: float,
        call_deadline: float,
        options: CallPolicy,
    ) -> tuple[list[_StepEnd], list[Attempt]]:
        """Step `index`, and step `index + 1` too once `delay` seconds pass without an
        answer. The first valid answer wins and the other is cancelled (and recorded as
        `hedge_cancelled`). Without an answer, the ends come back in plan order, so the
        caller judges them as if the two had run one after the other.

        Returns the ends and every attempt of both, in the order they started.
        """
        primary = _Branch(plan[index], hedge=False)
        partner = _Branch(plan[index + 1], hedge=True)
        after = plan[index + 2] if index + 2 < len(plan) else None
        branches = (primary, partner)
        try:
            primary.task = asyncio.ensure_future(
                self._branch(request, primary, partner.step, call_deadline, options)
            )
            await asyncio.wait({primary.task}, timeout=delay)
            if not primary.task.done():
                logger.info(
                    "%s has not answered in %.2f s: hedging on %s",
                    primary.step.provider,
                    delay,
                    partner.step.provider,
                )
                partner.task = asyncio.ensure_future(
                    self._branch(request, partner, after, call_deadline, options)
                )
            ends = await _race(primary, partner)
        finally:
            await self._stop_losers(request, branches)
        attempts = sorted((a for b in branches for a in b.attempts), key=lambda a: a.started_at)
        return ends, attempts

    async def _branch(
        self,
        request: ChatRequest,
        branch: _Branch,
        next_step: Step | None,
        call_deadline: float,
        options: CallPolicy,
    ) -> _StepEnd:
        """Run one side of a hedged pair to its end (no text chunks: never a stream)."""
        end: _StepEnd | None = None
        async with aclosing(
            self._step(
                request, branch.step, next_step, call_deadline, options, branch.attempts, branch
            )
        ) as items:
            async for item in items:
                if isinstance(item, _StepEnd):
                    end = item
        assert end is not None
        return end

    async def _stop_losers(self, request: ChatRequest, branches: Sequence[_Branch]) -> None:
        """Cancel the branches still running and wait until they have closed their
        requests; an attempt cut short is recorded as `hedge_cancelled`, costed."""
        losers = [b for b in branches if b.task is not None and not b.task.done()]
        if not losers:
            return
        for loser in losers:
            assert loser.task is not None
            loser.task.cancel()
        # asyncio.wait neither raises the tasks' CancelledError nor, if this task is itself
        # cancelled meanwhile, leaves them running: they were cancelled above.
        await asyncio.wait([b.task for b in losers if b.task is not None])
        for loser in losers:  # retrieve what a task raised instead of stopping (logged once)
            if loser.task is not None and not loser.task.cancelled() and loser.task.exception():
                logger.warning(
                    "a hedged branch on %s failed: %r", loser.step.provider, loser.task.exception()
                )
        winner = next((b for b in branches if b.end is not None and b.end.result), None)
        for loser in losers:
            live = loser.live
            if live.record is None:  # between attempts (backoff): nothing was in flight
                continue
            attempt = self._cancelled(request, live, winner.step.provider if winner else None)
            loser.attempts.append(attempt)
            if not loser.hedge and winner is not None:
                # At least this slow: keeps the tail in the p95 that hedging cuts off.
                self.latencies.record(attempt.provider, attempt.elapsed_s)

    def _cancelled(self, request: ChatRequest, live: _Live, winner: str | None) -> Attempt:
        """The Attempt of a request cancelled because the other side of a hedge won.

        The provider may still bill it: the prompt's tokens are estimated and costed
        (none of the answer was received, so no completion tokens are counted).
        """
        assert live.record is not None
        record = dict(live.record)
        sent = live.counted.sent if live.counted is not None else 0
        usage = estimate_usage(request, "") if sent else None
        elapsed = self.clock() - live.t0
        reason = f"{winner} answered first" if winner else "the call ended without it"
        record.update(
            requests_sent=sent,
            elapsed_s=elapsed,
            outcome="error",
            error_kind="hedge_cancelled",
            error=f"{record['provider']} was cancelled after {elapsed:.2f} s: {reason}",
            usage=usage,
            usage_estimated=usage is not None,
            cost_usd=self.pricing.cost(record["provider"], record["model"], usage),
        )
        live.record = None
        return Attempt(**record)

    def _judge(self, breaker: CircuitBreaker, error: NvgwError) -> None:
        if isinstance(error, AuthError) and error.phase in ("rejected", "replay"):
            breaker.trip(f"auth broken: {error.kind}")
        elif isinstance(error, ProviderAuthError):
            breaker.trip("credentials rejected")
        elif error.falls_over and not isinstance(error, ModelNotFound):
            breaker.record_failure(error.kind)

    def _retry_wait(
        self, error: NvgwError, retry: int, breaker: CircuitBreaker, call_deadline: float
    ) -> float | None:
        """Seconds to wait before retrying the same provider, or None to move on."""
        allowed = min(error.retries, self.policy.attempts - 1)
        if retry >= allowed or breaker.state == "open":
            return None
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            if error.retry_after_s > self.policy.max_retry_after:
                return None
            wait = error.retry_after_s
        else:
            wait = self.policy.backoff(retry + 1)
        if self.clock() + wait >= call_deadline:
            return None
        return wait

    # --- one attempt --------------------------------------------------------------------
    async def _attempt(
        self,
        request: ChatRequest,
        step: Step,
        number: int,
        backoff: float,
        call_deadline: float,
        options: CallPolicy,
        *,
        live: _Live | None = None,
        hedge: bool = False,
    ) -> AsyncGenerator[StreamChunk | _Outcome, None]:
        provider = self.providers[step.provider]
        breaker = self.breakers[step.provider]
        paced = await self.limiter.acquire(step.provider) if self.limiter else 0.0
        try:
            http_request = provider.build_request(request, step.model)
        except NvgwError as err:  # e.g. UnsupportedParameter: nothing was sent
            attempt = self._unsent(step, number, err, breaker, hedge=hedge)
            yield _Outcome(attempt=attempt, error=_clean(err))
            return
        record: dict[str, Any] = {
            "provider": step.provider,
            "model": step.model,
            "endpoint": f"{http_request.url.host}{http_request.url.path}",
            "attempt": number,
            "started_at": datetime.now(timezone.utc),
            "backoff_s": backoff,
            "paced_s": paced,
            "breaker": breaker.state,
            "correlation_id": provider.correlation_id(http_request),
            "hedge": hedge,
        }
        t0 = self.clock()
        deadline = min(t0 + self.deadlines.attempt_s, call_deadline)
        counted = _CountingAuth(self.auths.get(step.provider))
        if live is not None:  # in flight: a hedge that wins records it as cancelled
            live.record, live.t0, live.counted = record, t0, counted
        shown: list[str] = []
        reply: Reply | None = None
        error: NvgwError | None = None
        response: httpx.Response | None = None
        try:
            with anyio.fail_after(max(0.0, deadline - self.clock())):
                response = await self._send(provider, http_request, step, counted)
            record["status_code"] = response.status_code
            record["correlation_id"] = provider.correlation_id(response.request)
            record["request_id"] = provider.request_id(response)
            if response.status_code >= 300:
                await response.aread()
                error = self._status_error(provider, response, step)
            elif request.stream and _is_sse(response):
                # aclosing: a cancelled or abandoned attempt closes the event reader at once.
                async with aclosing(self._events(provider, response, deadline)) as pieces:
                    async for piece in pieces:
                        if isinstance(piece, Reply):
                            reply = piece
                        else:
                            shown.append(piece)
                            yield StreamChunk(text=piece, provider=step.provider, model=step.model)
            else:
                with anyio.fail_after(max(0.0, deadline - self.clock())):
                    await response.aread()
                reply = provider.parse_response(response)
                if request.stream and reply.content:
                    shown.append(reply.content)
                    yield StreamChunk(text=reply.content, provider=step.provider, model=step.model)
        except NvgwError as err:
            error = err
        except TimeoutError:
            error = ProviderTimeout(
                f"{step.provider} gave no complete answer within the attempt deadline "
                f"({self.clock() - t0:.1f} s)",
                phase="deadline",
                elapsed_s=self.clock() - t0,
                provider=step.provider,
            )
        except httpx.HTTPError as err:
            error = self._transport_error(err, step.provider, self.clock() - t0)
        finally:
            if response is not None:
                await response.aclose()
        if error is not None and shown:
            error = StreamInterrupted(
                f"{step.provider} stream broke after {len(''.join(shown))} characters "
                f"({error.kind}: {error})",
                partial_text="".join(shown),
                provider=step.provider,
                status_code=record.get("status_code"),
                request_id=record.get("request_id"),
            )
        result: ChatResult | None = None
        if error is None and reply is not None:
            try:
                result, record["repairs"] = self._accept(reply, request, step, response, options)
            except NvgwError as err:
                error = err
        # A provider that answered 200 generated tokens and bills them, failed or not;
        # when it reported no usage, estimate it and say so.
        usage = reply.usage if reply is not None else None
        if usage is None and record.get("status_code") == 200:
            received = "".join(shown) or (reply.content if reply is not None else "")
            usage = estimate_usage(request, received)
            record["usage_estimated"] = True
        record.update(
            requests_sent=counted.sent,
            elapsed_s=self.clock() - t0,
            outcome="ok" if error is None else "error",
            error_kind=None if error is None else error.kind,
            error=None if error is None else str(error),
            retry_after_s=error.retry_after_s if isinstance(error, RateLimited) else None,
            usage=usage,
            cost_usd=self.pricing.cost(step.provider, step.model, usage),
        )
        if self.limiter is not None:
            if isinstance(error, RateLimited):
                self.limiter.throttled(step.provider, error.retry_after_s)
            elif error is None:
                self.limiter.succeeded(step.provider)
        if live is not None:
            live.record = None
        yield _Outcome(attempt=Attempt(**record), result=result, error=_clean(error))

    async def _send(
        self, provider: Provider, http_request: httpx.Request, step: Step, auth: _CountingAuth
    ) -> httpx.Response:
        response = await self.client.send(http_request, auth=auth, stream=True)
        # NVCF long requests: 202 + NVCF-REQID, then poll the status URL (FAULTS.md N2).
        while response.status_code == 202:
            request_id = provider.request_id(response)
            poll = provider.poll_request(request_id) if request_id else None
            if poll is None:
                await response.aclose()
                raise MalformedResponse(
                    f"{step.provider} answered 202 Accepted without an NVCF-REQID to poll",
                    provider=step.provider,
                    status_code=202,
                )
            await response.aclose()
            await self.sleep(self.policy.poll_interval)
            response = await self.client.send(poll, auth=auth.inner, stream=True)
        return response

    async def _events(
        self, provider: Provider, response: httpx.Response, deadline: float
    ) -> AsyncGenerator[str | Reply, None]:
        """The text of each event as it arrives, then the whole Reply."""
        parser = provider.stream_parser()
        events = EventSource(response).aiter_sse()
        try:
            while not parser.done:
                try:
                    with anyio.fail_after(max(0.0, deadline - self.clock())):
                        event = await events.__anext__()
                except StopAsyncIteration:
                    break
                text = parser.feed(event.event, event.data)
                if text:
                    yield text
        finally:
            await events.aclose()
        yield parser.reply()

    def _status_error(self, provider: Provider, response: httpx.Response, step: Step) -> NvgwError:
        if response.status_code == 401 and step.provider == "nvidia-gateway":
            ids = [
                cid
                for r in (*response.history, response)
                if (cid := provider.correlation_id(r.request))
            ]
            return AuthError(
                "The LLM gateway answered 401 before and after a Starfleet token refresh "
                f"(correlationIds {', '.join(ids)}): check that the client in STARFLEET_ID "
                "is entitled to the gateway",
                phase="replay",
                status_code=401,
                correlation_ids=ids,
            )
        if 300 <= response.status_code < 400:
            return _redirect_error(provider, response, step.provider)
        return provider.status_error(response, step.model)

    def _transport_error(self, err: httpx.HTTPError, provider: str, elapsed: float) -> NvgwError:
        url = err.request.url if _has_request(err) else None
        host = url.host if url is not None else "the provider"
        phase = _phase(err)
        # A LocalProtocolError can quote the request's own header values: never repeat it.
        local = isinstance(err, httpx.LocalProtocolError)
        detail = type(err).__name__ if local else str(err)[:200] or type(err).__name__
        if url is not None and self.token_url and str(url).startswith(self.token_url):
            return AuthError(
                f"Could not get a Starfleet token: {phase} failed for {url.host} ({detail}); "
                "check STARFLEET_TOKEN_URL and the network",
                phase="connect" if phase in ("connect", "connection") else "read",
                retryable=True,
            )
        if isinstance(err, httpx.TimeoutException):
            return ProviderTimeout(
                f"{provider}: {phase} timeout after {elapsed:.1f} s ({host})",
                phase=phase,
                elapsed_s=elapsed,
                provider=provider,
            )
        if isinstance(err, httpx.ConnectError):
            hint = (
                "; the TLS handshake failed: check that the server at that address speaks "
                "https, or that the URL's scheme is right"
                if "SSL" in detail or "TLS" in detail
                else ""
            )
            return ProviderUnreachable(
                f"{provider} unreachable: cannot connect to {host} ({detail}){hint}",
                provider=provider,
            )
        return ProviderConnectionError(
            f"{provider}: the connection to {host} broke ({detail})", provider=provider
        )

    # --- checking an answer -------------------------------------------------------------
    def _accept(
        self,
        reply: Reply,
        request: ChatRequest,
        step: Step,
        response: httpx.Response | None,
        options: CallPolicy,
    ) -> tuple[ChatResult, list[str]]:
        """A result and the repairs applied, or the FAULTS.md B/E error."""
        provider = step.provider
        if reply.finish_reason == "content_filter":
            raise ContentFiltered(
                f"{provider}'s content filter stopped the answer", provider=provider
            )
        calls, repairs = check_tool_calls(
            reply.tool_calls, request, provider, repair=options.repair
        )
        if not reply.content.strip() and not calls and reply.finish_reason != "length":
            raise EmptyResponse(
                f"{provider} answered with no content and no tool calls", provider=provider
            )
        parsed: Any = None
        if request.response_format is not None and not calls:
            parsed, more = parse_structured(
                reply.content,
                request,
                provider,
                model=options.output_model,
                repair=options.repair,
            )
            repairs += [r for r in more if r not in repairs]
        headers = response.headers if response is not None else httpx.Headers()
        result = ChatResult(
            content=reply.content,
            tool_calls=calls,
            finish_reason=reply.finish_reason,
            served_by=provider,
            model=reply.model or step.model,
            latency_s=0.0,
            attempts=[],
            simulated=headers.get(SIMULATOR_HEADER) == "1",
            parsed=parsed,
        )
        if options.validator is not None:
            run_validator(options.validator, result, provider)
        return result, repairs

    def _finish(
        self,
        result: ChatResult,
        attempts: list[Attempt],
        started: float,
        winner: Attempt | None = None,
    ) -> ChatResult:
        last = winner if winner is not None else attempts[-1]
        return result.model_copy(
            update={
                "attempts": list(attempts),
                "latency_s": self.clock() - started,
                "cost_usd": sum(a.cost_usd for a in attempts),
                "usage": last.usage or Usage(),
                "correlation_id": last.correlation_id,
                "request_id": last.request_id,
            }
        )

    def _unsent(
        self, step: Step, number: int, error: NvgwError, breaker: CircuitBreaker, *, hedge: bool
    ) -> Attempt:
        return Attempt(
            provider=step.provider,
            model=step.model,
            endpoint="",
            attempt=number,
            started_at=datetime.now(timezone.utc),
            outcome="error",
            error_kind=error.kind,
            error=str(error),
            breaker=breaker.state,
            hedge=hedge,
        )

    def _skipped(
        self, step: Step, error: NvgwError, breaker: CircuitBreaker, *, hedge: bool
    ) -> Attempt:
        return Attempt(
            provider=step.provider,
            model=step.model,
            endpoint="",
            attempt=0,
            started_at=datetime.now(timezone.utc),
            outcome="skipped",
            error_kind=error.kind,
            error=str(error),
            breaker=breaker.state,
            hedge=hedge,
        )


class _CountingAuth(httpx.Auth):
    """Runs the provider's auth flow and counts the requests it sends to the request's own
    URL, so an `Attempt` says exactly how many reached the provider (a 401 replay is two;
    a token request is not counted)."""

    def __init__(self, inner: httpx.Auth | None) -> None:
        self.inner = inner
        self.sent = 0
        self.requires_request_body = bool(inner and inner.requires_request_body)
        self.requires_response_body = bool(inner and inner.requires_response_body)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.inner is None:
            self.sent += 1
            yield request
            return
        flow = self.inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                self.sent += outgoing.url == request.url
                response = yield outgoing
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()


async def _race(primary: _Branch, partner: _Branch) -> list[_StepEnd]:
    """Wait for the branches of a hedged pair until one has a valid answer (its end alone
    is returned), the primary ended in an error that must reach the caller (a content
    filter is never routed around), or both ended (their ends, primary first). When both
    ended at once, the primary's end is judged first."""
    running = {b.task: b for b in (primary, partner) if b.task is not None}
    while running:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            running.pop(task).end = task.result()
        if primary.end is not None and (primary.end.result is not None or primary.end.fatal):
            return [primary.end]
        if partner.end is not None and partner.end.result is not None:
            return [partner.end]
    return [b.end for b in (primary, partner) if b.end is not None]


def _is_sse(response: httpx.Response) -> bool:
    return "text/event-stream" in response.headers.get("content-type", "")


def _has_request(err: httpx.HTTPError) -> bool:
    try:
        err.request  # noqa: B018 - raises RuntimeError when no request is attached
    except RuntimeError:
        return False
    return True


def _phase(err: httpx.HTTPError) -> str:
    for cls, phase in (
        (httpx.ConnectTimeout, "connect"),
        (httpx.ReadTimeout, "read"),
        (httpx.WriteTimeout, "write"),
        (httpx.PoolTimeout, "pool"),
        (httpx.ConnectError, "connect"),
    ):
        if isinstance(err, cls):
            return phase
    return "connection"


def _redirect_error(provider: Provider, response: httpx.Response, name: str) -> NvgwError:
    """A 3xx: never followed (the credentials would go along), so say where it pointed —
    the host only, never the path or query — and move on to the next provider."""
    status = response.status_code
    url = str(response.request.url)
    target = location_host(response.headers.get("location"), url)
    polled = getattr(provider, "status_url", None)
    variable = (
        "NVGW_NVCF_STATUS_URL"
        if polled and url.startswith(polled)
        else BASE_URL_VARIABLES.get(name, "the base URL")
    )
    error = ProviderStatusError(
        f"{name} answered HTTP {status}, a redirect to {target}: redirects are not followed "
        f"with credentials attached; check {variable} points at the final URL",
        provider=name,
        status_code=status,
        request_id=provider.request_id(response),
    )
    error.retries = 0
    return error


def _clean(error: NvgwError | None) -> NvgwError | None:
    """Drop traceback and chained exceptions: their frames and httpx objects may hold
    headers; the message and attributes say what the caller needs."""
    if error is not None:
        error.__traceback__ = None
        error.__context__ = None
        error.__cause__ = None
    return error


async def _cache_io(operation: Callable[..., _T], *args: Any) -> _T | None:
    """A response-cache operation on a worker thread: a write may wait for another
    process's (the busy timeout), and that must not stall every call on this loop. A cache
    that fails (locked too long, closed, disk full) is logged and the call goes on."""
    try:
        return await asyncio.to_thread(operation, *args)
    except (sqlite3.Error, ValueError) as err:
        logger.warning("response cache unusable (%s); going on without it", err)
        return None


def _final(error: NvgwError, attempts: list[Attempt]) -> NvgwError:
    error.attempts = list(attempts)
    return error


def _all_failed(
    plan: Sequence[Step], errors: dict[str, NvgwError], attempts: list[Attempt]
) -> NvgwError:
    if len(plan) == 1:
        return _final(errors[plan[0].provider], attempts)
    lines = []
    for step in plan:
        error = errors[step.provider]
        tries = sum(1 for a in attempts if a.provider == step.provider and a.outcome != "skipped")
        lines.append(f"  {step.provider}: {error} ({tries} attempt{'s' if tries != 1 else ''})")
    return AllProvidersFailed(
        "All providers failed:\n" + "\n".join(lines), errors=errors, attempts=attempts
    )
