"""How the engine reads what happened: failures as errors, errors as decisions.

Pure functions of what came back: a transport failure or a non-2xx answer becomes the
`NvgwError` of the fault matrix (the README's table of fault ids); an error becomes a
verdict for the provider's circuit breaker and a wait before the next retry (or none:
move on); the errors of a call that failed become the one error its caller sees,
carrying every attempt. The wording
specific to a provider or its auth comes from them (`Provider.rejected_after_refresh`,
`Provider.url_variable`, `StarfleetAuth.token_request_error`), never from a branch here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx

from nvgw_nb import untrusted
from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.errors import (
    AllProvidersFailed,
    AuthError,
    CircuitOpen,
    ContentFiltered,
    EmptyResponse,
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
    TLSError,
)
from nvgw_nb.network import (
    certificate_problem,
    proxy_hint,
    proxy_named,
    proxy_used,
    proxy_variable,
    unreachable_host,
)
from nvgw_nb.providers import registry
from nvgw_nb.providers.base import Provider, Reply
from nvgw_nb.redaction import location_host
from nvgw_nb.results import Attempt, ChatRequest, ChatResult
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.steps import CallPolicy, Step, StepEnd
from nvgw_nb.validation import check_tool_calls, parse_structured, run_validator

__all__ = [
    "BreakerVerdict",
    "FetchesTokens",
    "accept",
    "all_failed",
    "attempt_error",
    "breaker_verdict",
    "clean",
    "cut",
    "deadline_error",
    "note_failures",
    "redirect_error",
    "retry_wait",
    "skip_error",
    "status_error",
    "stream_interrupted",
    "tell_breaker",
    "transport_error",
    "with_attempts",
]


@runtime_checkable
class FetchesTokens(Protocol):
    """An auth that sends requests of its own (a token endpoint) and words their failures."""

    def token_request_error(
        self, url: httpx.URL, *, phase: str, detail: str
    ) -> AuthError | None: ...


# --- failures as errors -------------------------------------------------------------------
def attempt_error(
    err: NvgwError | TimeoutError | httpx.HTTPError,
    provider: str,
    elapsed: float,
    auth: httpx.Auth | None = None,
) -> NvgwError:
    """What an attempt that raised `err` after `elapsed` s failed with: an NvgwError as
    it is, a transport failure or the attempt deadline (TimeoutError) as theirs."""
    if isinstance(err, NvgwError):
        return err
    if isinstance(err, httpx.HTTPError):
        return transport_error(err, provider, elapsed, auth)
    return deadline_error(provider, elapsed)


def transport_error(
    err: httpx.HTTPError, provider: str, elapsed: float, auth: httpx.Auth | None = None
) -> NvgwError:
    """The error for a request to `provider` that failed in transport after `elapsed` s;
    the auth's own wording when the failed request was its token request.

    A certificate that fails verification is a `TLSError` (final for the provider); a
    connect timeout is not retried either and names the proxy in use, or the variables
    that set one (a mandatory proxy left unset looks exactly like this).
    """
    url = err.request.url if _has_request(err) else None
    host = url.host if url is not None else "the provider"
    phase = _phase(err)
    via = proxy_used(err)
    # A LocalProtocolError can quote the request's own header values: never repeat it.
    local = isinstance(err, httpx.LocalProtocolError)
    detail = type(err).__name__ if local else cut(str(err), 200) or type(err).__name__
    certificate = certificate_problem(err)
    if certificate is not None:
        reason, says = certificate
        fix = _tls_fix(reason, provider, url, auth, via)
        detail = f"TLS certificate refused: {says}; {fix}"
    elif isinstance(err, httpx.ConnectTimeout):
        # aiohttp's text repeats the whole URL: the host is named already
        detail = f"connect timeout; {proxy_hint(via)}"
    if url is not None and isinstance(auth, FetchesTokens):
        own = auth.token_request_error(url, phase=phase, detail=detail)
        if own is not None:
            if certificate is not None:
                return TLSError(str(own), reason=certificate[0], provider=provider)
            if isinstance(err, httpx.ConnectTimeout):
                own.retries = 0  # one connect timeout per provider, then the next
            return own
    if certificate is not None:
        return TLSError(
            f"{provider} unreachable: the TLS certificate of {host} was refused: "
            f"{certificate[1]}; {fix}",
            reason=certificate[0],
            provider=provider,
        )
    if isinstance(err, httpx.TimeoutException):
        timeout = ProviderTimeout(
            f"{provider}: {phase} timeout after {elapsed:.1f} s ({host})"
            + (f"; {proxy_hint(via)}" if phase == "connect" else ""),
            phase=phase,
            elapsed_s=elapsed,
            provider=provider,
        )
        if phase == "connect":
            timeout.retries = 0  # one connect timeout per provider, then the next
        return timeout
    if isinstance(err, httpx.ProxyError):
        error = ProviderUnreachable(
            f"{provider} unreachable: the proxy{proxy_named(via)} would not connect to "
            f"{host} ({detail}); check the address and credentials in "
            f"{proxy_variable(via)}, and NO_PROXY",
            provider=provider,
        )
        error.retries = 0  # a proxy's refusal (403, 407) does not heal by retrying
        return error
    if isinstance(err, httpx.ConnectError):
        if via:
            return ProviderUnreachable(
                f"{provider} unreachable: cannot connect to {host} through the proxy "
                f"{via} ({detail}); check the proxy address in {proxy_variable(via)}",
                provider=provider,
            )
        hint = (
            "; the TLS handshake failed: check that the server at that address speaks "
            "https, or that the URL's scheme is right"
            if "SSL" in detail or "TLS" in detail
            else ""
        )
        if unreachable_host(detail):
            hint = f"; {proxy_hint(via)}"  # off a proxy, a corporate network looks like this
        return ProviderUnreachable(
            f"{provider} unreachable: cannot connect to {host} ({detail}){hint}",
            provider=provider,
        )
    return ProviderConnectionError(
        f"{provider}: the connection to {host} broke ({detail})", provider=provider
    )


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary when there is one
    (`nvgw_nb.untrusted.cut`); any `user:password@` in a URL is dropped first."""
    return untrusted.cut(_USERINFO.sub("//", text), limit)


