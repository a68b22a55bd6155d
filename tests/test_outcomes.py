"""nvgw_nb.outcomes: what went wrong, as errors and decisions — one table row per case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import httpx
import pytest
from pydantic import SecretStr

from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.errors import (
    AllProvidersFailed,
    AuthError,
    BadRequest,
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
    ServerError,
    StreamInterrupted,
)
from nvgw_nb.outcomes import (
    BreakerVerdict,
    accept,
    all_failed,
    attempt_error,
    breaker_verdict,
    clean,
    note_failures,
    retry_wait,
    skip_error,
    status_error,
    stream_interrupted,
    tell_breaker,
    transport_error,
)
from nvgw_nb.providers.base import Reply
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.nim import NimProvider
from nvgw_nb.results import Attempt, ChatRequest, Message
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.steps import CallPolicy, Step, StepEnd

NIM_URL = "https://nim.example.test/v1"
STATUS_URL = "https://nvcf.example.test/v2/nvcf/pexec/status"
GATEWAY_URL = "https://gateway.example.test/llm/v1/azure"
TOKEN_URL = "https://starfleet.example.test/token"

NIM = NimProvider(base_url=NIM_URL, status_url=STATUS_URL)
GATEWAY = GatewayProvider(base_url=GATEWAY_URL, api_version="2024-10-21")
NIM_STEP = Step("nvidia-nim", "meta/llama")
GATEWAY_STEP = Step("nvidia-gateway", "gpt-4o")
STARFLEET = StarfleetAuth(
    client_id=SecretStr("id"),
    client_secret=SecretStr("s3cret-value"),
    token_url=TOKEN_URL,
    variables=("STARFLEET_ID", "STARFLEET_SECRET"),
)


def _failed(cls: type[httpx.HTTPError], url: str, message: str = "boom") -> httpx.HTTPError:
    return cls(message, request=httpx.Request("POST", url))


def _answer(status: int, url: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
    response = httpx.Response(status, headers=headers, request=httpx.Request("POST", url))
    response.read()
    return response


def _gateway_401_after_refresh() -> httpx.Response:
    url = f"{GATEWAY_URL}/openai/deployments/gpt-4o/chat/completions"
    first = httpx.Response(401, request=httpx.Request("POST", url, headers={"correlationId": "c1"}))
    replay = httpx.Response(
        401,
        request=httpx.Request("POST", url, headers={"correlationId": "c2"}),
        history=[first],
    )
    replay.read()
    return replay


def _request() -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content="hi")])


def _accept(reply: Reply) -> NvgwError:
    try:
        accept(reply, _request(), NIM_STEP, CallPolicy(), simulated=False)
    except NvgwError as err:
        return err
    raise AssertionError("accepted")


def _attempt(provider: str, outcome: str = "error") -> Attempt:
    return Attempt(
        provider=provider,
        model="m",
        endpoint="",
        attempt=1,
        started_at=datetime.now(timezone.utc),
        outcome=outcome,  # type: ignore[arg-type]
    )


# (case, make the error, its class, its kind, words its message must hold)
ERRORS: list[tuple[str, Callable[[], NvgwError], type[NvgwError], str, list[str]]] = [
    (
        "connect timeout",
        lambda: transport_error(_failed(httpx.ConnectTimeout, NIM_URL), "nvidia-nim", 2.0),
        ProviderTimeout,
        "timeout",
        ["nvidia-nim", "connect timeout after 2.0 s", "nim.example.test"],
    ),
    (
        "read timeout",
        lambda: transport_error(_failed(httpx.ReadTimeout, NIM_URL), "nvidia-nim", 5.5),
        ProviderTimeout,
        "timeout",
        ["read timeout after 5.5 s"],
    ),
    (
        "connection refused",
        lambda: transport_error(_failed(httpx.ConnectError, NIM_URL, "refused"), "nvidia-nim", 0),
        ProviderUnreachable,
        "unreachable",
        ["nvidia-nim unreachable", "cannot connect to nim.example.test (refused)"],
    ),
    (
        "TLS handshake failed",
        lambda: transport_error(
            _failed(httpx.ConnectError, NIM_URL, "[SSL: WRONG_VERSION_NUMBER]"), "nvidia-nim", 0
        ),
        ProviderUnreachable,
        "unreachable",
        ["TLS handshake failed", "URL's scheme"],
    ),
    (
        "connection broke mid-answer",
        lambda: transport_error(
            _failed(httpx.RemoteProtocolError, NIM_URL, "peer closed"), "nvidia-nim", 1
        ),
        ProviderConnectionError,
        "connection",
        ["connection to nim.example.test broke (peer closed)"],
    ),
    (
        "local protocol error: only its class name, never the header it quotes",
        lambda: transport_error(
            _failed(httpx.LocalProtocolError, NIM_URL, "Bearer s3cret"), "nvidia-nim", 0
        ),
        ProviderConnectionError,
        "connection",
        ["(LocalProtocolError)"],
    ),
    (
        "failure with no request attached",
        lambda: transport_error(httpx.ConnectError("down"), "nvidia-nim", 0),
        ProviderUnreachable,
        "unreachable",
        ["cannot connect to the provider (down)"],
    ),
    (
        "the auth's own token request could not connect",
        lambda: transport_error(
            _failed(httpx.ConnectError, TOKEN_URL, "refused"), "nvidia-gateway", 0, STARFLEET
        ),
        AuthError,
        "auth",
        ["Could not get a Starfleet token", "starfleet.example.test", "STARFLEET_TOKEN_URL"],
    ),
    (
        "the auth's own token request timed out reading",
        lambda: transport_error(
            _failed(httpx.ReadTimeout, TOKEN_URL), "nvidia-gateway", 0, STARFLEET
        ),
        AuthError,
        "auth",
        ["read failed for starfleet.example.test"],
    ),
    (
        "a gateway request failing is the gateway's, even with the auth given",
        lambda: transport_error(
            _failed(httpx.ConnectError, GATEWAY_URL, "refused"), "nvidia-gateway", 0, STARFLEET
        ),
        ProviderUnreachable,
        "unreachable",
        ["nvidia-gateway unreachable", "gateway.example.test"],
    ),
    (
        "attempt deadline",
        lambda: attempt_error(TimeoutError(), "nvidia-nim", 120.0),
        ProviderTimeout,
        "timeout",
        ["no complete answer within the attempt deadline (120.0 s)"],
    ),
    (
        "an NvgwError raised during the attempt is kept",
        lambda: attempt_error(EmptyResponse("x said nothing", provider="x"), "x", 1.0),
        EmptyResponse,
        "empty",
        ["x said nothing"],
    ),
    (
        "gateway 401 after a token refresh: the client is not entitled",
        lambda: status_error(GATEWAY, _gateway_401_after_refresh(), GATEWAY_STEP),
        AuthError,
        "auth",
        ["before and after a Starfleet token refresh", "c1, c2", "STARFLEET_ID", "entitled"],
    ),
    (
        "NIM 401: the key is rejected (no refresh there)",
        lambda: status_error(NIM, _answer(401, f"{NIM_URL}/chat/completions"), NIM_STEP),
        ProviderAuthError,
        "provider_auth",
        ["nvidia-nim"],
    ),
    (
        "redirect from the base URL names its variable and the target host only",
        lambda: status_error(
            NIM,
            _answer(
                302,
                f"{NIM_URL}/chat/completions",
                headers={"location": "https://elsewhere.example.test/login?next=secret"},
            ),
            NIM_STEP,
        ),
        ProviderStatusError,
        "status",
        ["HTTP 302", "elsewhere.example.test", "check NVIDIA_NIM_BASE_URL"],
    ),
    (
        "redirect from the NVCF status URL names NVGW_NVCF_STATUS_URL",
        lambda: status_error(
            NIM,
            _answer(
                307, f"{STATUS_URL}/req-1", headers={"location": "https://other.example.test/"}
            ),
            NIM_STEP,
        ),
        ProviderStatusError,
        "status",
        ["HTTP 307", "check NVGW_NVCF_STATUS_URL"],
    ),
    (
        "redirect from the gateway names its base URL variable",
        lambda: status_error(
            GATEWAY,
            _answer(308, f"{GATEWAY_URL}/openai", headers={"location": "/moved"}),
            GATEWAY_STEP,
        ),
        ProviderStatusError,
        "status",
        ["nvidia-gateway answered HTTP 308", "check LLM_GATEWAY_BASE_URL"],
    ),
    (
        "a server error goes to the provider's own ladder",
        lambda: status_error(NIM, _answer(503, f"{NIM_URL}/chat/completions"), NIM_STEP),
        ServerError,
        "server_error",
        ["nvidia-nim"],
    ),
    (
        "text already shown when the attempt failed",
        lambda: stream_interrupted(
            ProviderTimeout("t", phase="read", elapsed_s=1, provider="nvidia-nim"),
            "Hello",
            "nvidia-nim",
            status_code=200,
            request_id="r1",
        ),
        StreamInterrupted,
        "stream_interrupted",
        ["nvidia-nim stream broke after 5 characters", "(timeout: t)"],
    ),
    (
        "content filter",
        lambda: _accept(Reply(content="", finish_reason="content_filter")),
        ContentFiltered,
        "content_filter",
        ["nvidia-nim's content filter stopped the answer"],
    ),
    (
        "no content and no tool calls",
        lambda: _accept(Reply(content="  ", finish_reason="stop")),
        EmptyResponse,
        "empty",
        ["no content and no tool calls"],
    ),
    (
        "skipped by policy",
        lambda: (
            skip_error(Step("openai", "gpt", skip="external providers are off"), CircuitBreaker())
            or NvgwError("none")
        ),
        PolicyError,
        "policy",
        ["openai skipped by policy: external providers are off"],
    ),
    (
        "skipped: its breaker is open",
        lambda: (
            skip_error(NIM_STEP, CircuitBreaker(opened_at=0.0, clock=lambda: 1.0))
            or NvgwError("none")
        ),
        CircuitOpen,
        "circuit_open",
        ["nvidia-nim skipped"],
    ),
    (
        "every provider failed: one line each, with its tries",
        lambda: all_failed(
            [NIM_STEP, GATEWAY_STEP],
            {
                "nvidia-nim": ServerError("nim 503", provider="nvidia-nim"),
                "nvidia-gateway": ProviderTimeout(
                    "gw slow", phase="read", elapsed_s=1, provider="nvidia-gateway"
                ),
            },
            [_attempt("nvidia-nim"), _attempt("nvidia-nim"), _attempt("nvidia-gateway")],
        ),
        AllProvidersFailed,
        "all_failed",
        ["All providers failed", "nvidia-nim: nim 503 (2 attempts)", "gw slow (1 attempt)"],
    ),
    (
        "a one-step plan fails with its own error",
        lambda: all_failed(
            [NIM_STEP], {"nvidia-nim": ServerError("nim 503", provider="nvidia-nim")}, []
        ),
        ServerError,
        "server_error",
        ["nim 503"],
    ),
]


@pytest.mark.parametrize(
    ("make", "cls", "kind", "words"),
    [pytest.param(*row[1:], id=row[0]) for row in ERRORS],
)
def test_errors(
    make: Callable[[], NvgwError], cls: type[NvgwError], kind: str, words: list[str]
) -> None:
    """Each failure becomes the right error class and kind, worded to say what to fix."""
    error = make()
    assert type(error) is cls
    assert error.kind == kind
    for word in words:
        assert word in str(error)
    assert "s3cret" not in str(error)
    assert "next=secret" not in str(error)


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        pytest.param(
            AuthError("no", phase="rejected"),
            BreakerVerdict(trip=True, reason="auth broken: auth"),
            id="starfleet rejected the credentials: trip",
        ),
        pytest.param(
            AuthError("no", phase="replay"),
            BreakerVerdict(trip=True, reason="auth broken: auth"),
            id="401 after refresh: trip",
        ),
        pytest.param(
            AuthError("slow", phase="read"),
            BreakerVerdict(trip=False, reason="auth"),
            id="token endpoint unreachable: one failure",
        ),
        pytest.param(
            ProviderAuthError("bad key", provider="x"),
            BreakerVerdict(trip=True, reason="credentials rejected"),
            id="key rejected: trip",
        ),
        pytest.param(
            ServerError("503", provider="x"),
            BreakerVerdict(trip=False, reason="server_error"),
            id="server error: one failure",
        ),
        pytest.param(
            ProviderTimeout("t", phase="read", elapsed_s=1, provider="x"),
            BreakerVerdict(trip=False, reason="timeout"),
            id="timeout: one failure",
        ),
        pytest.param(ModelNotFound("404", provider="x"), None, id="unknown model: not counted"),
        pytest.param(BadRequest("400", provider="x"), None, id="caller's error: not counted"),
    ],
)
def test_breaker_verdicts(error: NvgwError, verdict: BreakerVerdict | None) -> None:
    """Broken credentials trip the breaker, provider failures count, the rest say nothing."""
    assert breaker_verdict(error) == verdict


def test_tell_breaker_trips_or_counts() -> None:
    """The verdict is applied: a trip opens the breaker at once, a failure counts one."""
    tripped, counted, untouched = CircuitBreaker(), CircuitBreaker(), CircuitBreaker()
    tell_breaker(tripped, ProviderAuthError("bad key", provider="x"))
    tell_breaker(counted, ServerError("503", provider="x"))
    tell_breaker(untouched, BadRequest("400", provider="x"))
    assert (tripped.state, tripped.reason) == ("open", "credentials rejected")
    assert (counted.state, counted.failures) == ("closed", 1)
    assert (untouched.state, untouched.failures) == ("closed", 0)


POLICY = RetryPolicy(attempts=3, wait_initial=0.5, wait_max=8.0, wait_jitter=0.0)


def _limited(after: float | None) -> RateLimited:
    return RateLimited("429", retry_after_s=after, provider="x")


@pytest.mark.parametrize(
    ("error", "retry", "breaker_state", "now", "wait"),
    [
        pytest.param(ServerError("503", provider="x"), 0, "closed", 0.0, 0.5, id="first backoff"),
        pytest.param(ServerError("503", provider="x"), 1, "closed", 0.0, 1.0, id="doubles"),
        pytest.param(ServerError("503", provider="x"), 2, "closed", 0.0, None, id="budget spent"),
        pytest.param(
            ServerError("503", provider="x"), 0, "open", 0.0, None, id="breaker opened: move on"
        ),
        pytest.param(
            BadRequest("400", provider="x"), 0, "closed", 0.0, None, id="no retries deserved"
        ),
        pytest.param(_limited(3.0), 0, "closed", 0.0, 3.0, id="Retry-After honoured"),
        pytest.param(_limited(None), 0, "closed", 0.0, 0.5, id="429 without Retry-After"),
        pytest.param(_limited(61.0), 0, "closed", 0.0, None, id="Retry-After too long"),
        pytest.param(
            ServerError("503", provider="x"), 0, "closed", 99.6, None, id="past the call deadline"
        ),
    ],
)
def test_retry_waits(
    error: NvgwError, retry: int, breaker_state: str, now: float, wait: float | None
) -> None:
    """Retry while the error's and the policy's budgets allow and the deadline is not hit."""
    got = retry_wait(
        error, retry, policy=POLICY, breaker_state=breaker_state, now=now, call_deadline=100.0
    )
    assert got == wait


def test_note_failures_raises_the_first_fatal_end_with_every_attempt() -> None:
    """Ends are judged in plan order; a fatal one reaches the caller carrying the attempts."""
    errors: dict[str, NvgwError] = {}
    attempts = [_attempt("nvidia-nim"), _attempt("nvidia-gateway")]
    filtered = ContentFiltered("filtered", provider="nvidia-gateway")
    ends = [
        StepEnd(NIM_STEP, error=ServerError("503", provider="nvidia-nim")),
        StepEnd(GATEWAY_STEP, error=filtered, fatal=True),
    ]
    with pytest.raises(ContentFiltered) as info:
        note_failures(ends, errors, attempts)
    assert list(errors) == ["nvidia-nim"]
    assert info.value.attempts == attempts


def test_accept_builds_the_result() -> None:
    """A whole answer becomes a ChatResult; a truncated empty one is still an answer."""
    result, repairs = accept(
        Reply(content="", finish_reason="length", model="served-model"),
        _request(),
        NIM_STEP,
        CallPolicy(),
        simulated=True,
    )
    assert (result.served_by, result.model, result.simulated) == (
        "nvidia-nim",
        "served-model",
        True,
    )
    assert repairs == []


def test_clean_drops_traceback_and_chained_exceptions() -> None:
    """Frames and chained httpx errors may hold headers: a cleaned error carries neither."""
    try:
        try:
            raise httpx.ConnectError("inner")
        except httpx.ConnectError as inner:
            raise ServerError("outer", provider="x") from inner
    except ServerError as err:
        error = clean(err)
    assert error is not None
    assert (error.__traceback__, error.__cause__, error.__context__) == (None, None, None)
    assert clean(None) is None
