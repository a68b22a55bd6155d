"""What the fallback engine works with: a call's plan and policy, and what its tries produce.

A plan is a list of `Step`s (a provider and the model to ask it for); a `CallPolicy` says
what the call asks of an answer beyond the wire request. Each try fills an `AttemptDraft`,
which becomes the `Attempt` recorded on the result (`CountingAuth` counts into it the
requests that reached the provider); a try ends as an `AttemptEnd`, and a step (a
provider with its retries) as a `StepEnd`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

import httpx
from pydantic import BaseModel

from nvgw_nb.errors import NvgwError, RateLimited
from nvgw_nb.providers.base import Reply
from nvgw_nb.results import Attempt, ChatRequest, ChatResult, Outcome, Usage

__all__ = [
    "AttemptDraft",
    "AttemptEnd",
    "CallPolicy",
    "CountingAuth",
    "Deadlines",
    "Step",
    "StepEnd",
    "not_sent",
]


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
    #: read and feed the response cache (when the Session has one); `cache=False` on a call
    #: and pinned comparisons (which measure) turn it off
    use_cache: bool = True
    #: added to the cache key: an experiment salts it with the repeat index, so repeats are
    #: cached apart and a repeat is never served another repeat's answer
    cache_salt: str = ""


@dataclass(frozen=True)
class Deadlines:
    """Wall-clock limits, separate from httpx's per-read timeouts."""

    attempt_s: float = 120.0
    call_s: float = 300.0


@dataclass(frozen=True)
class CallState:
    """What every step of one call shares: the request, its policy, its deadline."""

    request: ChatRequest
    options: CallPolicy
    deadline: float


@dataclass
class Received:
    """A whole answer as the provider sent it, and whether the simulator gave it."""

    reply: Reply
    simulated: bool


@dataclass
class AttemptDraft:
    """An `Attempt` while it is being made: filled in as the try goes, then frozen by
    `to_attempt()`. `t0` (the engine's clock at the start) is not recorded."""

    provider: str
    model: str
    endpoint: str
    attempt: int
    t0: float
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    backoff_s: float = 0.0
    paced_s: float = 0.0
    breaker: str = "closed"
    hedge: bool = False
    correlation_id: str | None = None
    request_id: str | None = None
    status_code: int | None = None
    #: counted while the try runs (a 401 replay is two; a token request is not counted)
    requests_sent: int = 0
    elapsed_s: float = 0.0
    outcome: Outcome = "error"
    error_kind: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    usage: Usage | None = None
    usage_estimated: bool = False
    cost_usd: float = 0.0
    repairs: list[str] = field(default_factory=list)

    def settle(
        self, now: float, error: NvgwError | None, usage: Usage | None, cost_usd: float
    ) -> None:
        """Record how the try ended at `now` (the engine's clock): outcome, usage, cost."""
        self.elapsed_s = now - self.t0
        self.outcome = "ok" if error is None else "error"
        self.error_kind = None if error is None else error.kind
        self.error = None if error is None else str(error)
        self.retry_after_s = error.retry_after_s if isinstance(error, RateLimited) else None
        self.usage = usage
        self.cost_usd = cost_usd

    def to_attempt(self) -> Attempt:
        """The recorded `Attempt`."""
        return Attempt(
            provider=self.provider,
            model=self.model,
            endpoint=self.endpoint,
            attempt=self.attempt,
            started_at=self.started_at,
            elapsed_s=self.elapsed_s,
            outcome=self.outcome,
            status_code=self.status_code,
            error_kind=self.error_kind,
            error=self.error,
            retry_after_s=self.retry_after_s,
            backoff_s=self.backoff_s,
            paced_s=self.paced_s,
            breaker=self.breaker,
            correlation_id=self.correlation_id,
            request_id=self.request_id,
            usage=self.usage,
            usage_estimated=self.usage_estimated,
            cost_usd=self.cost_usd,
            repairs=list(self.repairs),
            requests_sent=self.requests_sent,
            hedge=self.hedge,
        )


def not_sent(
    step: Step, error: NvgwError, *, breaker: str, hedge: bool, number: int | None = None
) -> Attempt:
    """The Attempt of a try that sent nothing: skipped (no `number`: policy, or an open
    breaker), or attempt `number`, whose request could not be built."""
    return Attempt(
        provider=step.provider,
        model=step.model,
        endpoint="",
        attempt=0 if number is None else number,
        started_at=datetime.now(timezone.utc),
        outcome="skipped" if number is None else "error",
        error_kind=error.kind,
        error=str(error),
        breaker=breaker,
        hedge=hedge,
    )


@dataclass
class AttemptEnd:
    """How one attempt ended: a result or an error, and its Attempt record."""

    attempt: Attempt
    result: ChatResult | None = None
    error: NvgwError | None = None


@dataclass
class StepEnd:
    """How one step of the plan (a provider with its retries) ended.

    `fatal`: the error must reach the caller (it does not fall over to the next step).
    """

    step: Step
    result: ChatResult | None = None
    attempt: Attempt | None = None
    error: NvgwError | None = None
    fatal: bool = False


class CountingAuth(httpx.Auth):
    """Runs the provider's auth flow and counts, into the attempt's draft, the requests it
    sends to the request's own URL, so an `Attempt` says exactly how many reached the
    provider (a 401 replay is two; a token request is not counted)."""

    def __init__(self, inner: httpx.Auth | None, draft: AttemptDraft) -> None:
        self.inner = inner
        self.draft = draft
        self.requires_request_body = bool(inner and inner.requires_request_body)
        self.requires_response_body = bool(inner and inner.requires_response_body)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.inner is None:
            self.draft.requests_sent += 1
            yield request
            return
        flow = self.inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                self.draft.requests_sent += outgoing.url == request.url
                response = yield outgoing
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()
