"""Starfleet auth: the flow driven by hand, then end to end through httpx."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import unquote_plus

import httpx
import pytest
from pydantic import SecretStr

import nvgw_nb as nv
from nvgw_nb.auth import StarfleetAuth
from nvgw_nb.token_cache import TokenCache

TOKEN_URL = "https://starfleet.example.test/token"
GATEWAY = "https://gateway.example.test/openai/deployments/gpt-4o/chat/completions"


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_auth(
    clock: Clock | None = None,
    margin: float = 60.0,
    token_auth: str = "auto",
    max_token_bytes: int = 64 * 1024,
    max_json_depth: int = 100,
) -> StarfleetAuth:
    return StarfleetAuth(
        client_id=SecretStr("client id+1"),
        client_secret=SecretStr("s3cr:et/+%"),
        token_url=TOKEN_URL,
        variables=("STARFLEET_ID", "STARFLEET_SECRET"),
        refresh_margin_s=margin,
        clock=clock or Clock(),
        token_auth=token_auth,  # type: ignore[arg-type]
        max_token_bytes=max_token_bytes,
        max_json_depth=max_json_depth,
    )


def token_response(
    token: str = "tok-1", expires_in: object = 900, status: int = 200
) -> httpx.Response:
    return httpx.Response(
        status, json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in}
    )


def test_token_request_is_rfc6749_client_credentials() -> None:
    """Basic auth of the form-encoded id and secret; the seed's grant and scope."""
    request = make_auth().build_token_request()
    assert request.method == "POST"
    assert str(request.url) == TOKEN_URL
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    assert user == "client+id%2B1"
    assert (unquote_plus(user), unquote_plus(password)) == ("client id+1", "s3cr:et/+%")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.content == b"grant_type=client_credentials&scope=azureopenai-readwrite"


def test_flow_fetches_then_reuses_the_token() -> None:
    """First request: token request, then the call with Bearer; second: no token request."""
    auth = make_auth()
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY, headers={"correlationId": "a"}))
    assert str(next(flow).url) == TOKEN_URL
    call = flow.send(token_response("tok-1"))
    assert call.headers["Authorization"] == "Bearer tok-1"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, json={}))
    again = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    assert next(again).headers["Authorization"] == "Bearer tok-1"
    assert auth.cache.fetched == 1


@pytest.mark.parametrize(
    ("lifetime", "margin", "refresh_after"),
    [(900, 60, 840), (60, 60, 30), (10, 60, 5), (900, 0, 900)],
)
def test_early_refresh_is_min_of_margin_and_half_lifetime(
    lifetime: float, margin: float, refresh_after: float
) -> None:
    """The token is refreshed min(margin, lifetime/2) before it expires."""
    clock = Clock()
    cache = TokenCache(margin_s=margin, clock=clock)
    cache.store("t", lifetime)
    clock.now += refresh_after - 0.001
    assert not cache.needs_refresh()
    clock.now += 0.002
    assert cache.needs_refresh()


def test_lifetime_counts_from_the_request_and_the_last_moments_are_not_used() -> None:
    """A slow token answer does not stretch the expiry; no token is sent just before it ends."""
    clock = Clock()
    cache = TokenCache(margin_s=60, clock=clock)
    requested_at = clock.now
    clock.now += 3.0  # the token endpoint took 3 s to answer
    cache.store("t", 40, requested_at=requested_at)
    assert cache.seconds_left() == pytest.approx(37.0)
    assert cache.refresh_in() == pytest.approx(17.0)  # min(60, 40/2) before expiry
    assert cache.refresh_failed()  # a failed refresh keeps the token while it is usable
    clock.now = requested_at + 40 - 10 - 0.001  # usable until min(10 s, 40/4, margin) before
    assert cache.usable() is not None
    clock.now += 0.002
    assert cache.usable() is None
    assert cache.needs_refresh()


def test_401_invalidates_refreshes_and_replays_once_with_a_new_correlation_id() -> None:
    """G1: a 401 makes exactly one token request and one replay, with a fresh correlationId."""
    auth = make_auth()
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY, headers={"correlationId": "first"}))
    next(flow)
    call = flow.send(token_response("old"))
    refresh = flow.send(httpx.Response(401, request=call))
    assert str(refresh.url) == TOKEN_URL
    replay = flow.send(token_response("new"))
    assert replay.headers["Authorization"] == "Bearer new"
    assert replay.headers["correlationId"] != "first"
    assert call.headers["correlationId"] == "first"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(401))


