"""The fallback engine: providers in order, retries, circuit breakers, the Attempt trace.

The engine runs on the Session's private event loop. It sends what providers build,
classifies every outcome into the fault matrix (the README's fault ids;
`nvgw_nb.outcomes`), and records an `Attempt` for each try — also when the call finally
fails (the error carries them).

With `hedge_after=`, a step that has not answered in time races the next one
(`nvgw_nb.hedging`). The response cache is a layer around the engine
(`nvgw_nb.replay.CachingEngine`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing

import anyio
import httpx

from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.countdown import sleep_visibly, wait_reason
from nvgw_nb.errors import (
    NvgwError,
    ProviderTimeout,
    RateLimited,
    StreamInterrupted,
)
from nvgw_nb.exchange import SIMULATOR_HEADER, events, is_sse, list_models, read, send
from nvgw_nb.hedging import Branch, Hedger, InFlight, hedge_delay
from nvgw_nb.latency import LatencyTracker
from nvgw_nb.outcomes import (
    accept,
    all_failed,
    attempt_error,
    clean,
    note_failures,
    retry_wait,
    skip_error,
    status_error,
    stream_interrupted,
    tell_breaker,
)
from nvgw_nb.pricing import Pricing, estimate_usage
from nvgw_nb.providers.base import Provider, Reply
from nvgw_nb.ratelimit import RateLimiter
from nvgw_nb.reading import parsing
from nvgw_nb.results import Attempt, ChatRequest, ChatResult, StreamChunk, Usage
from nvgw_nb.retry import RetryPolicy, long_wait_note, refused_by_pacing, with_note
from nvgw_nb.steps import (
    AttemptDraft,
    AttemptEnd,
    CallPolicy,
    CallState,
    CountingAuth,
    Deadlines,
    Received,
    Step,
    StepEnd,
    not_sent,
)
from nvgw_nb.untrusted import Limits, cut

__all__ = ["CallPolicy", "Deadlines", "Engine", "Limits", "Step"]

logger = logging.getLogger("nvgw_nb")


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        latencies: LatencyTracker | None = None,
        limits: Limits | None = None,
        max_wait_s: float | None = None,
    ) -> None:
        self.client = client
        self.providers = providers
        self.auths = auths
        self.policy = policy
        self.breakers = breakers
        self.deadlines = deadlines
        self.pricing = pricing or Pricing()
        self.limiter = limiter
        self.sleep = sleep
        self.clock = clock
        #: recent latencies per provider: what `hedge_after="p95"` waits for
        self.latencies = latencies if latencies is not None else LatencyTracker()
        #: how much is read from an upstream: body, stream, SSE event, JSON depth, text
        self.limits = limits or Limits()
        #: the longest a call waits for one provider (Retry-After, pacing) while another is
        #: left to try (NVGW_MAX_WAIT); None: only `policy.max_retry_after` limits it
        self.max_wait_s = max_wait_s

    # --- public -------------------------------------------------------------------------
    async def chat(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> ChatResult:
        """Run `request` through `plan`; the result, or the error with every attempt."""
        result: ChatResult | None = None
        async for item in self._run(request, plan, options or CallPolicy()):
            if isinstance(item, ChatResult):
                result = item
        assert result is not None
        return result

    def stream(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        """Text chunks as they arrive, then the ChatResult as the last item."""
        return self._run(request, plan, options or CallPolicy())

    async def list_models(self, name: str) -> list[str]:
        """Provider `name`'s model list, read as an attempt is (`exchange.list_models`)."""
        deadline = self.clock() + min(self.deadlines.attempt_s, self.deadlines.call_s)
        return await list_models(
            self.client,
            self.providers[name],
            self.auths.get(name),
            deadline=deadline,
            limits=self.limits,
            clock=self.clock,
        )

    # --- the loop over providers --------------------------------------------------------
    async def _run(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        started = self.clock()
        call = CallState(request, options, deadline=started + self.deadlines.call_s)
        attempts: list[Attempt] = []
        errors: dict[str, NvgwError] = {}
        index = 0
        while index < len(plan):
            ends: list[StepEnd] = []
            delay = hedge_delay(options.hedge_after, request, plan, index, self.latencies)
            if delay is not None:
                ends, tried = await self._hedged(call, plan, index, delay)
                attempts += tried
            else:
                next_step = plan[index + 1] if index + 1 < len(plan) else None
                # aclosing: a reader that stops early closes the response at once, not at GC.
                async with aclosing(self._step(call, plan[index], next_step, attempts)) as items:
                    async for item in items:
                        if isinstance(item, StepEnd):
                            ends.append(item)
                        else:
                            yield item
            won = next((end for end in ends if end.result is not None), None)
            if won is not None:
                yield self._finish(won, attempts, started)
                return
            note_failures(ends, errors, attempts)
            index += len(ends)
        raise all_failed(plan, errors, attempts)

    async def _hedged(
        self, call: CallState, plan: Sequence[Step], index: int, delay: float
    ) -> tuple[list[StepEnd], list[Attempt]]:
        """Step `index` raced by step `index + 1` after `delay` s (see `nvgw_nb.hedging`):
        their ends, and every attempt of both in the order they started."""

        def run(
            branch: Branch, next_step: Step | None
        ) -> AsyncGenerator[StreamChunk | StepEnd, None]:
            return self._step(
                call,
                branch.step,
                next_step,
                branch.attempts,
                in_flight=branch.in_flight,
                hedge=branch.hedge,
            )

        hedger = Hedger(clock=self.clock, pricing=self.pricing, latencies=self.latencies)
        return await hedger.race(call.request, plan, index, delay, run)

    def _finish(self, won: StepEnd, attempts: list[Attempt], started: float) -> ChatResult:
        """The winning step's result, with every attempt of the call and what it cost."""
        assert won.result is not None
        last = won.attempt if won.attempt is not None else attempts[-1]
        return won.result.model_copy(
            update={
                "attempts": list(attempts),
                "latency_s": self.clock() - started,
                "cost_usd": sum(a.cost_usd for a in attempts),
                "usage": last.usage or Usage(),
                "correlation_id": last.correlation_id,
                "request_id": last.request_id,
            }
        )

    # --- one provider with its retries --------------------------------------------------
    async def _step(
        self,
        call: CallState,
        step: Step,
        next_step: Step | None,
        attempts: list[Attempt],
        *,
        in_flight: InFlight | None = None,
        hedge: bool = False,
    ) -> AsyncGenerator[StreamChunk | StepEnd, None]:
        """One provider with its retries: text chunks as they arrive, then how it ended.

        Each attempt is appended to `attempts` as it ends.
        """
        shared = self.breakers.get(step.provider)
        breaker = shared if shared is not None and call.options.use_breakers else CircuitBreaker()
        skipped = skip_error(step, breaker)
        if skipped is not None:
            attempts.append(not_sent(step, skipped, breaker=breaker.state, hedge=hedge))
            logger.info("%s", skipped)
            yield StepEnd(step, error=skipped)
            return
        retry = 0
        backoff = 0.0
        while True:
            ended: AttemptEnd | None = None
            tried = self._attempt(call, step, retry + 1, backoff, in_flight=in_flight, hedge=hedge)
            async with aclosing(tried) as items:
                async for item in items:
                    if isinstance(item, AttemptEnd):
                        ended = item
                    else:
                        yield item
            assert ended is not None
            attempts.append(ended.attempt)
            self._record_latency(ended)
            if ended.result is not None:
                breaker.record_success()
                yield StepEnd(step, result=ended.result, attempt=ended.attempt)
                return
            assert ended.error is not None
            paced = refused_by_pacing(ended.error, ended.attempt.requests_sent)
            if not paced:  # our own limiter's refusal says nothing of the provider's health
                tell_breaker(breaker, ended.error)
            after = self._after_failure(call, step, next_step, ended.error, retry, breaker)
            if isinstance(after, list):
                moved_to = next_step.provider if next_step is not None else None
                note = long_wait_note(ended.error, self.max_wait_s, moved_to)
                if note is not None:
                    attempts[-1] = with_note(attempts[-1], note)
                    logger.info("%s: %s", step.provider, note)
                for closing_item in after:
                    yield closing_item
                return
            retry += 1
            await sleep_visibly(self.sleep, step.provider, after, wait_reason(ended.error, paced))
            backoff = after

    def _after_failure(
        self,
        call: CallState,
        step: Step,
        next_step: Step | None,
        error: NvgwError,
        retry: int,
        breaker: CircuitBreaker,
    ) -> float | list[StreamChunk | StepEnd]:
        """After a failed attempt: the seconds to wait before retrying, or what ends the
        step (for a stream restarted on the next step, a reset chunk first)."""
        restart = isinstance(error, StreamInterrupted) and call.options.stream_mode == "restart"
        if restart and next_step is not None:
            # The text shown so far is void: say so, then start over on the next one.
            logger.info("restarting the stream on %s after %s", next_step.provider, error)
            reset = StreamChunk(
                text="", provider=next_step.provider, model=next_step.model, reset=True
            )
            return [reset, StepEnd(step, error=error)]
        if not error.falls_over:  # the caller must see it: no retry, no fallback
            return [StepEnd(step, error=error, fatal=True)]
        wait = retry_wait(
            error,
            retry,
            policy=self.policy,
            breaker_state=breaker.state,
            now=self.clock(),
            call_deadline=call.deadline,
            # with another provider left, a long Retry-After is not worth a blocked cell
            max_wait=self.max_wait_s if next_step is not None else None,
        )
        if wait is not None:
            logger.info(
                "%s attempt %d failed (%s); retrying in %.2f s",
                step.provider,
                retry + 1,
                error.kind,
                wait,
            )
            return wait
        if next_step is not None:
            logger.info(
                "falling back from %s to %s after %s", step.provider, next_step.provider, error.kind
            )
        return [StepEnd(step, error=error)]

    def _record_latency(self, ended: AttemptEnd) -> None:
        """Feed the latency tracker: answers, and timeouts as a lower bound."""
        if ended.result is not None or isinstance(ended.error, ProviderTimeout):
            self.latencies.record(ended.attempt.provider, ended.attempt.elapsed_s)

    # --- one attempt --------------------------------------------------------------------
    async def _attempt(
        self,
        call: CallState,
        step: Step,
        number: int,
        backoff: float,
        *,
        in_flight: InFlight | None,
        hedge: bool,
    ) -> AsyncGenerator[StreamChunk | AttemptEnd, None]:
        """One try: text chunks as they arrive, then how it ended. While its request is in
        flight, `in_flight` holds its draft (a hedge that wins records it as cancelled)."""
        provider = self.providers[step.provider]
        breaker = self.breakers[step.provider]
        try:
            paced = await self._pace(call, step)
        except RateLimited as err:  # the wait would be too long: nothing was sent
            attempt = not_sent(step, err, number=number, breaker=breaker.state, hedge=hedge)
            attempt = attempt.model_copy(update={"retry_after_s": err.retry_after_s})
            yield AttemptEnd(attempt=attempt, error=clean(err))
            return
        try:
            http_request = provider.build_request(call.request, step.model)
        except NvgwError as err:  # e.g. UnsupportedParameter: nothing was sent
            attempt = not_sent(step, err, number=number, breaker=breaker.state, hedge=hedge)
            yield AttemptEnd(attempt=attempt, error=clean(err))
            return
        draft = AttemptDraft(
            provider=step.provider,
            model=step.model,
            endpoint=f"{http_request.url.host}{http_request.url.path}",
            attempt=number,
            t0=self.clock(),
            backoff_s=backoff,
            paced_s=paced,
            breaker=breaker.state,
            correlation_id=provider.correlation_id(http_request),
            hedge=hedge,
        )
        if in_flight is not None:
            in_flight.draft = draft
        shown: list[str] = []
        received: Received | None = None
        error: NvgwError | None = None
        try:
            exchange = self._exchange(call, provider, http_request, step, draft, shown)
            async with aclosing(exchange) as pieces:
                async for piece in pieces:
                    if isinstance(piece, Received):
                        received = piece
                    else:
                        yield piece
        except (NvgwError, TimeoutError, httpx.HTTPError) as err:
            auth = self.auths.get(step.provider)
            error = attempt_error(err, step.provider, self.clock() - draft.t0, auth)
        result, error = self._conclude(call, step, draft, received, "".join(shown), error)
        if in_flight is not None:
            in_flight.draft = None
        yield AttemptEnd(attempt=draft.to_attempt(), result=result, error=clean(error))

    async def _pace(self, call: CallState, step: Step) -> float:
        """Wait for the rate limiter's slot (seconds waited); `RateLimited` when that would
        take longer than NVGW_MAX_WAIT or pass the call's deadline."""
        if self.limiter is None:
            return 0.0
        return await self.limiter.acquire(
            step.provider, deadline=call.deadline, max_wait=self.max_wait_s
        )

    async def _exchange(
        self,
        call: CallState,
        provider: Provider,
        http_request: httpx.Request,
        step: Step,
        draft: AttemptDraft,
        shown: list[str],
    ) -> AsyncGenerator[StreamChunk | Received, None]:
        """Send and read the answer: text chunks as they arrive (also kept in `shown`),
        then the whole answer. Raises a non-2xx answer's NvgwError, httpx's errors, and
        TimeoutError at the attempt's deadline; the response is closed however it ends."""
        deadline = min(draft.t0 + self.deadlines.attempt_s, call.deadline)
        counted = CountingAuth(self.auths.get(step.provider), draft)
        response: httpx.Response | None = None
        try:
            with anyio.fail_after(max(0.0, deadline - self.clock())):
                response = await send(
                    self.client,
                    provider,
                    http_request,
                    counted,
                    sleep=self.sleep,
                    poll_interval=self.policy.poll_interval,
                )
            draft.status_code = response.status_code
            draft.correlation_id = provider.correlation_id(response.request)
            request_id = provider.request_id(response)
            draft.request_id = request_id and cut(request_id, self.limits.model_chars)
            if response.status_code >= 300:
                # The error body is read within the deadline and the size limit too.
                answer = await read(response, step.provider, deadline, self.limits, self.clock)
                with parsing(step.provider, answer.status_code, self.limits):
                    raise status_error(provider, answer, step)
            reply: Reply | None = None
            if call.request.stream and is_sse(response):
                # aclosing: a cancelled or abandoned attempt closes the event reader at once.
                stream = events(provider, response, deadline, self.limits, self.clock)
                async with aclosing(stream) as pieces:
                    async for piece in pieces:
                        if isinstance(piece, Reply):
                            reply = piece
                        else:
                            shown.append(piece)
                            yield StreamChunk(text=piece, provider=step.provider, model=step.model)
            else:
                answer = await read(response, step.provider, deadline, self.limits, self.clock)
                with parsing(step.provider, answer.status_code, self.limits):
                    reply = provider.parse_response(answer)
                if call.request.stream and reply.content:
                    shown.append(reply.content)
                    yield StreamChunk(text=reply.content, provider=step.provider, model=step.model)
            assert reply is not None
            if reply.model is not None:
                reply.model = cut(reply.model, self.limits.model_chars)
            yield Received(reply, simulated=response.headers.get(SIMULATOR_HEADER) == "1")
        finally:
            if response is not None:
                await response.aclose()

    def _conclude(
        self,
        call: CallState,
        step: Step,
        draft: AttemptDraft,
        received: Received | None,
        shown: str,
        error: NvgwError | None,
    ) -> tuple[ChatResult | None, NvgwError | None]:
        """Judge what came back — the result, or the error — and fill in the draft."""
        if error is not None and shown:
            error = stream_interrupted(
                error,
                shown,
                step.provider,
                status_code=draft.status_code,
                request_id=draft.request_id,
            )
        result: ChatResult | None = None
        if error is None and received is not None:
            try:
                # Tool-call arguments and structured output are upstream JSON too.
                with parsing(step.provider, draft.status_code, self.limits):
                    result, draft.repairs = accept(
                        received.reply,
                        call.request,
                        step,
                        call.options,
                        simulated=received.simulated,
                    )
            except NvgwError as err:
                error = err
        reply = received.reply if received is not None else None
        # A provider that answered 200 generated tokens and bills them, failed or not;
        # when it reported no usage, estimate it and say so.
        usage = reply.usage if reply is not None else None
        if usage is None and draft.status_code == 200:
            usage = estimate_usage(call.request, shown or (reply.content if reply else ""))
            draft.usage_estimated = True
        draft.settle(
            self.clock(), error, usage, self.pricing.cost(draft.provider, draft.model, usage)
        )
        if self.limiter is not None:
            if isinstance(error, RateLimited):
                self.limiter.throttled(draft.provider, error.retry_after_s)
            elif error is None:
                self.limiter.succeeded(draft.provider)
        return result, error
