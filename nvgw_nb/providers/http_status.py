"""From a provider's HTTP error answer to the `ProviderError` the engine acts on.

Each provider reads its own error envelope into an `HttpFailure`;
`classify` applies the one ladder of the fault catalogue (N1, R1, R2, X1-X4 in
docs/reference/faults.md), worded the same for every provider.

>>> error = classify(HttpFailure(provider="openai", model="gpt-4o", status=404, auth_hint=""))
>>> type(error).__name__, str(error)
('ModelNotFound', "openai has no model 'gpt-4o' (HTTP 404)")
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nvgw_nb.errors import (
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    ModelNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    ServerError,
    UnsupportedParameter,
)
from nvgw_nb.untrusted import cut

__all__ = ["MAX_MESSAGE", "HttpFailure", "classify", "clip", "key_hint", "parse_retry_after"]

#: the longest error message by default (NVGW_MAX_ERROR_CHARS); a provider's own message,
#: code and type are cut to the limit in force too (fault X1, docs/reference/faults.md)
MAX_MESSAGE = 300


@dataclass(frozen=True, kw_only=True)
class HttpFailure:
    """A non-2xx answer as its provider read it: the status and what the body says.

    The flags are the provider's reading of its own codes; `classify` decides what
    each means for retries and fallback.
    """

    provider: str
    model: str
    status: int
    #: what to check when access is refused (`key_hint` of the provider's key variables)
    auth_hint: str
    request_id: str | None = None
    #: the provider's error type or status, named in the message (None: not named)
    error_type: str | None = None
    #: the provider's own message, already cut (`nvgw_nb.untrusted.cut`)
    message: str | None = None
    #: seconds the provider asked to wait before retrying (used on 429)
    retry_after_s: float | None = None
    #: the body says the key is bad although the status does not (Gemini's API_KEY_INVALID)
    key_rejected: bool = False
    #: the body says the prompt does not fit the model's context window
    context_too_long: bool = False
    #: the provider's content filter refused the prompt
    content_filtered: bool = False
    #: a 429 that waiting does not clear (quota spent for the day or for good)
    quota_exhausted: bool = False
    #: a 400 naming a parameter this provider lacks; another provider may take it
    unsupported_parameter: bool = False
    #: the provider cannot serve this request at all (e.g. the user's region); another may
    unavailable_here: bool = False
    #: the body blames the provider itself (Anthropic's overloaded_error, api_error)
    server_fault: bool = False


def classify(failure: HttpFailure) -> ProviderError:
    """The `ProviderError` for `failure`: the first of these that matches.

    429 → RateLimited (not retried when the quota is spent); 401/403 or a rejected
    key → ProviderAuthError; 413 or a context message → ContextTooLong; content
    filter → ContentFiltered; unavailable here → ProviderStatusError, not retried;
    400/422 → BadRequest (UnsupportedParameter when it names one); 404 →
    ModelNotFound; 5xx or a server fault → ServerError; anything else →
    ProviderStatusError, retried only for 408/409.
    """
    f = failure
    status = f.status
    said = f" {f.error_type}" if f.error_type else ""
    said += f": {f.message}" if f.message else ""

    def error(kind: type[ProviderError], text: str) -> ProviderError:
        return kind(clip(text), provider=f.provider, status_code=status, request_id=f.request_id)

    if status == 429:
        wait = f.retry_after_s
        waited = f" (retry after {wait:g}s)" if wait is not None else ""
        limited = RateLimited(
            clip(f"{f.provider} rate-limited the request{waited}{said}"),
            retry_after_s=wait,
            provider=f.provider,
            status_code=status,
            request_id=f.request_id,
        )
        if f.quota_exhausted:
            limited.retries = 0
        return limited
    if status in (401, 403) or f.key_rejected:
        named = f", {f.error_type}" if f.error_type else ""
        return error(
            ProviderAuthError, f"{f.provider} refused access (HTTP {status}{named}): {f.auth_hint}"
        )
    if status == 413 or f.context_too_long:
        return error(ContextTooLong, f"{f.provider}: the prompt is too long for {f.model}{said}")
    if f.content_filtered:
        return error(ContentFiltered, f"{f.provider} filtered the prompt{said}")
    if f.unavailable_here:
        refused = error(
            ProviderStatusError, f"{f.provider} cannot serve the request (HTTP {status}){said}"
        )
        refused.retries = 0
        return refused
    if status in (400, 422):
        rejected = UnsupportedParameter if f.unsupported_parameter else BadRequest
        return error(rejected, f"{f.provider} rejected the request (HTTP {status}){said}")
    if status == 404:
        return error(ModelNotFound, f"{f.provider} has no model {f.model!r} (HTTP 404){said}")
    if status >= 500 or f.server_fault:
        return error(ServerError, f"{f.provider} answered HTTP {status}{said}")
    other = error(ProviderStatusError, f"{f.provider} answered HTTP {status}{said}")
    if status not in (408, 409):  # e.g. 402 billing: waiting does not help
        other.retries = 0
    return other


def key_hint(variables: Sequence[str]) -> str:
    """What a refused key asks the user to check.

    >>> key_hint(("EXAMPLE_API_KEY",))
    'check EXAMPLE_API_KEY'
    """
    return "check " + " and ".join(variables)


def clip(text: str) -> str:
    """`text` cut to the error limit in force (MAX_MESSAGE unless NVGW_MAX_ERROR_CHARS
    says otherwise), at a word boundary when one is near, the cut marked with "…"."""
    return cut(text)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms` wins over `Retry-After`.

    `Retry-After` may be seconds (integer or decimal) or an HTTP date. Returns None
    when neither header is present or parseable, or the value is negative.

    >>> parse_retry_after({"Retry-After": "3", "retry-after-ms": "250"})
    0.25
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
        except ValueError:
            value = -1.0
        if 0 <= value < math.inf:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        value = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, value)
    return value if 0 <= value < math.inf else None  # NaN and infinity are no wait
