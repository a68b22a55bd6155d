"""Client-side pacing per provider: as fast as a limit allows, without provoking 429s.

Requests to a limited provider are spaced evenly (one every `window / count` seconds,
a generic cell-rate algorithm): a token bucket's initial burst would break a provider's
*sliding* window — NIM's free tier counts 40 requests in any 60 s. A 429 that still
comes back slows that provider down; successes bring the pace back to the limit.

A pacing wait never outlasts the call: when the next slot is further away than the
caller may wait (NVGW_MAX_WAIT) or lies past the call's deadline, `acquire` refuses with
`RateLimited` at once, nothing is sent, and the engine moves on to the next provider.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from nvgw_nb.errors import ConfigError, RateLimited

__all__ = ["MAX_HOLD_S", "RateLimiter", "parse_rate"]

_RATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|second|m|min|minute|h|hour)?\s*$"
)
_UNIT_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
#: how much slower each 429 makes a provider, and the slowest it gets
_BACKOFF, _MAX_SLOWDOWN = 1.5, 8.0
#: per success, how much of the slowdown is given back
_RECOVERY = 0.9
#: pace a little under the limit: clocks and networks jitter
SAFETY = 1.02
#: the longest a 429's Retry-After holds a provider back: a broken server's "1e9" or "inf"
#: must not shut a provider out for the life of the Session
MAX_HOLD_S = 600.0


def parse_rate(value: str | tuple[float, float]) -> float:
    """Seconds between requests for "40/min", "10/s", "2400/h", "40/0.6s" or (count, seconds).

    >>> parse_rate("40/min")
    1.5
    """
    if isinstance(value, tuple):
        count, seconds = value
    else:
        match = _RATE.match(value)
        if match is None:
            raise ConfigError(
                f"rate limit {value!r} is not like '40/min', '10/s', '2400/h' or '40/0.6s'"
            )
        count = float(match.group(1))
        seconds = float(match.group(2) or 1) * _UNIT_S[match.group(3) or "s"]
    if count <= 0 or seconds <= 0:
        raise ConfigError(f"rate limit {value!r} must allow a positive number of requests")
    return seconds / count


@dataclass
class _Pace:
    interval: float
    slowdown: float = 1.0
    next_at: float = 0.0


class RateLimiter:
    """Per-provider pacing on one event loop (no lock needed: no await between check and set)."""

    def __init__(
        self,
        limits: Mapping[str, str | tuple[float, float]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._paces = {
            provider: _Pace(parse_rate(rate) * SAFETY) for provider, rate in limits.items()
        }
        self.clock = clock
        self.sleep = sleep

    def __contains__(self, provider: str) -> bool:
        return provider in self._paces

    async def acquire(
        self, provider: str, *, deadline: float | None = None, max_wait: float | None = None
    ) -> float:
        """Wait for this provider's next slot; returns the seconds waited.

        Raises `RateLimited` (its `retry_after_s` the wait it would take) instead of
        waiting longer than `max_wait` seconds or past `deadline` (on `clock`); the slot
        is then left for another call.
        """
        pace = self._paces.get(provider)
        if pace is None:
            return 0.0
        now = self.clock()
        slot = max(now, pace.next_at)
        wait = slot - now
        if wait > 0:
            refusal = _refusal(provider, wait, slot, deadline, max_wait)
            if refusal is not None:
                raise refusal
        pace.next_at = slot + pace.interval * pace.slowdown
        if wait > 0:
            await self.sleep(wait)
        return wait

    def throttled(self, provider: str, retry_after_s: float | None = None) -> None:
        """A 429 came back anyway: slow down, and hold the next slot past Retry-After."""
        pace = self._paces.get(provider)
        if pace is None:
            return
        pace.slowdown = min(pace.slowdown * _BACKOFF, _MAX_SLOWDOWN)
        if retry_after_s and retry_after_s > 0:  # NaN and negatives hold nothing
            pace.next_at = max(pace.next_at, self.clock() + min(retry_after_s, MAX_HOLD_S))

    def succeeded(self, provider: str) -> None:
        """A request went through: give back some of the slowdown."""
        pace = self._paces.get(provider)
        if pace is not None:
            pace.slowdown = max(1.0, pace.slowdown * _RECOVERY)

    def interval(self, provider: str) -> float | None:
        """Current seconds between requests (None when the provider is not limited)."""
        pace = self._paces.get(provider)
        return None if pace is None else pace.interval * pace.slowdown


def _refusal(
    provider: str, wait: float, slot: float, deadline: float | None, max_wait: float | None
) -> RateLimited | None:
    """The error that refuses a pacing wait of `wait` s ending at `slot`, or None to wait."""
    if max_wait is not None and wait > max_wait:
        why = f"longer than NVGW_MAX_WAIT ({max_wait:g} s)"
    elif deadline is not None and slot >= deadline:
        why = "past the call's deadline (NVGW_CALL_DEADLINE)"
    else:
        return None
    return RateLimited(
        f"{provider}: its rate limit (rate_limits=) has no free slot for {wait:.1f} s, "
        f"{why}; nothing was sent. Raise the limit or NVGW_MAX_WAIT to wait instead",
        retry_after_s=wait,
        provider=provider,
    )
