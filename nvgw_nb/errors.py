"""Every error nvgw_nb raises, as one small tree.

```
NvgwError
├── ConfigError            bad settings or arguments, raised before any request
│   ├── PolicyError        an external provider named while policy forbids it
│   └── MissingCredentials a provider's credential variables are unset
├── SessionClosed          the Session was closed
├── AuthError              Starfleet token endpoint failed, or the gateway kept answering 401
├── ProviderError          one provider failed one attempt (carries provider, status, request id)
│   ├── ProviderUnreachable      connect refused / DNS / TLS            (C1)
│   │   └── TLSError             the server's certificate failed verification: final
│   ├── ProviderTimeout          read timeout or attempt deadline        (C2)
│   ├── ProviderConnectionError  connection reset mid-body               (C3)
│   ├── CircuitOpen              skipped: the breaker is open after repeated failures
│   ├── ProviderStatusError      an HTTP error status                    (N1, N2)
│   │   ├── ServerError          5xx                                     (N1)
│   │   ├── RateLimited          429                                     (R1, R2)
│   │   ├── BadRequest           400                                     (X1)
│   │   │   └── UnsupportedParameter  a parameter this provider lacks; next one (X1)
│   │   ├── ModelNotFound        404                                     (X2)
│   │   ├── ContextTooLong       413 / context length exceeded           (X3)
│   │   └── ProviderAuthError    401 / 403 from NIM                      (X4)
│   ├── MalformedResponse        200 with a body that is not a chat completion (B1-B3)
│   │   └── ResponseTooLarge     a body, stream, line or event over its size limit
│   ├── ToolCallError            tool call with bad JSON or an undeclared tool (B4, B5)
│   ├── ValidationFailed         a validator rejected the output          (B6)
│   ├── EmptyResponse            no content and no tool calls             (E1)
│   ├── ContentFiltered          the provider's content filter fired      (E3)
│   └── StreamInterrupted        a stream broke after text was shown      (S2)
└── AllProvidersFailed     every provider failed or was skipped (carries every Attempt)
```

Messages never contain a secret, a token or a response body dump: they name the
variable, the host and the status instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, TypedDict

from typing_extensions import Unpack

if TYPE_CHECKING:
    from nvgw_nb.results import Attempt

__all__ = [
    "AllProvidersFailed",
    "AuthError",
    "BadRequest",
    "CircuitOpen",
    "ConfigError",
    "ContentFiltered",
    "ContextTooLong",
    "EmptyResponse",
    "MalformedResponse",
    "MissingCredentials",
    "ModelNotFound",
    "NvgwError",
    "PolicyError",
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeout",
    "ProviderUnreachable",
    "RateLimited",
    "ResponseTooLarge",
    "ServerError",
    "SessionClosed",
    "StreamInterrupted",
    "TLSError",
    "ToolCallError",
    "UnsupportedParameter",
    "ValidationFailed",
]


class NvgwError(Exception):
    """Root of every error raised by nvgw_nb.

    `attempts` holds the Attempt records of the call that failed (empty when the
    error was raised before any request).
    """

    kind: ClassVar[str] = "error"
    #: retries on the same provider this failure deserves (the engine caps it by policy)
    retries: int = 0
    #: whether the engine may move on to the next provider after it
    falls_over: bool = False

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.attempts: list[Attempt] = list(attempts)

    def __str__(self) -> str:
        return self.message


class ConfigError(NvgwError, ValueError):
    """A setting or argument is wrong; the message names it and says how to fix it."""

    kind = "config"


class MissingCredentials(ConfigError):
    """A provider in use lacks credentials: `variables` names them, `hint` says how to
    get them (the Session raises it; `nvgw-nb check` reports it)."""

    def __init__(self, message: str, *, provider: str, variables: Sequence[str], hint: str):
        super().__init__(message)
        self.provider = provider
        self.variables = tuple(variables)
        self.hint = hint


class PolicyError(ConfigError):
    """An external provider was named while `NVGW_ALLOW_EXTERNAL` is not true."""

    kind = "policy"


class SessionClosed(NvgwError, RuntimeError):
    """The Session was closed; create a new one."""

    kind = "session_closed"


class AuthError(NvgwError):
    """The Starfleet token could not be obtained, or the gateway rejected it twice.

    `phase` is one of "connect", "read", "status", "body", "rejected", "replay".
    """

    kind = "auth"
    falls_over = True
    _RETRIES: ClassVar[dict[str, int]] = {"connect": 2, "read": 2, "status": 2, "body": 1}

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        status_code: int | None = None,
        retryable: bool = False,
        correlation_ids: Sequence[str] = (),
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.phase = phase
        self.status_code = status_code
        self.retryable = retryable
        self.retries = self._RETRIES.get(phase, 0) if retryable else 0
        self.correlation_ids = list(correlation_ids)


class ErrorDetails(TypedDict, total=False):
    """Optional keywords every ProviderError takes."""

    status_code: int | None
    request_id: str | None
    attempts: Sequence[Attempt]


class ProviderError(NvgwError):
    """One provider failed one attempt."""

    kind = "provider"
    retries = 2
    falls_over = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        request_id: str | None = None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id


class ProviderUnreachable(ProviderError):
    """Could not connect (refused, DNS, TLS). Only the host is named."""

    kind = "unreachable"


class TLSError(ProviderUnreachable):
    """The server's certificate failed verification (`reason`: "unknown_ca", "expired",
    "not_yet_valid", "hostname" or "other"). It cannot heal by retrying: not retried, the
    next provider is tried; the message says what failed and which variable fixes it."""

    kind = "tls"
    retries = 0

    def __init__(
        self, message: str, *, reason: str, provider: str, **details: Unpack[ErrorDetails]
    ) -> None:
        super().__init__(message, provider=provider, **details)
        self.reason = reason


class ProviderTimeout(ProviderError):
    """No answer in time; `phase` is connect/read/write/pool/deadline."""

    kind = "timeout"
    retries = 1

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        elapsed_s: float,
        provider: str,
        **details: Unpack[ErrorDetails],
    ) -> None:
        super().__init__(message, provider=provider, **details)
        self.phase = phase
        self.elapsed_s = elapsed_s


class ProviderConnectionError(ProviderError):
    """The connection broke mid-response."""

    kind = "connection"


class CircuitOpen(ProviderError):
    """Skipped: the provider's circuit breaker is open after repeated failures."""

    kind = "circuit_open"
    retries = 0


