"""Starfleet OAuth2 client credentials as an `httpx.Auth`.

The flow yields the token request itself (RFC 6749 §4.4: HTTP Basic with the client
id and secret form-encoded first, §2.3.1), so the simulator and httpx's MockTransport
cover OAuth with no extra mocking. The token is cached with its expiry on the
monotonic clock and refreshed early by min(margin, half its lifetime); one token
request serves every concurrent caller (a lock per flavour: asyncio for async
clients, threading for sync ones); a 401 invalidates the token, refreshes once and
replays with a fresh correlationId; a failed refresh keeps using a token that is
still valid.

Every flow refuses to attach a credential to a URL that is not `https://` (plain
`http://` only on loopback, for the simulator) or to put a value with CR/LF or another
control character in a header: `Settings` rejects both first, this is the second line.

>>> auth = StarfleetAuth(client_id=..., client_secret=..., token_url=...,  # doctest: +SKIP
...                      variables=GatewayProvider.key_variables)
>>> httpx.Client(auth=auth).post(gateway_url, json=body)                   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import closing
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
from pydantic import SecretStr

from nvgw_nb.errors import AuthError, ConfigError
from nvgw_nb.redaction import is_header_safe, is_loopback, location_host, mask
from nvgw_nb.token_cache import TokenCache

__all__ = ["ApiKeyAuth", "StarfleetAuth"]

logger = logging.getLogger("nvgw_nb.auth")

#: what the log says a token fetch is for
_FETCHING = "fetching a Starfleet token"
_REFETCHING = "the gateway answered 401: refreshing the Starfleet token once"


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
        }

    # --- pure pieces ------------------------------------------------------------------
    def build_token_request(self, caller: httpx.Request | None = None) -> httpx.Request:
        """The client-credentials token request (RFC 6749 §4.4.2).

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
                "Authorization": "Basic "
                + base64.b64encode(
                    (
                        quote_plus(self._client_id.get_secret_value())
                        + ":"
                        + quote_plus(self._client_secret.get_secret_value())
                    ).encode()
                ).decode("ascii"),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
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
        problem = _token_problem(
            response, self.cache, self.token_host, self.variables, requested_at
        )
        self.last_error = None if problem is None else str(problem)
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
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The one token fetch of every path (sync, async, after a 401): yields the token
        request, then stores the token from the answer sent back (its body read).

        Closed before an answer came (the request raised, or the call was cancelled), it
        notes the refresh as failed, so a still-valid token is used meanwhile.
        """
        logger.info("%s from %s", why, self.token_host)
        requested_at = self.cache.clock()
        try:
            response = yield self.build_token_request(caller)
        except GeneratorExit:
            self._refresh_in_flight_failed()
            raise
        self.take_token_response(response, requested_at=requested_at)

    def _sync_fetch(
        self, caller: httpx.Request, why: str
    ) -> Generator[httpx.Request, httpx.Response, None]:
        fetch = self._fetch(caller, why)
        with closing(fetch):  # closing this flow closes the fetch too: its guard runs
            response = yield next(fetch)
            response.read()
            _answer(fetch, response)

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
                        token_response = yield next(fetch)
                        await token_response.aread()
                        _answer(fetch, token_response)
        sent = self._authorize(request)
        response = yield request
        if response.status_code == 401:
            async with self._async_lock:
                if self.cache.invalidate(sent):
                    fetch = self._fetch(request, _REFETCHING)
                    with closing(fetch):
                        token_response = yield next(fetch)
                        await token_response.aread()
                        _answer(fetch, token_response)
            yield self._replay(request)


def _answer(
    fetch: Generator[httpx.Request, httpx.Response, None], response: httpx.Response
) -> None:
    """Send the token response to a `_fetch`, which then ends (or raises its AuthError)."""
    try:
        fetch.send(response)
    except StopIteration:
        return
    raise RuntimeError("a token fetch yielded a second request")


def _token_problem(
    response: httpx.Response,
    cache: TokenCache,
    host: str,
    variables: tuple[str, str],
    requested_at: float | None = None,
) -> AuthError | None:
    """Store the token from a token response; return the error instead of raising.

    Returning (not raising) keeps the parsed body — which holds the token — out of
    any traceback frame.
    """
    status = response.status_code
    if status == 200:
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            ctype = response.headers.get("content-type", "no content-type")
            return AuthError(
                f"Starfleet token endpoint {host} answered 200 with a body that is not JSON "
                f"({ctype})",
                phase="body",
                status_code=status,
                retryable=True,
            )
        if not isinstance(data, dict):
            return AuthError(
                f"Starfleet token endpoint {host} answered 200 with JSON that is not an object",
                phase="body",
                status_code=status,
                retryable=True,
            )
        token = data.get("access_token")
        lifetime = _lifetime(data.get("expires_in"))
        token_type = data.get("token_type", "Bearer")
        bad = (
            "access_token"
            if not isinstance(token, str) or not token or not is_header_safe(token)
            else "expires_in"
            if lifetime is None
            else "token_type"
            if not isinstance(token_type, str) or token_type.lower() != "bearer"
            else None
        )
        if bad is not None or not isinstance(token, str) or lifetime is None:
            return AuthError(
                f"Starfleet token endpoint {host} answered 200 but `{bad}` is missing or invalid",
                phase="body",
                status_code=status,
                retryable=True,
            )
        cache.store(token, lifetime, requested_at=requested_at)
        return None
    if status in (400, 401, 403):
        code = _oauth_error_code(response)
        client_id, secret = variables
        hint = {
            "invalid_client": f"check {client_id} and {secret}",
            "unauthorized_client": f"check {client_id} and {secret}",
            "invalid_scope": "check NVGW_TOKEN_SCOPE (the seed uses azureopenai-readwrite)",
        }.get(code or "", f"check {client_id}, {secret} and STARFLEET_TOKEN_URL")
        return AuthError(
            f"Starfleet rejected the client credentials at {host} "
            f"(HTTP {status}{', ' + code if code else ''}): {hint}",
            phase="rejected",
            status_code=status,
            retryable=False,
        )
    if 300 <= status < 400:
        # never followed: the Basic credentials would go along to wherever it points
        target = location_host(response.headers.get("location"), str(response.request.url))
        return AuthError(
            f"Starfleet token endpoint {host} answered HTTP {status}, a redirect to {target}: "
            "redirects are not followed with client credentials; set STARFLEET_TOKEN_URL to "
            "the final URL",
            phase="status",
            status_code=status,
            retryable=False,
        )
    return AuthError(
        f"Starfleet token endpoint {host} answered HTTP {status}",
        phase="status",
        status_code=status,
        retryable=status >= 500 or status in (408, 429),
    )


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _oauth_error_code(response: httpx.Response) -> str | None:
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    code = data.get("error") if isinstance(data, dict) else None
    # Only well-formed OAuth error codes are echoed: a short lowercase token, no free text.
    if isinstance(code, str) and code.replace("_", "").isalpha() and len(code) <= 40:
        return code
    return None
