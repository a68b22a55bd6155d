"""Gemini's error envelope: what an error says, and the retry hint in it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import httpx

from nvgw_nb.errors import ProviderError, ProviderStatusError, RateLimited, ServerError
from nvgw_nb.providers.http_status import HttpFailure, clip, parse_retry_after
from nvgw_nb.untrusted import UnreadableJson, cut, loads

__all__ = ["envelope", "http_failure", "parse_duration", "stream_error"]

_NAME = "google-genai"
_SERVER_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


def envelope(data: Any) -> tuple[int | None, str | None, str | None, list[Any]]:
    """(code, status, message, details) of the Google RPC envelope."""
    if isinstance(data, list) and data:
        data = data[0]  # the stream endpoint without alt=sse wraps errors in an array
    inner = data.get("error") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return None, None, None, []
    code = inner.get("code")
    status = inner.get("status")
    message = inner.get("message")
    details = inner.get("details")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        cut(status) if isinstance(status, str) else None,
        cut(message) if isinstance(message, str) else None,
        details if isinstance(details, list) else [],
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON ("37s", "0.5s") as seconds; None if it is not one."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        seconds = float(match.group(1)) if match else math.inf
        return seconds if math.isfinite(seconds) else None
    if isinstance(value, Mapping):  # {"seconds": "37", "nanos": 0}, seen from some proxies
        try:
            seconds = float(value.get("seconds") or 0) + int(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


def _detail(details: list[Any], kind: str) -> list[dict[str, Any]]:
    return [
        d
        for d in details
        if isinstance(d, dict) and str(d.get("@type", "")).endswith(f"google.rpc.{kind}")
    ]


def _retry_delay(details: list[Any]) -> float | None:
    for info in _detail(details, "RetryInfo"):
        seconds = parse_duration(info.get("retryDelay"))
        if seconds is not None:
            return seconds
    return None


def _daily_quota(details: list[Any]) -> bool:
    """A per-day quota: waiting seconds will not clear it."""
    for failure in _detail(details, "QuotaFailure"):
        for violation in failure.get("violations") or ():
            if isinstance(violation, dict) and "PerDay" in str(violation.get("quotaId", "")):
                return True
    return False


def _api_key_invalid(details: list[Any]) -> bool:
    return any(info.get("reason") == "API_KEY_INVALID" for info in _detail(details, "ErrorInfo"))


def _too_long(message: str | None) -> bool:
    # "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
    lowered = (message or "").lower()
    return any(
        phrase in lowered
        for phrase in ("exceeds the maximum number of tokens", "too long", "token limit")
    )


def stream_error(chunk: dict[str, Any]) -> ProviderError:
    """`data: {"error": …}` after the 200."""
    code, status, message, details = envelope(chunk)
    text = clip(
        f"google-genai reported {status or code or 'an error'} mid-stream: "
        f"{message or 'no message'}"
    )
    if code == 429 or status == "RESOURCE_EXHAUSTED":
        return RateLimited(text, retry_after_s=_retry_delay(details), provider=_NAME)
    if (code is not None and code >= 500) or status in _SERVER_STATUSES:
        return ServerError(text, provider=_NAME)
    return ProviderStatusError(text, provider=_NAME)


def http_failure(
    response: httpx.Response, *, model: str, request_id: str | None, auth_hint: str
) -> HttpFailure:
    """What a non-2xx generateContent response says (the RPC status and its details)."""
    status = response.status_code
    try:
        data = loads(response.content)
    except UnreadableJson:  # not JSON, or too deep: the status alone decides
        data = None
    _, rpc_status, message, details = envelope(data)
    # RetryInfo is Google's own hint; it beats a proxy's Retry-After.
    wait = _retry_delay(details)
    return HttpFailure(
        provider=_NAME,
        model=model,
        status=status,
        auth_hint=auth_hint,
        request_id=request_id,
        error_type=rpc_status,
        message=message,
        retry_after_s=wait if wait is not None else parse_retry_after(response.headers),
        key_rejected=status == 400 and _api_key_invalid(details),
        context_too_long=status == 400 and _too_long(message),
        quota_exhausted=_daily_quota(details),
        # e.g. "User location is not supported": this provider cannot serve us, another may.
        unavailable_here=status == 400 and rpc_status == "FAILED_PRECONDITION",
    )