_USERINFO = re.compile(r"//[^/@\s]+@")


def _tls_fix(
    reason: str, provider: str, url: httpx.URL | None, auth: httpx.Auth | None, via: str | None
) -> str:
    """Which variable fixes a certificate failure of `reason`, in words."""
    if reason in ("expired", "not_yet_valid"):
        return (
            "check this machine's clock; otherwise the server's certificate must be renewed "
            "(no CA setting can fix it)"
        )
    if reason == "hostname":
        variable = _url_variable(provider, url, auth)
        return f"check that {variable} uses the host name on the certificate"
    proxy = f" (the proxy {via} may inspect TLS and sign with its own CA)" if via else ""
    return (
        "if your network uses a corporate root CA, set NVGW_CA_BUNDLE (or SSL_CERT_FILE) "
        f"to its PEM file{proxy}"
    )


def _url_variable(provider: str, url: httpx.URL | None, auth: httpx.Auth | None) -> str:
    """The variable holding `url`'s host: the provider's base URL variable; for the auth's
    own token request "its URL" (the auth's wording names the variable)."""
    if url is not None and isinstance(auth, FetchesTokens):
        token = auth.token_request_error(url, phase="connect", detail="")
        if token is not None:
            return "its URL"
    try:
        return registry.provider_class(provider).base_url_variable or "the provider's URL"
    except NvgwError:
        return "the provider's URL"


