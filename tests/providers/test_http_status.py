"""The shared status ladder (`classify`), Retry-After parsing and the message helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

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
from nvgw_nb.providers.anthropic import AnthropicProvider
from nvgw_nb.providers.google import GoogleProvider
from nvgw_nb.providers.http_status import (
    MAX_MESSAGE,
    HttpFailure,
    classify,
    clip,
    key_hint,
    parse_retry_after,
)

HINT = "check SOME_API_KEY"


def _failure(status: int, **detail: Any) -> HttpFailure:
    return HttpFailure(
        provider="prov", model="m-1", status=status, auth_hint=HINT, request_id="req_1", **detail
    )


# (status, what the body said) → (class, kind, retries, retry_after_s, words in the message)
LADDER: list[tuple[int, dict[str, Any], type[ProviderError], str, int, float | None, list[str]]] = [
    (429, {}, RateLimited, "rate_limited", 2, None, ["prov rate-limited the request"]),
    (429, {"retry_after_s": 7.0}, RateLimited, "rate_limited", 2, 7.0, ["(retry after 7s)"]),
    (429, {"retry_after_s": 0.25, "message": "slow"}, RateLimited, "rate_limited", 2, 0.25,
     ["(retry after 0.25s): slow"]),
    (429, {"quota_exhausted": True}, RateLimited, "rate_limited", 0, None, ["rate-limited"]),
    (429, {"context_too_long": True}, RateLimited, "rate_limited", 2, None, ["rate-limited"]),
    (401, {}, ProviderAuthError, "provider_auth", 0, None,
     ["prov refused access (HTTP 401): check SOME_API_KEY"]),
    (403, {"error_type": "permission_error", "message": "not shown"}, ProviderAuthError,
     "provider_auth", 0, None, ["(HTTP 403, permission_error): check SOME_API_KEY"]),
    (400, {"key_rejected": True, "error_type": "INVALID_ARGUMENT"}, ProviderAuthError,
     "provider_auth", 0, None, ["(HTTP 400, INVALID_ARGUMENT): check SOME_API_KEY"]),
    (401, {"context_too_long": True}, ProviderAuthError, "provider_auth", 0, None, ["refused"]),
    (413, {}, ContextTooLong, "context_too_long", 0, None,
     ["prov: the prompt is too long for m-1"]),
    (400, {"context_too_long": True, "message": "max 128000"}, ContextTooLong,
     "context_too_long", 0, None, ["too long for m-1: max 128000"]),
    (500, {"context_too_long": True}, ContextTooLong, "context_too_long", 0, None, ["too long"]),
    (400, {"content_filtered": True, "message": "flagged"}, ContentFiltered, "content_filter",
     0, None, ["prov filtered the prompt: flagged"]),
    (400, {"unavailable_here": True, "error_type": "FAILED_PRECONDITION"}, ProviderStatusError,
     "status", 0, None, ["prov cannot serve the request (HTTP 400) FAILED_PRECONDITION"]),
    (400, {"message": "bad roles"}, BadRequest, "bad_request", 0, None,
     ["prov rejected the request (HTTP 400): bad roles"]),
    (422, {}, BadRequest, "bad_request", 0, None, ["rejected the request (HTTP 422)"]),
    (400, {"unsupported_parameter": True}, UnsupportedParameter, "unsupported_parameter", 0,
     None, ["rejected the request (HTTP 400)"]),
    (404, {"message": "no such model"}, ModelNotFound, "model_not_found", 0, None,
     ["prov has no model 'm-1' (HTTP 404): no such model"]),
    (500, {}, ServerError, "server_error", 2, None, ["prov answered HTTP 500"]),
    (503, {"error_type": "UNAVAILABLE", "message": "busy"}, ServerError, "server_error", 2, None,
     ["answered HTTP 503 UNAVAILABLE: busy"]),
    (418, {"server_fault": True}, ServerError, "server_error", 2, None, ["answered HTTP 418"]),
    (408, {}, ProviderStatusError, "status", 2, None, ["prov answered HTTP 408"]),
    (409, {}, ProviderStatusError, "status", 2, None, ["answered HTTP 409"]),
    (402, {"error_type": "billing_error"}, ProviderStatusError, "status", 0, None,
     ["answered HTTP 402 billing_error"]),
    (302, {}, ProviderStatusError, "status", 0, None, ["answered HTTP 302"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "detail", "expected", "kind", "retries", "wait", "words"),
    LADDER,
    ids=[f"{status}-{'-'.join(detail) or 'plain'}" for status, detail, *_ in LADDER],
)
def test_ladder(
    status: int,
    detail: dict[str, Any],
    expected: type[ProviderError],
    kind: str,
    retries: int,
    wait: float | None,
    words: list[str],
) -> None:
    """Each status and body reading maps to its FAULTS.md class, retries and wording."""
    error = classify(_failure(status, **detail))
    assert type(error) is expected
    assert error.kind == kind
    assert error.retries == retries
    assert getattr(error, "retry_after_s", None) == wait
    assert (error.provider, error.status_code, error.request_id) == ("prov", status, "req_1")
    for word in words:
        assert word in str(error)


def test_auth_message_does_not_repeat_the_provider_message() -> None:
    """401/403 name the variable to check; the provider's own text is left out."""
    error = classify(_failure(401, message="secret-looking text"))
    assert "secret-looking" not in str(error)


def test_messages_stay_within_the_limit() -> None:
    """However long the provider's message, the error's is at most MAX_MESSAGE, cut marked."""
    error = classify(_failure(400, error_type="invalid_request_error", message="y" * MAX_MESSAGE))
    assert len(str(error)) == MAX_MESSAGE
    assert str(error).endswith("y…")
    assert "invalid_request_error" in str(error)


@pytest.mark.parametrize(
    ("provider", "hint"),
    [(AnthropicProvider, "check ANTHROPIC_API_KEY"), (GoogleProvider, "check GOOGLE_API_KEY")],
)
def test_key_hint_names_the_class_variables(provider: Any, hint: str) -> None:
    """The hint is worded from the provider class's own key variables."""
    assert key_hint(provider.key_variables) == hint


def test_key_hint_joins_several_variables() -> None:
    """A provider with two credential variables names both."""
    assert (
        key_hint(("STARFLEET_ID", "STARFLEET_SECRET")) == "check STARFLEET_ID and STARFLEET_SECRET"
    )


def test_clip_leaves_short_text_alone() -> None:
    """Text within the limit is returned as it is."""
    assert clip("short") == "short"
    assert len(clip("z" * 1000)) == MAX_MESSAGE


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "250", "retry-after": "30"}, 0.25),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "bad", "retry-after": "3"}, 3.0),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], seconds: float | None) -> None:
    """retry-after-ms wins over Retry-After; seconds may be decimal; junk is ignored."""
    assert parse_retry_after(headers) == seconds


def test_retry_after_http_date() -> None:
    """Retry-After may be an HTTP date."""
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    header = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now.timestamp()) == pytest.approx(20)