def test_failed_refresh_keeps_a_still_valid_token() -> None:
    """A 503 from Starfleet during the early-refresh window keeps the cached token in use."""
    clock = Clock()
    auth = make_auth(clock)
    auth.cache.store("still-good", 900)
    clock.now += 850  # inside the refresh window, 50 s before expiry
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    assert str(next(flow).url) == TOKEN_URL
    call = flow.send(httpx.Response(503))
    assert call.headers["Authorization"] == "Bearer still-good"
    # ... and it does not hammer Starfleet on every call meanwhile.
    assert next(auth.sync_auth_flow(httpx.Request("POST", GATEWAY))) is not None
    assert not auth.cache.needs_refresh()


def test_refresh_that_raises_keeps_a_still_valid_token() -> None:
    """A token request that fails in transport (the flow is closed) marks the refresh failed."""
    clock = Clock()
    auth = make_auth(clock)
    auth.cache.store("still-good", 900)
    clock.now += 850
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    next(flow)
    flow.close()  # what httpx does when sending the token request raised
    nxt = next(auth.sync_auth_flow(httpx.Request("POST", GATEWAY)))
    assert nxt.headers["Authorization"] == "Bearer still-good"


def test_closing_the_flow_during_the_401_refetch_marks_the_refresh_failed() -> None:
    """Sync: a 401-replay token request that fails in transport is recorded, not lost."""
    auth = make_auth()
    auth.cache.store("old", 900)
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    call = next(flow)
    assert str(flow.send(httpx.Response(401, request=call)).url) == TOKEN_URL
    flow.close()  # what httpx does when sending the token request raised
    assert auth.last_error == "the token request to starfleet.example.test did not complete"


async def test_closing_the_async_flow_during_the_401_refetch_marks_the_refresh_failed() -> None:
    """Async: the 401-replay token fetch has the same guard as the first fetch."""
    auth = make_auth()
    auth.cache.store("old", 900)
    flow = auth.async_auth_flow(httpx.Request("POST", GATEWAY))
    call = await flow.__anext__()
    refetch = await flow.asend(httpx.Response(401, request=call))
    assert str(refetch.url) == TOKEN_URL
    await flow.aclose()
    assert auth.last_error == "the token request to starfleet.example.test did not complete"


async def test_cancelling_a_call_during_its_401_refetch_keeps_the_guard() -> None:
    """A call cancelled while its post-401 token request is in flight marks the refresh
    failed, leaves no token behind, and the next call fetches a fresh one."""
    import asyncio

    refetching = asyncio.Event()
    tokens = iter(["first", "stalled", "fresh"])

    async def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            token = next(tokens)
            if token == "stalled":
                refetching.set()
                await asyncio.Event().wait()  # never answers: the caller cancels
            return token_response(token)
        if request.headers["Authorization"] == "Bearer first":
            return httpx.Response(401)
        return httpx.Response(200, json={"auth": request.headers["Authorization"]})

    auth = make_auth()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        call = asyncio.ensure_future(client.post(GATEWAY, json={}))
        await refetching.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert auth.last_error == "the token request to starfleet.example.test did not complete"
        assert auth.cache.usable() is None
        response = await client.post(GATEWAY, json={})
    assert response.json() == {"auth": "Bearer fresh"}
    assert auth.last_error is None


def test_a_failed_token_request_is_worded_by_the_auth() -> None:
    """Only a transport failure of its own token request is the auth's AuthError."""
    auth = make_auth()
    error = auth.token_request_error(httpx.URL(TOKEN_URL), phase="connect", detail="refused")
    assert isinstance(error, nv.AuthError)
    assert error.phase == "connect"
    assert error.retryable
    assert "connect failed for starfleet.example.test (refused)" in str(error)
    assert "STARFLEET_TOKEN_URL" in str(error)
    assert auth.token_request_error(httpx.URL(GATEWAY), phase="read", detail="x") is None


def test_messages_name_the_variables_the_auth_was_given() -> None:
    """The auth names the credential variables its builder passed, whatever they are."""
    auth = StarfleetAuth(
        client_id=SecretStr("id"),
        client_secret=SecretStr("secret"),
        token_url=TOKEN_URL,
        variables=("MY_ID", "MY_SECRET"),
    )
    with pytest.raises(nv.AuthError, match="check MY_ID and MY_SECRET"):
        auth.take_token_response(httpx.Response(401, json={"error": "invalid_client"}))
    plain = StarfleetAuth(
        client_id=SecretStr("id"),
        client_secret=SecretStr("secret"),
        token_url="http://starfleet.example.test/token",
        variables=("MY_ID", "MY_SECRET"),
    )
    with pytest.raises(nv.ConfigError, match="refusing to send MY_ID and MY_SECRET"):
        plain.build_token_request()


