"""Starfleet OAuth2 client credentials as an `httpx.Auth`.

The flow yields the token request itself (RFC 6749 §4.4, HTTP Basic), so the simulator
and httpx's MockTransport cover OAuth with no extra mocking. The Basic credentials are
form-encoded first (§2.3.1, `token_auth="form"`) or sent as is (`"raw"`, as the
integration guide's code does); `"auto"` (the default) tries form, and when the token
endpoint rejects the client (401 or `invalid_client`) and the two encodings differ,
tries raw once, then keeps whichever worked for the life of the auth. Token bodies are
read under a size cap and a time budget, their JSON depth bounded (`token_wire.py`).

The token is cached with its expiry on the monotonic clock and refreshed early by
min(margin, half its lifetime); one token request serves every concurrent caller (a
lock per flavour: asyncio for async clients, threading for sync ones); a 401
invalidates the token, refreshes once and replays with a fresh correlationId; a failed
refresh keeps using a token that is still valid.

Every flow refuses to attach a credential to a URL that is not `https://` (plain
`http://` only on loopback, for the simulator) or to put a value with CR/LF or another
control character in a header: `Settings` rejects both first, this is the second line.

>>> auth = StarfleetAuth(client_id=..., client_secret=..., token_url=...,  # doctest: +SKIP
...                      variables=GatewayProvider.key_variables)
>>> httpx.Client(auth=auth).post(gateway_url, json=body)                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import closing
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit

import httpx
from pydantic import SecretStr

from nvgw_nb.errors import AuthError, ConfigError
from nvgw_nb.redaction import is_header_safe, is_loopback, mask
from nvgw_nb.token_cache import TokenCache
from nvgw_nb.token_wire import (
    Encoding,
    TokenAnswer,
    aread_token_body,
    basic_credentials,
    encodings_differ,
    read_budget,
    read_token_body,
    token_problem,
)

__all__ = ["ApiKeyAuth", "StarfleetAuth"]

logger = logging.getLogger("nvgw_nb.auth")

#: what the log says a token fetch is for
_FETCHING = "fetching a Starfleet token"
_REFETCHING = "the gateway answered 401: refreshing the Starfleet token once"
#: the other encoding `auto` tries after a rejection with the first
_OTHER: dict[Encoding, Encoding] = {"form": "raw", "raw": "form"}


def require_secure_url(url: httpx.URL, what: str) -> None:
    """Raise `ConfigError` unless `url` may carry `what`: https://, or http:// on loopback.

    Only the scheme and host are named, never the path or query.
    """
    if url.scheme == "https" or (url.scheme == "http" and is_loopback(url.host)):
        return
    raise ConfigError(
        f"refusing to send {what} to {url.scheme}://{url.host}: credentials go only to "
        "https:// URLs (plain http:// only to 127.0.0.1/localhost, e.g. the simulator)"
    )


def header_value(prefix: str, secret: SecretStr, what: str) -> str:
    """`prefix + secret` for a header, or `ConfigError` naming `what` (never the value)
    when the secret holds whitespace, CR/LF or another control or non-ASCII character."""
    value = secret.get_secret_value()
    if not value or not is_header_safe(value):
        raise ConfigError(
            f"{what} is empty or contains whitespace, a control character (CR, LF, …) or a "
            "non-ASCII character; it cannot be sent in an HTTP header"
        )
    return prefix + value


class ApiKeyAuth(httpx.Auth):
    """`Authorization: Bearer <key>` for NIM (and other key-based providers)."""

    def __init__(self, key: SecretStr, *, variable: str, header: str = "Authorization") -> None:
        self._key = key
        self.variable = variable
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        require_secure_url(request.url, self.variable)
        prefix = "Bearer " if self.header.lower() == "authorization" else ""
        request.headers[self.header] = header_value(prefix, self._key, self.variable)
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth(variable={self.variable!r}, header={self.header!r})"


class StarfleetAuth(httpx.Auth):
    """Bearer auth with a Starfleet client-credentials token, fetched when first needed."""

    requires_response_body = False  # bodies are read only for token responses (keeps SSE live)

    def __init__(
        self,
        *,
        client_id: SecretStr,
        client_secret: SecretStr,
        token_url: str,
        variables: tuple[str, str],
        scope: str = "azureopenai-readwrite",
        refresh_margin_s: float = 60.0,
        replay_header: str | None = "correlationId",
        clock: Callable[[], float] = time.monotonic,
        token_auth: Literal["auto", "form", "raw"] = "auto",  # noqa: S107  (not a password)
        max_token_bytes: int = 64 * 1024,
        max_json_depth: int = 100,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.token_host = urlsplit(token_url).netloc
        #: the variables holding the client id and secret: named in errors, never the values
        self.variables = variables
        self.scope = scope
        self.replay_header = replay_header
        self.cache = TokenCache(margin_s=refresh_margin_s, clock=clock)
        #: why the last token request failed (None after a success); never holds a secret
        self.last_error: str | None = None
        self._sync_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        if token_auth not in ("auto", "form", "raw"):
            raise ConfigError(f"NVGW_TOKEN_AUTH must be auto, form or raw, not {token_auth!r}")
        #: the NVGW_TOKEN_AUTH setting this auth was given
        self.token_auth = token_auth
        self.max_token_bytes = max_token_bytes
        self.max_json_depth = max_json_depth
        #: the encoding in use: fixed by the setting, or (auto) the one that got a token;
        #: None while auto has not yet learned which one the endpoint takes
        self.encoding: Encoding | None = self._initial_encoding()

    def __repr__(self) -> str:
        return (
            f"StarfleetAuth(client_id={mask(self._client_id.get_secret_value())!r}, "
            f"token_host={self.token_host!r}, {self.cache!r})"
        )

    def status(self) -> dict[str, Any]:
        """The token's life (never the token): held or not, fetch count, seconds until
        expiry and until the early refresh, and the last refresh error."""
        return {
            "configured": True,
            "held": self.cache.usable() is not None,
            "fetched": self.cache.fetched,
            "expires_in_s": self.cache.seconds_left(),
            "refresh_in_s": self.cache.refresh_in(),
            "last_error": self.last_error,
            "token_auth": self.token_auth,
            "encoding": self.encoding,
        }

    def _initial_encoding(self) -> Encoding | None:
        if self.token_auth != "auto":  # noqa: S105  (a mode, not a password)
            return self.token_auth
        differ = encodings_differ(
            self._client_id.get_secret_value(), self._client_secret.get_secret_value()
        )
        # identical headers: nothing to learn, and form (the RFC's) is what is sent
        return None if differ else "form"

    def _encodings_to_try(self) -> tuple[Encoding, ...]:
        """The encodings a fetch may use, in order: the known one, else form then raw."""
        if self.encoding is not None:
            return (self.encoding,)
        if ":" in self._client_id.get_secret_value():
            return ("form",)  # raw cannot carry a colon in the id (RFC 7617)
        return ("form", "raw")

    # --- pure pieces ------------------------------------------------------------------
    def build_token_request(
        self, caller: httpx.Request | None = None, encoding: Encoding | None = None
    ) -> httpx.Request:
        """The client-credentials token request (RFC 6749 §4.4.2) with the Basic
        credentials in `encoding` (default: the one in use, else form).

        It inherits the timeouts of the `caller` request: httpx applies client timeouts
        only to requests passed to `send`, not to those an auth flow yields.
        """
        extensions = (
            {"timeout": caller.extensions["timeout"]}
            if caller and "timeout" in caller.extensions
            else {}
        )
        url = httpx.URL(self.token_url)
        require_secure_url(url, " and ".join(self.variables))
        return httpx.Request(
            "POST",
            url,
            headers={
                "Authorization": basic_credentials(
                    self._client_id.get_secret_value(),
                    self._client_secret.get_secret_value(),
                    encoding or self.encoding or "form",
                    self.variables,
                ),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                # compressed bodies are inflated under the cap in token_wire, not by httpx
                "Accept-Encoding": "identity",
            },
            content=f"grant_type=client_credentials&scope={quote_plus(self.scope)}".encode(),
            extensions=extensions,
        )

    def take_token_response(
        self, response: httpx.Response, *, requested_at: float | None = None
    ) -> None:
        """Store the token from `response`, or raise `AuthError` (body already read).

        `requested_at` (the cache clock when the token request was sent) starts the
        token's lifetime. When a still-valid token is cached, a failed refresh is logged
        and the old token keeps being used.
        """
        # a streamed response is read here under the limits; a read one is only measured
        budget = 0.0 if response.is_stream_consumed else read_budget(response.request)
        answer = read_token_body(response, self.max_token_bytes, budget)
        self._settle(self._judge(answer, requested_at))

    def _judge(self, answer: TokenAnswer, requested_at: float | None) -> AuthError | None:
        """Store the token of `answer`, or return what was wrong with it."""
        problem = token_problem(
            answer,
            self.cache,
            self.token_host,
            self.variables,
            limits=(self.max_token_bytes, self.max_json_depth),
            requested_at=requested_at,
        )
        self.last_error = None if problem is None else str(problem)
        return problem

    def _settle(self, problem: AuthError | None) -> None:
        """Raise `problem`, unless there is none or a still-valid token can be used."""
        if problem is None:
            return
        if self.cache.refresh_failed():
            logger.warning("Starfleet token refresh failed (%s); using the cached token", problem)
            return
        raise problem

    def token_request_error(self, url: httpx.URL, *, phase: str, detail: str) -> AuthError | None:
        """The AuthError for a request to `url` that failed in transport (`phase`: connect,
        read, …; `detail`: what failed, free of secrets) if it was this auth's token
        request; None for any other request."""
        if not self.token_url or not str(url).startswith(self.token_url):
            return None
        return AuthError(
            f"Could not get a Starfleet token: {phase} failed for {url.host} ({detail}); "
            "check STARFLEET_TOKEN_URL and the network",
            phase="connect" if phase in ("connect", "connection") else "read",
            retryable=True,
        )

    def _authorize(self, request: httpx.Request) -> SecretStr:
        token = self.cache.usable()
        if token is None:
            raise AuthError(
                f"No valid Starfleet token for {request.url.host}", phase="status", retryable=True
            )
        require_secure_url(request.url, "the Starfleet token")
        request.headers["Authorization"] = header_value("Bearer ", token, "the Starfleet token")
        return token

    def _replay(self, request: httpx.Request) -> httpx.Request:
        """A copy of `request` to send again, with a fresh correlation id (a new request)."""
        headers = request.headers.copy()
        if self.replay_header and self.replay_header in headers:
            headers[self.replay_header] = str(uuid.uuid4())
        replay = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=request.content,
            extensions=request.extensions,
        )
        self._authorize(replay)
        return replay

    def _refresh_in_flight_failed(self) -> None:
        # The token request raised (connect/read error): remember it so a still-valid
        # token is used for a while instead of failing every call on a refresh.
        self.last_error = f"the token request to {self.token_host} did not complete"
        if self.cache.refresh_failed():
            logger.warning("Starfleet token refresh did not complete; using the cached token")

    # --- flows --------------------------------------------------------------------------
    def _fetch(
        self, caller: httpx.Request, why: str
    ) -> Generator[httpx.Request, TokenAnswer, None]:
        """The one token fetch of every path (sync, async, after a 401): yields the token
        request, then stores the token from the answer sent back (its body read).

        With `auto` and no encoding learned yet, a rejection of the client (401, or
        `invalid_client`) yields the request once more in the other encoding; the one
        that gets a token is kept. Closed before an answer came (the request raised, or
        the call was cancelled), it notes the refresh as failed, so a still-valid token
        is used meanwhile.
        """
        logger.info("%s from %s", why, self.token_host)
        tries = self._encodings_to_try()
        problem: AuthError | None = None
        for encoding in tries:
            requested_at = self.cache.clock()
            try:
                answer = yield self.build_token_request(caller, encoding)
            except GeneratorExit:
                self._refresh_in_flight_failed()
                raise
            problem = self._judge(answer, requested_at)
            if problem is None:
                if self.encoding is None:
                    self.encoding = encoding
                    logger.info(
                        "Starfleet accepted the %s-encoded client credentials; keeping that "
                        "encoding for this session",
                        encoding,
                    )
                return
            if encoding is tries[-1] or not _client_rejected(problem):
                break
            logger.info(
                "Starfleet rejected the %s-encoded client credentials; trying the %s encoding "
                "once (NVGW_TOKEN_AUTH=auto)",
                encoding,
                _OTHER[encoding],
            )
        self._settle(problem)

    def fetch_token(
        self, client: httpx.Client, extensions: Mapping[str, Any] | None = None
    ) -> None:
        """Fetch a token now through `client` (what `nvgw-nb check` does) exactly as a call
        would: the encodings the setting allows, the body read under the limits, the
        client's timeouts, `extensions` added to each token request. Raises `AuthError`
        (or httpx's transport errors)."""
        caller = client.build_request("POST", self.token_url)  # carries the timeouts
        fetch = self._fetch(caller, _FETCHING)
        with closing(fetch):
            request: httpx.Request | None = next(fetch)
            while request is not None:
                request.extensions.update(extensions or {})
                response = client.send(request, stream=True)
                try:
                    answer = read_token_body(response, self.max_token_bytes, read_budget(request))
                finally:
                    response.close()
                request = _answer(fetch, answer)

    def _sync_fetch(
        self, caller: httpx.Request, why: str
    ) -> Generator[httpx.Request, httpx.Response, None]:
        fetch = self._fetch(caller, why)
        with closing(fetch):  # closing this flow closes the fetch too: its guard runs
            request: httpx.Request | None = next(fetch)
            while request is not None:
                response = yield request
                budget = read_budget(request)
                request = _answer(fetch, read_token_body(response, self.max_token_bytes, budget))

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self.cache.needs_refresh():
            with self._sync_lock:
                if self.cache.needs_refresh():
                    yield from self._sync_fetch(request, _FETCHING)
        sent = self._authorize(request)
        response = yield request
        if response.status_code == 401:
            with self._sync_lock:
                if self.cache.invalidate(sent):
                    yield from self._sync_fetch(request, _REFETCHING)
            yield self._replay(request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._async_lock is None:
            self._async_lock = asyncio.Lock()
        if self.cache.needs_refresh():
            async with self._async_lock:
                if self.cache.needs_refresh():
                    fetch = self._fetch(request, _FETCHING)
                    with closing(fetch):  # closing this flow closes the fetch: its guard runs
                        token_request: httpx.Request | None = next(fetch)
                        while token_request is not None:
                            token_response = yield token_request
                            answer = await self._aread(token_request, token_response)
                            token_request = _answer(fetch, answer)
        sent = self._authorize(request)
        response = yield request
        if response.status_code == 401:
            async with self._async_lock:
                if self.cache.invalidate(sent):
                    fetch = self._fetch(request, _REFETCHING)
                    with closing(fetch):
                        token_request = next(fetch)
                        while token_request is not None:
                            token_response = yield token_request
                            answer = await self._aread(token_request, token_response)
                            token_request = _answer(fetch, answer)
            yield self._replay(request)

    async def _aread(self, request: httpx.Request, response: httpx.Response) -> TokenAnswer:
        """The token response to `request`, read under the size cap and time budget."""
        return await aread_token_body(response, self.max_token_bytes, read_budget(request))


def _answer(
    fetch: Generator[httpx.Request, TokenAnswer, None], answer: TokenAnswer
) -> httpx.Request | None:
    """Send a token answer to a `_fetch`: the next token request it wants, or None when
    it is done (it raises its AuthError itself)."""
    try:
        return fetch.send(answer)
    except StopIteration:
        return None


def _client_rejected(problem: AuthError) -> bool:
    """True when the token endpoint turned the client down (so the other encoding may do)."""
    return problem.phase == "rejected" and (
        problem.status_code == 401 or "invalid_client" in str(problem)
    )
