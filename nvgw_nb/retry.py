"""Retry policy: backoff with jitter, capped by how long a server may ask us to wait.

Retry and fallback are intertwined and every attempt is recorded, so this is a
small hand-written policy (shaped like hynek/stamina) rather than a retry library.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nvgw_nb.errors import NvgwError, RateLimited
from nvgw_nb.results import Attempt

__all__ = ["RetryPolicy", "long_wait_note", "refused_by_pacing", "with_note"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one provider before moving to the next.

    The wait before retry *n* (1-based) is ``min(wait_initial * 2**(n-1), wait_max)``
    plus up to ``wait_jitter`` seconds of random jitter. A server's Retry-After wins
    when it is short enough: while another provider is left in the plan, at most the
    Session's ``max_wait_s`` (NVGW_MAX_WAIT, 10 s) — a longer one moves to the next
    provider instead of blocking a notebook; on the last provider, at most
    ``max_retry_after`` seconds (shown as a countdown), and never past the call's
    deadline. A longer one ends the call at once.

    >>> RetryPolicy(attempts=3).backoff(2, jitter=0.0)
    1.0
    """

    attempts: int = 3
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.25
    max_retry_after: float = 60.0
    poll_interval: float = 0.05

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        for name in ("wait_initial", "wait_max", "wait_jitter", "max_retry_after", "poll_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must not be negative")

    def backoff(self, retry: int, *, jitter: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        base = min(self.wait_initial * 2.0 ** (retry - 1), self.wait_max)
        extra = random.uniform(0, self.wait_jitter) if jitter is None else jitter
        return base + extra

    @classmethod
    def no_wait(cls, attempts: int = 3) -> RetryPolicy:
        """A policy that never sleeps between retries (for tests and the simulator)."""
        return cls(
            attempts=attempts, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, poll_interval=0.0
        )

    @classmethod
    def for_simulator(cls, time_scale: float, *, attempts: int = 3) -> RetryPolicy:
        """The default policy with every wait scaled like the simulator's latencies.

        The simulator scales its delays and Retry-After hints by `time_scale`; scaling
        the client's backoff too keeps the simulated picture in proportion (and quick).

        >>> RetryPolicy.for_simulator(0.1).wait_max
        0.8
        """
        base = cls(attempts=attempts)
        return cls(
            attempts=attempts,
            wait_initial=base.wait_initial * time_scale,
            wait_max=base.wait_max * time_scale,
            wait_jitter=base.wait_jitter * time_scale,
            max_retry_after=base.max_retry_after * time_scale,
            poll_interval=base.poll_interval * time_scale,
        )


def refused_by_pacing(error: NvgwError | None, requests_sent: int) -> bool:
    """True for our own rate limiter's refusal (rate-limited with nothing sent): it says
    nothing of the provider's health, so its circuit breaker is not told."""
    return isinstance(error, RateLimited) and requests_sent == 0


def long_wait_note(
    error: NvgwError, max_wait: float | None, next_provider: str | None
) -> str | None:
    """Why a rate-limited provider was left for `next_provider` without waiting (its
    Retry-After is above NVGW_MAX_WAIT), or None; the note is added to the error's message
    too, so the final error says it."""
    if not isinstance(error, RateLimited) or error.retry_after_s is None:
        return None
    if max_wait is None or next_provider is None or not error.retry_after_s > max_wait:
        return None
    note = (
        f"not waiting {error.retry_after_s:g} s for it (more than NVGW_MAX_WAIT, "
        f"{max_wait:g} s): moved on to {next_provider}"
    )
    error.message = f"{error.message}; {note}"
    return note


def with_note(attempt: Attempt, note: str) -> Attempt:
    """`attempt` with `note` added to its error (the trace says why the call moved on)."""
    return attempt.model_copy(update={"error": f"{attempt.error}; {note}"})