@pytest.mark.parametrize(
    ("response", "phase", "names"),
    [
        (httpx.Response(503), "status", "HTTP 503"),
        (
            httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
            "body",
            "not JSON",
        ),
        (
            httpx.Response(200, json={"token_type": "Bearer", "expires_in": 900}),
            "body",
            "access_token",
        ),
        (
            httpx.Response(200, json={"access_token": "t", "expires_in": "soon"}),
            "body",
            "expires_in",
        ),
        (httpx.Response(200, json={"access_token": "t", "expires_in": -5}), "body", "expires_in"),
        (
            httpx.Response(200, json={"access_token": "t", "expires_in": 9, "token_type": "mac"}),
            "body",
            "token_type",
        ),
        (httpx.Response(401, json={"error": "invalid_client"}), "rejected", "STARFLEET_SECRET"),
        (httpx.Response(400, json={"error": "invalid_scope"}), "rejected", "NVGW_TOKEN_SCOPE"),
    ],
)
def test_bad_token_responses_raise_auth_errors(
    response: httpx.Response, phase: str, names: str
) -> None:
    """T1, T3, T4: each bad token response is an AuthError naming the phase and the field."""
    flow = make_auth(token_auth="form").sync_auth_flow(httpx.Request("POST", GATEWAY))
    next(flow)
    with pytest.raises(nv.AuthError) as info:
        flow.send(response)
    assert info.value.phase == phase
    assert names in str(info.value)
    assert "login" not in str(info.value)


def test_numeric_string_and_float_lifetimes_are_accepted() -> None:
    """expires_in may be a number or a numeric string."""
    for value in ("900", 0.5, 900):
        flow = make_auth().sync_auth_flow(httpx.Request("POST", GATEWAY))
        next(flow)
        assert flow.send(token_response(expires_in=value)).headers["Authorization"]


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


async def test_end_to_end_async_with_mock_transport() -> None:
    """Through a real AsyncClient: concurrent callers share one token request."""
    grants = []

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            grants.append(request)
            return token_response("shared")
        assert request.headers["Authorization"] == "Bearer shared"
        return httpx.Response(200, json={"ok": True})

    import asyncio

    auth = make_auth()
    async with httpx.AsyncClient(transport=_mock(handler), auth=auth) as client:
        responses = await asyncio.gather(*(client.post(GATEWAY, json={}) for _ in range(50)))
    assert all(r.status_code == 200 for r in responses)
    assert len(grants) == 1


def test_end_to_end_sync_client() -> None:
    """The same auth works with a plain httpx.Client."""

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return token_response("sync-token")
        return httpx.Response(200, json={"auth": request.headers["Authorization"]})

    with httpx.Client(transport=_mock(handler), auth=make_auth()) as client:
        assert client.post(GATEWAY).json() == {"auth": "Bearer sync-token"}


def test_repr_masks_the_client_id() -> None:
    """repr shows a masked client id and the token host, never the secret or token."""
    auth = make_auth()
    auth.cache.store("tok-secret-value", 900)
    text = repr(auth)
    assert "s3cr" not in text
    assert "tok-secret-value" not in text
    assert "starfleet.example.test" in text
    assert json.dumps(text)


# --- Basic encoding: NVGW_TOKEN_AUTH ------------------------------------------------------
def _basic(request: httpx.Request) -> tuple[str, str]:
    """The (user, password) of a token request's Basic header, as sent."""
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return user, password


RAW = ("client id+1", "s3cr:et/+%")
FORM = ("client+id%2B1", "s3cr%3Aet%2F%2B%25")
REJECTED = httpx.Response(401, json={"error": "invalid_client"})


@pytest.mark.parametrize(
    ("token_auth", "answers", "sent", "encoding"),
    [
        ("auto", [token_response()], [FORM], "form"),
        ("auto", [REJECTED, token_response()], [FORM, RAW], "raw"),
        ("auto", [httpx.Response(400, json={"error": "invalid_client"}), token_response()],
         [FORM, RAW], "raw"),
        ("auto", [REJECTED, REJECTED], [FORM, RAW], None),
        ("auto", [httpx.Response(400, json={"error": "invalid_scope"})], [FORM], None),
        ("auto", [httpx.Response(503)], [FORM], None),
        ("form", [REJECTED], [FORM], "form"),
        ("raw", [token_response()], [RAW], "raw"),
        ("raw", [REJECTED], [RAW], "raw"),
    ],
)  # fmt: skip
def test_the_flow_tries_the_encodings_the_setting_allows(
    token_auth: str,
    answers: list[httpx.Response],
    sent: list[tuple[str, str]],
    encoding: str | None,
) -> None:
    """auto: form, then raw once after a client rejection; form/raw: that one only."""
    auth = make_auth(token_auth=token_auth)
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    requests = [next(flow)]
    outcome: httpx.Request | nv.AuthError | None = None
    for answer in answers:
        try:
            outcome = flow.send(answer)
        except nv.AuthError as err:
            outcome = err
            break
        if str(outcome.url) == TOKEN_URL:
            requests.append(outcome)
    assert [_basic(r) for r in requests] == sent
    assert auth.status()["encoding"] == encoding
    assert auth.status()["token_auth"] == token_auth
    granted = answers[-1].status_code == 200
    assert isinstance(outcome, httpx.Request) is granted
    if granted:
        assert outcome.headers["Authorization"] == "Bearer tok-1"  # type: ignore[union-attr]


