"""The fallback engine: providers in order, retries, circuit breakers, the Attempt trace.

The engine runs on the Session's private event loop. It sends what providers build,
classifies every outcome into the FAULTS.md matrix, and records an `Attempt` for each
try — also when the call finally fails (the error carries them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import anyio
import httpx
from httpx_sse import EventSource
from pydantic import BaseModel

from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.config import BASE_URL_VARIABLES, location_host
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
from nvgw_nb.pricing import Pricing, estimate_usage
from nvgw_nb.providers.base import Provider, Reply
from nvgw_nb.ratelimit import RateLimiter
from nvgw_nb.results import Attempt, ChatRequest, ChatResult, StreamChunk, Usage
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.validation import check_tool_calls, parse_structured, run_validator

__all__ = ["CallOptions", "Deadlines", "Engine", "Step"]

logger = logging.getLogger("nvgw_nb")

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
class CallOptions:
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

    # --- public -------------------------------------------------------------------------
    async def chat(
        self, request: ChatRequest, plan: Sequence[Step], options: CallOptions | None = None
    ) -> ChatResult:
        """Run `request` through `plan`; the result, or the error with every attempt."""
        result: ChatResult | None = None
        async for item in self._run(request, plan, options or CallOptions()):
            if isinstance(item, ChatResult):
                result = item
        assert result is not None
        return result

    def stream(
        self, request: ChatRequest, plan: Sequence[Step], options: CallOptions | None = None
    ) -> AsyncIterator[StreamChunk | ChatResult]:
        """Text chunks as they arrive, then the ChatResult as the last item."""
        return self._run(request, plan, options or CallOptions())

    # --- the loop over providers and retries --------------------------------------------
    async def _run(
        self, request: ChatRequest, plan: Sequence[Step], options: CallOptions
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        started = self.clock()
        call_deadline = started + self.deadlines.call_s
        attempts: list[Attempt] = []
        errors: dict[str, NvgwError] = {}
        for index, step in enumerate(plan):
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
                attempts.append(self._skipped(step, skipped, breaker))
                errors[step.provider] = skipped
                logger.info("%s", skipped)
                continue
            retry = 0
            backoff = 0.0
            while True:
                outcome: _Outcome | None = None
                # aclosing: a reader that stops early closes the response at once, not at GC.
                async with aclosing(
                    self._attempt(request, step, retry + 1, backoff, call_deadline, options)
                ) as items:
                    async for item in items:
                        if isinstance(item, _Outcome):
                            outcome = item
                        else:
                            yield item
                assert outcome is not None
                attempts.append(outcome.attempt)
                if outcome.result is not None:
                    breaker.record_success()
                    yield self._finish(outcome.result, attempts, started)
                    return
                error = outcome.error
                assert error is not None
                self._judge(breaker, error)
                next_step = plan[index + 1] if index + 1 < len(plan) else None
                if isinstance(error, StreamInterrupted) and options.stream_mode == "restart":
                    if next_step is None:
                        raise _final(error, attempts)
                    # The text shown so far is void: say so, then start over on the next one.
                    logger.info("restarting the stream on %s after %s", next_step.provider, error)
                    errors[step.provider] = error
                    yield StreamChunk(
                        text="", provider=next_step.provider, model=next_step.model, reset=True
                    )
                    break
                if not error.falls_over:
                    raise _final(error, attempts)
                wait = self._retry_wait(error, retry, breaker, call_deadline)
                if wait is None:
                    errors[step.provider] = error
                    if next_step is not None:
                        logger.info(
                            "falling back from %s to %s after %s",
                            step.provider,
                            next_step.provider,
                            error.kind,
                        )
                    break
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
        raise _all_failed(plan, errors, attempts)

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
        options: CallOptions,
    ) -> AsyncGenerator[StreamChunk | _Outcome, None]:
        provider = self.providers[step.provider]
        breaker = self.breakers[step.provider]
        paced = await self.limiter.acquire(step.provider) if self.limiter else 0.0
        try:
            http_request = provider.build_request(request, step.model)
        except NvgwError as err:  # e.g. UnsupportedParameter: nothing was sent
            yield _Outcome(attempt=self._unsent(step, number, err, breaker), error=_clean(err))
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
        }
        t0 = self.clock()
        deadline = min(t0 + self.deadlines.attempt_s, call_deadline)
        counted = _CountingAuth(self.auths.get(step.provider))
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
                async for piece in self._events(provider, response, deadline):
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
    ) -> AsyncIterator[str | Reply]:
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
        options: CallOptions,
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

    def _finish(self, result: ChatResult, attempts: list[Attempt], started: float) -> ChatResult:
        last = attempts[-1]
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
        self, step: Step, number: int, error: NvgwError, breaker: CircuitBreaker
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
        )

    def _skipped(self, step: Step, error: NvgwError, breaker: CircuitBreaker) -> Attempt:
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