def status_error(provider: Provider, response: httpx.Response, step: Step) -> NvgwError:
    """The error for a non-2xx answer (body read) to `step`'s request."""
    if response.status_code == 401:
        rejected = provider.rejected_after_refresh(response)
        if rejected is not None:
            return rejected
    if 300 <= response.status_code < 400:
        return redirect_error(provider, response, step.provider)
    return provider.status_error(response, step.model)


def redirect_error(provider: Provider, response: httpx.Response, name: str) -> NvgwError:
    """A 3xx: never followed (the credentials would go along), so say where it pointed —
    the host only, never the path or query — and move on to the next provider."""
    status = response.status_code
    url = response.request.url
    target = location_host(response.headers.get("location"), str(url))
    error = ProviderStatusError(
        f"{name} answered HTTP {status}, a redirect to {target}: redirects are not followed "
        f"with credentials attached; check {provider.url_variable(url)} points at the "
        "final URL",
        provider=name,
        status_code=status,
        request_id=provider.request_id(response),
    )
    error.retries = 0
    return error


def deadline_error(provider: str, elapsed: float) -> ProviderTimeout:
    """No complete answer within the attempt's wall-clock deadline."""
    return ProviderTimeout(
        f"{provider} gave no complete answer within the attempt deadline ({elapsed:.1f} s)",
        phase="deadline",
        elapsed_s=elapsed,
        provider=provider,
    )


def stream_interrupted(
    error: NvgwError,
    shown: str,
    provider: str,
    *,
    status_code: int | None,
    request_id: str | None,
) -> StreamInterrupted:
    """`error` after the text `shown` reached the caller: the stream broke."""
    return StreamInterrupted(
        f"{provider} stream broke after {len(shown)} characters ({error.kind}: {error})",
        partial_text=shown,
        provider=provider,
        status_code=status_code,
        request_id=request_id,
    )


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
        (httpx.ProxyError, "connect"),
    ):
        if isinstance(err, cls):
            return phase
    return "connection"


# --- answers as results --------------------------------------------------------------------
def accept(
    reply: Reply, request: ChatRequest, step: Step, options: CallPolicy, *, simulated: bool
) -> tuple[ChatResult, list[str]]:
    """The result of a whole answer and the repairs applied; raises its B/E fault's error
    (content filter, no content, bad tool calls or structured output, the validator's)."""
    provider = step.provider
    if reply.finish_reason == "content_filter":
        raise ContentFiltered(f"{provider}'s content filter stopped the answer", provider=provider)
    calls, repairs = check_tool_calls(reply.tool_calls, request, provider, repair=options.repair)
    if not reply.content.strip() and not calls and reply.finish_reason != "length":
        raise EmptyResponse(
            f"{provider} answered with no content and no tool calls", provider=provider
        )
    parsed: Any = None
    if request.response_format is not None and not calls:
        parsed, more = parse_structured(
            reply.content, request, provider, model=options.output_model, repair=options.repair
        )
        repairs += [r for r in more if r not in repairs]
    result = ChatResult(
        content=reply.content,
        tool_calls=calls,
        finish_reason=reply.finish_reason,
        served_by=provider,
        model=reply.model or step.model,
        latency_s=0.0,
        attempts=[],
        simulated=simulated,
        parsed=parsed,
    )
    if options.validator is not None:
        run_validator(options.validator, result, provider)
    return result, repairs


def skip_error(step: Step, breaker: CircuitBreaker) -> NvgwError | None:
    """Why `step` is not tried at all (policy, or its breaker is open), or None."""
    if step.skip is not None:
        return PolicyError(f"{step.provider} skipped by policy: {step.skip}")
    if not breaker.allow():
        return CircuitOpen(f"{step.provider} skipped: {breaker.describe()}", provider=step.provider)
    return None


# --- errors as decisions --------------------------------------------------------------------
@dataclass(frozen=True)
class BreakerVerdict:
    """What an error tells a provider's circuit breaker: `trip` opens it at once (broken
    credentials do not heal by retrying); otherwise it counts one failure."""

    trip: bool
    reason: str


