"""What goes to and comes back from Starfleet's token endpoint, apart from the flow.

- `basic_credentials`: the Basic header in either encoding. `form` is RFC 6749 §2.3.1
  (id and secret form-encoded, then base64); `raw` is `base64(id:secret)` as is, which
  is what the integration guide's code and `httpx.post(url, auth=(id, secret))` send.
  The two differ only when the id or secret holds a character form-encoding changes
  (`encodings_differ`), e.g. `+ / = : %` or a space.
- `read_token_body` / `aread_token_body`: the token response body, read in chunks with
  a cap on its size (decoded, so a compressed bomb stops early) and on the time the whole
  body may take, so a body that never ends or trickles cannot hold memory or the call.
- `token_problem`: the token (stored in the cache) or the `AuthError` saying what was
  wrong with the answer, JSON nesting depth bounded, never quoting the body.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote_plus

import httpx

from nvgw_nb.errors import AuthError, ConfigError
from nvgw_nb.redaction import is_header_safe, location_host
from nvgw_nb.token_cache import TokenCache

__all__ = [
    "Encoding",
    "TokenAnswer",
    "aread_token_body",
    "basic_credentials",
    "encodings_differ",
    "json_too_deep",
    "read_budget",
    "read_token_body",
    "token_problem",
]

#: how the client id and secret are put into the Basic header
Encoding = Literal["form", "raw"]

#: a string in JSON (escapes included): removed before counting brackets
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


@dataclass(frozen=True)
class TokenAnswer:
    """A token response and its body as read under the limits.

    `too_big`/`too_slow`/`encoding_refused` say why `body` is empty instead of the body.
    """

    response: httpx.Response
    body: bytes
    too_big: bool = False
    too_slow: bool = False
    encoding_refused: str | None = None


def encodings_differ(client_id: str, client_secret: str) -> bool:
    """True when form-encoding changes the id or the secret (the two Basic headers differ)."""
    return quote_plus(client_id) != client_id or quote_plus(client_secret) != client_secret


def basic_credentials(
    client_id: str, client_secret: str, encoding: Encoding, variables: tuple[str, str]
) -> str:
    """The `Authorization` value for the token request in `encoding`.

    A raw id cannot hold `:` (RFC 7617: the first colon ends the id), so that is a
    `ConfigError` naming the variable, never the value.
    """
    if encoding == "form":
        user, password = quote_plus(client_id), quote_plus(client_secret)
    else:
        if ":" in client_id:
            raise ConfigError(
                f"{variables[0]} contains ':', which the raw Basic encoding cannot carry; "
                "set NVGW_TOKEN_AUTH=form (or auto)"
            )
        user, password = client_id, client_secret
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# --- reading the body under limits -----------------------------------------------------
class _Reader:
    """Collects raw chunks up to `limit` bytes and within `budget_s` seconds."""

    def __init__(self, limit: int, budget_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.clock = clock
        self.ends_at = clock() + budget_s
        self.chunks: list[bytes] = []
        self.size = 0
        self.too_big = False
        self.too_slow = False

    def take(self, chunk: bytes) -> bool:
        """Keep `chunk`; False when the body must not be read further."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.too_big = True
            return False
        self.chunks.append(chunk)
        if self.clock() > self.ends_at:
            self.too_slow = True
            return False
        return True

    def answer(self, response: httpx.Response) -> TokenAnswer:
        """The answer; the decoded body also becomes the response's content, because httpx
        reads every response an auth flow answered and the stream is consumed by now."""
        refused: str | None = None
        body = b"".join(self.chunks)
        too_big = self.too_big
        if not (too_big or self.too_slow):
            body, too_big, refused = _decode(
                body, response.headers.get("content-encoding", ""), self.limit
            )
        if too_big or self.too_slow or refused:
            body = b""
        response._content = body  # httpx's own slot for a read body (see the docstring)
        return TokenAnswer(response, body, too_big, self.too_slow, refused)


def read_budget(request: httpx.Request) -> float:
    """Seconds a token body may take in all: the request's read timeout (30 s without)."""
    timeout = request.extensions.get("timeout", {})
    read = timeout.get("read") if isinstance(timeout, dict) else None
    return float(read) if isinstance(read, int | float) and read > 0 else 30.0


def _already_read(response: httpx.Response, limit: int) -> TokenAnswer:
    """The answer for a response whose body was read before (a hand-made one)."""
    body = response.content
    too_big = len(body) > limit
    return TokenAnswer(response, b"" if too_big else body, too_big=too_big)