class ProviderStatusError(ProviderError):
    """The provider answered with an HTTP error status."""

    kind = "status"


class ServerError(ProviderStatusError):
    """5xx: the provider failed; retried, then the next provider."""

    kind = "server_error"


class RateLimited(ProviderStatusError):
    """429; `retry_after_s` is the wait the provider asked for (None if it gave none)."""

    kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None,
        provider: str,
        **details: Unpack[ErrorDetails],
    ) -> None:
        super().__init__(message, provider=provider, **details)
        self.retry_after_s = retry_after_s


class BadRequest(ProviderStatusError):
    """400: the provider refused the request as malformed; not retried, no fallback."""

    kind = "bad_request"
    retries = 0
    falls_over = False


class UnsupportedParameter(BadRequest):
    """This provider cannot take one of the request's parameters; the next one may."""

    kind = "unsupported_parameter"
    falls_over = True


class ModelNotFound(ProviderStatusError):
    """404: the model or deployment does not exist on that provider."""

    kind = "model_not_found"
    retries = 0


class ContextTooLong(ProviderStatusError):
    """413 or context-length error: the prompt does not fit the model."""

    kind = "context_too_long"
    retries = 0
    falls_over = False


class ProviderAuthError(ProviderStatusError):
    """401/403 from a provider that uses an API key; names the variable to check."""

    kind = "provider_auth"
    retries = 0


class MalformedResponse(ProviderError):
    """A 200 whose body is not a usable chat completion (never dumped into the message)."""

    kind = "malformed"
    retries = 1


class ResponseTooLarge(MalformedResponse):
    """A body, stream, SSE line or event over its size limit (NVGW_MAX_BODY_BYTES,
    NVGW_MAX_SSE_EVENT_BYTES): reading stopped there. Not retried (it would be as large
    again); the next provider is tried."""

    kind = "too_large"
    retries = 0


class ToolCallError(ProviderError):
    """A tool call with arguments that are not valid JSON, or naming an undeclared tool."""

    kind = "tool_call"
    retries = 1

    def __init__(
        self,
        message: str,
        *,
        tool_name: str | None,
        provider: str,
        **details: Unpack[ErrorDetails],
    ) -> None:
        super().__init__(message, provider=provider, **details)
        self.tool_name = tool_name


class ValidationFailed(ProviderError):
    """A response_format or user validator rejected the output."""

    kind = "validation"
    retries = 1


class EmptyResponse(ProviderError):
    """finish_reason=stop with neither content nor tool calls."""

    kind = "empty"
    retries = 1


class ContentFiltered(ProviderError):
    """The provider's content filter fired; never routed around."""

    kind = "content_filter"
    retries = 0
    falls_over = False


class StreamInterrupted(ProviderError):
    """A stream broke after text was shown; `partial_text` is what arrived."""

    kind = "stream_interrupted"
    retries = 0
    falls_over = False

    def __init__(
        self,
        message: str,
        *,
        partial_text: str,
        provider: str,
        **details: Unpack[ErrorDetails],
    ) -> None:
        super().__init__(message, provider=provider, **details)
        self.partial_text = partial_text


class AllProvidersFailed(NvgwError):
    """Every provider in the order failed or was skipped; one line per provider."""

    kind = "all_failed"

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, NvgwError],
        attempts: Sequence[Attempt] = (),
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.errors = errors