def breaker_verdict(error: NvgwError) -> BreakerVerdict | None:
    """What `error` tells the breaker; None when it says nothing of the provider's health
    (the caller's own error, or a model it does not serve)."""
    if isinstance(error, AuthError) and error.phase in ("rejected", "replay"):
        return BreakerVerdict(trip=True, reason=f"auth broken: {error.kind}")
    if isinstance(error, ProviderAuthError):
        return BreakerVerdict(trip=True, reason="credentials rejected")
    if error.falls_over and not isinstance(error, ModelNotFound):
        return BreakerVerdict(trip=False, reason=error.kind)
    return None


def tell_breaker(breaker: CircuitBreaker, error: NvgwError) -> None:
    """Trip `breaker` or count a failure on it, as `breaker_verdict` says."""
    verdict = breaker_verdict(error)
    if verdict is None:
        return
    if verdict.trip:
        breaker.trip(verdict.reason)
    else:
        breaker.record_failure(verdict.reason)


def retry_wait(
    error: NvgwError,
    retry: int,
    *,
    policy: RetryPolicy,
    breaker_state: str,
    now: float,
    call_deadline: float,
    max_wait: float | None = None,
) -> float | None:
    """Seconds to wait before retrying the same provider, or None to move on.

    `retry` retries were made so far. None when the error's or the policy's budget is
    spent, the breaker opened, a Retry-After (the provider's, or our rate limiter's) asks
    more than `max_wait` (NVGW_MAX_WAIT: the engine passes it while another provider is
    left to try) or, in any case, more than `policy.max_retry_after`, or the wait would end
    past the call's deadline.
    """
    allowed = min(error.retries, policy.attempts - 1)
    if retry >= allowed or breaker_state == "open":
        return None
    if isinstance(error, RateLimited) and error.retry_after_s is not None:
        longest = policy.max_retry_after
        if max_wait is not None:
            longest = min(longest, max_wait)
        if not error.retry_after_s <= longest:  # also NaN
            return None
        wait = error.retry_after_s
    else:
        wait = policy.backoff(retry + 1)
    if now + wait >= call_deadline:
        return None
    return wait


# --- what the caller sees -------------------------------------------------------------------
def clean(error: NvgwError | None) -> NvgwError | None:
    """Drop traceback and chained exceptions: their frames and httpx objects may hold
    headers; the message and attributes say what the caller needs."""
    if error is not None:
        error.__traceback__ = None
        error.__context__ = None
        error.__cause__ = None
    return error


def with_attempts(error: NvgwError, attempts: list[Attempt]) -> NvgwError:
    """`error`, carrying every attempt of the call: what the caller is raised."""
    error.attempts = list(attempts)
    return error


def note_failures(
    ends: Sequence[StepEnd], errors: dict[str, NvgwError], attempts: list[Attempt]
) -> None:
    """Record the errors of steps that gave no answer, in plan order (as if they had run
    one by one); raise the first that must reach the caller, with every attempt."""
    for end in ends:
        assert end.error is not None
        if end.fatal:
            raise with_attempts(end.error, attempts)
        errors[end.step.provider] = end.error


def all_failed(
    plan: Sequence[Step], errors: dict[str, NvgwError], attempts: list[Attempt]
) -> NvgwError:
    """The error of a call whose every step failed: a one-step plan's own error, else
    `AllProvidersFailed` with a line per provider."""
    if len(plan) == 1:
        return with_attempts(errors[plan[0].provider], attempts)
    lines = []
    for step in plan:
        error = errors[step.provider]
        tries = sum(1 for a in attempts if a.provider == step.provider and a.outcome != "skipped")
        lines.append(f"  {step.provider}: {error} ({tries} attempt{'s' if tries != 1 else ''})")
    return AllProvidersFailed(
        "All providers failed:\n" + "\n".join(lines), errors=errors, attempts=attempts
    )