def read_token_body(
    response: httpx.Response,
    limit: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> TokenAnswer:
    """Read a streamed token response's body under `limit` bytes and `budget_s` seconds."""
    if response.is_stream_consumed:
        return _already_read(response, limit)
    reader = _Reader(limit, budget_s, clock)
    try:
        for chunk in response.iter_raw():
            if not reader.take(chunk):
                break
    finally:
        response.close()
    return reader.answer(response)


async def aread_token_body(
    response: httpx.Response,
    limit: int,
    budget_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> TokenAnswer:
    """`read_token_body` for an async response."""
    if response.is_stream_consumed:
        return _already_read(response, limit)
    reader = _Reader(limit, budget_s, clock)
    try:
        async for chunk in response.aiter_raw():
            if not reader.take(chunk):
                break
    finally:
        await response.aclose()
    return reader.answer(response)


def _decode(raw: bytes, content_encoding: str, limit: int) -> tuple[bytes, bool, str | None]:
    """(body, too big, refused encoding): gzip/deflate inflated to at most `limit` bytes.

    The token request asks for `identity`; a server that compresses anyway is decoded
    here with a cap (httpx would inflate a whole chunk at once, however large).
    """
    encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
    body = raw
    for name in reversed(encodings):
        if name == "identity":
            continue
        if name not in ("gzip", "x-gzip", "deflate"):
            return b"", False, name[:20]
        # 47: zlib or gzip, detected from the header; raw deflate as the last resort
        wbits = 47 if name != "deflate" or body[:1] == b"\x78" else -15
        inflater = zlib.decompressobj(wbits)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error:
            return b"", False, name
        if len(body) > limit or inflater.unconsumed_tail:
            return b"", True, None
    return body, False, None


# --- judging the answer ----------------------------------------------------------------
def json_too_deep(data: bytes, limit: int) -> bool:
    """True when JSON text nests arrays/objects deeper than `limit` (strings skipped)."""
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b"", data)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _body_error(host: str, what: str) -> AuthError:
    return AuthError(
        f"Starfleet token endpoint {host} answered 200 {what}",
        phase="body",
        status_code=200,
        retryable=True,
    )


def _limit_problem(answer: TokenAnswer, host: str, limit: int) -> AuthError | None:
    status = answer.response.status_code
    if answer.too_big:
        return AuthError(
            f"Starfleet token endpoint {host} answered HTTP {status} with a body over "
            f"{limit} bytes; check STARFLEET_TOKEN_URL (or raise NVGW_MAX_TOKEN_BYTES)",
            phase="body",
            status_code=status,
            retryable=True,
        )
    if answer.too_slow:
        return AuthError(
            f"Starfleet token endpoint {host} sent its answer too slowly (HTTP {status}, "
            "body not complete within the read timeout); check STARFLEET_TOKEN_URL and the "
            "network",
            phase="read",
            status_code=status,
            retryable=True,
        )
    if answer.encoding_refused:
        return AuthError(
            f"Starfleet token endpoint {host} answered HTTP {status} compressed with "
            f"{answer.encoding_refused!r}, which could not be decoded; check "
            "STARFLEET_TOKEN_URL",
            phase="body",
            status_code=status,
            retryable=True,
        )
    return None


def _load(body: bytes, depth: int) -> object:
    """The JSON value of `body`; ValueError when it is not JSON or nests too deep."""
    if json_too_deep(body, depth):
        raise ValueError("too deep")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, RecursionError) as err:
        raise ValueError(str(type(err).__name__)) from None


def token_problem(
    answer: TokenAnswer,
    cache: TokenCache,
    host: str,
    variables: tuple[str, str],
    *,
    limits: tuple[int, int],
    requested_at: float | None = None,
) -> AuthError | None:
    """Store the token from a token answer; return the error instead of raising.

    `limits` is (max body bytes, max JSON depth). Returning (not raising) keeps the
    parsed body — which holds the token — out of any traceback frame.
    """
    max_bytes, max_depth = limits
    limited = _limit_problem(answer, host, max_bytes)
    if limited is not None:
        return limited
    response, body = answer.response, answer.body
    status = response.status_code
    if status == 200:
        try:
            data = _load(body, max_depth)
        except ValueError as err:
            if str(err) == "too deep":
                return _body_error(host, f"with JSON nested deeper than {max_depth} levels")
            ctype = response.headers.get("content-type", "no content-type")[:60]
            return _body_error(host, f"with a body that is not JSON ({ctype})")
        if not isinstance(data, dict):
            return _body_error(host, "with JSON that is not an object")
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
            return _body_error(host, f"but `{bad}` is missing or invalid")
        cache.store(token, lifetime, requested_at=requested_at)
        return None
    if status in (400, 401, 403):
        code = oauth_error_code(body, max_depth)
        client_id, secret = variables
        hint = {
            "invalid_client": f"check {client_id} and {secret}",
            "unauthorized_client": f"check {client_id} and {secret}",
            "invalid_scope": (
                "check NVGW_TOKEN_SCOPE (the integration guide uses azureopenai-readwrite)"
            ),
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
            value = float(value[:40])
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) and number > 0 else None


def oauth_error_code(body: bytes, max_depth: int = 100) -> str | None:
    """The RFC 6749 §5.2 `error` code of a rejection body, if it is a well-formed one."""
    try:
        data = _load(body, max_depth)
    except ValueError:
        return None
    code = data.get("error") if isinstance(data, dict) else None
    # Only well-formed OAuth error codes are echoed: a short lowercase token, no free text.
    if isinstance(code, str) and code.replace("_", "").isalpha() and len(code) <= 40:
        return code
    return None