def test_the_learned_encoding_is_used_for_every_later_fetch() -> None:
    """After raw worked, a refresh sends raw only, and a rejection is final."""
    auth = make_auth()
    flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    next(flow)
    flow.send(REJECTED)
    flow.send(token_response("tok-1"))
    later = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
    next(later)
    refetch = later.send(httpx.Response(401))  # the gateway turned the token down
    assert _basic(refetch) == RAW
    with pytest.raises(nv.AuthError, match="invalid_client"):
        later.send(REJECTED)
    assert auth.status()["encoding"] == "raw"


@pytest.mark.parametrize(
    ("client_id", "secret", "encoding"),
    [("plain-id", "plain_secret.1~", "form"), ("plain-id", "a+b", None), ("id", "a=b", None)],
)
def test_auto_learns_nothing_when_both_encodings_are_the_same(
    client_id: str, secret: str, encoding: str | None
) -> None:
    """Identical headers: the encoding is known ("form") from the start; else unknown."""
    auth = StarfleetAuth(
        client_id=SecretStr(client_id),
        client_secret=SecretStr(secret),
        token_url=TOKEN_URL,
        variables=("STARFLEET_ID", "STARFLEET_SECRET"),
    )
    assert auth.status()["encoding"] == encoding
    if encoding is not None:
        flow = auth.sync_auth_flow(httpx.Request("POST", GATEWAY))
        next(flow)
        with pytest.raises(nv.AuthError):
            flow.send(REJECTED)  # nothing else to try


def test_a_colon_in_the_id_is_sent_form_encoded_only() -> None:
    """raw cannot carry `:` in the id: auto keeps to form, raw is a ConfigError."""
    kwargs = {"client_secret": SecretStr("a+b"), "token_url": TOKEN_URL,
              "variables": ("STARFLEET_ID", "STARFLEET_SECRET")}  # fmt: skip
    auto = StarfleetAuth(client_id=SecretStr("te:am"), **kwargs)  # type: ignore[arg-type]
    flow = auto.sync_auth_flow(httpx.Request("POST", GATEWAY))
    next(flow)
    with pytest.raises(nv.AuthError):
        flow.send(REJECTED)
    raw = StarfleetAuth(client_id=SecretStr("te:am"), token_auth="raw", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(nv.ConfigError, match="STARFLEET_ID contains ':'") as info:
        raw.build_token_request()
    assert "te:am" not in str(info.value)


async def test_the_async_flow_switches_encoding_too() -> None:
    """Through an AsyncClient: a raw-only endpoint gets form, then raw, then grants."""
    sent: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            sent.append(_basic(request))
            return token_response("raw-ok") if sent[-1] == RAW else REJECTED
        return httpx.Response(200, json={"auth": request.headers["Authorization"]})

    auth = make_auth()
    async with httpx.AsyncClient(transport=_mock(handler), auth=auth) as client:
        assert (await client.post(GATEWAY)).json() == {"auth": "Bearer raw-ok"}
    assert sent == [FORM, RAW]
    assert auth.status()["encoding"] == "raw"


# --- token bodies under limits --------------------------------------------------------------
@pytest.mark.parametrize(
    ("response", "says"),
    [
        (httpx.Response(200, content=b" " * 2048), "over 1024 bytes"),
        (httpx.Response(200, content=b"[" * 30 + b"]" * 30), "nested deeper than 20"),
        (httpx.Response(200, content=b'{"a": "' + b"[" * 900 + b'"}'), "`access_token`"),
        (httpx.Response(403, content=b"[" * 500 + b"]" * 500), "HTTP 403"),
        (httpx.Response(200, json={"access_token": "t", "expires_in": 10**400}), "expires_in"),
        (httpx.Response(200, content=b'{"access_token": "t", "expires_in": 1e999}'), "expires_in"),
        (httpx.Response(200, content=b"\xff\xfe"), "not JSON"),
    ],
)
def test_malformed_token_bodies_are_auth_errors(response: httpx.Response, says: str) -> None:
    """Too big, too deep (brackets in strings do not count), huge numbers, bad bytes."""
    flow = make_auth(max_token_bytes=1024, max_json_depth=20).sync_auth_flow(
        httpx.Request("POST", GATEWAY)
    )
    next(flow)
    with pytest.raises(nv.AuthError) as info:
        flow.send(response)
    assert says in str(info.value)
