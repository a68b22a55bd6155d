"""Gemini's error envelope (WIRE.md §5.4): status mapping and the retry hint in the body."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from nvgw_nb.errors import (
    BadRequest,
    ContextTooLong,
    ModelNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderStatusError,
    RateLimited,
    ServerError,
)
from nvgw_nb.retry import parse_retry_after

__all__ = ["clip", "envelope", "parse_duration", "status_error", "stream_error"]

_NAME = "google-genai"
_MAX_MESSAGE = 300
_SERVER_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


def envelope(data: Any) -> tuple[int | None, str | None, str | None, list[Any]]:
    """(code, status, message, details) of the Google RPC envelope (WIRE.md §5.4)."""
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
        status if isinstance(status, str) else None,
        message[:_MAX_MESSAGE] if isinstance(message, str) else None,
        details if isinstance(details, list) else [],
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration in JSON ("37s", "0.5s") as seconds; None if it is not one."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    if isinstance(value, Mapping):  # {"seconds": "37", "nanos": 0}, seen from some proxies
        try:
            return float(value.get("seconds") or 0) + int(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
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
    """A per-day quota: waiting seconds will not clear it (WIRE.md §5.4)."""
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


def clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


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


def status_error(response: httpx.Response, *, model: str, request_id: str | None) -> ProviderError:
    """The error for a non-2xx generateContent response (FAULTS.md N1, R1, X1-X4)."""
    status = response.status_code
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        data = None
    _, rpc_status, message, details = envelope(data)
    said = f" {rpc_status}" if rpc_status else ""
    said += f": {message}" if message else ""
    common: dict[str, Any] = {"provider": _NAME, "status_code": status, "request_id": request_id}
    if status == 429:
        wait = _retry_delay(details)
        if wait is None:
            wait = parse_retry_after(response.headers)
        waited = f" (retry after {wait:g}s)" if wait is not None else ""
        limited = RateLimited(
            clip(f"google-genai rate-limited the request{waited}{said}"),
            retry_after_s=wait,
            **common,
        )
        if _daily_quota(details):
            limited.retries = 0
        return limited
    if status in (401, 403) or (status == 400 and _api_key_invalid(details)):
        return ProviderAuthError(
            f"google-genai refused access (HTTP {status}{', ' + rpc_status if rpc_status else ''})"
            ": check GOOGLE_API_KEY",
            **common,
        )
    if status == 413 or (status == 400 and _too_long(message)):
        return ContextTooLong(
            clip(f"google-genai: the input is too long for {model}{said}"), **common
        )
    if status == 400 and rpc_status == "FAILED_PRECONDITION":
        # e.g. "User location is not supported": this provider cannot serve us, another may.
        refused = ProviderStatusError(
            clip(f"google-genai cannot serve the request (HTTP 400){said}"), **common
        )
        refused.retries = 0
        return refused
    if status == 400:
        return BadRequest(clip(f"google-genai rejected the request (HTTP 400){said}"), **common)
    if status == 404:
        return ModelNotFound(
            clip(f"google-genai has no model {model!r} (HTTP 404){said}"), **common
        )
    if status >= 500:
        return ServerError(clip(f"google-genai answered HTTP {status}{said}"), **common)
    error = ProviderStatusError(clip(f"google-genai answered HTTP {status}{said}"), **common)
    if status not in (408, 409):
        error.retries = 0
    return error
