"""A circuit breaker per provider: skip a provider that keeps failing, for a while."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BreakerState", "CircuitBreaker"]

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial through after `cooldown_s`.

    A failed trial re-opens it; a success closes it. `trip()` opens it at once
    (credentials rejected: retrying cannot help).
    """

    threshold: int = 3
    cooldown_s: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    failures: int = 0
    opened_at: float | None = None
    reason: str | None = None
    _trial_started: float | None = field(default=None, repr=False)

    @property
    def state(self) -> BreakerState:
        """closed (normal), open (skipping) or half_open (one trial allowed)."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def cooldown_left(self) -> float:
        """Seconds until a trial is allowed (0 when not open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        """May a request go to this provider now? Claims the single half-open trial."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running():
            self._trial_started = self.clock()
            return True
        return False

    def _trial_running(self) -> bool:
        # A trial that never reported back (its call was cancelled) expires after a
        # cooldown, so the breaker cannot stay stuck half-open.
        started = self._trial_started
        return started is not None and self.clock() - started < self.cooldown_s

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.reason = None
        self._trial_started = None

    def record_failure(self, reason: str) -> None:
        self.failures += 1
        if self._trial_started is not None or self.failures >= self.threshold:
            self.trip(reason)

    def trip(self, reason: str) -> None:
        """Open now, for a full cooldown."""
        self.opened_at = self.clock()
        self.reason = reason
        self._trial_started = None

    def describe(self) -> str:
        """A short human description, e.g. 'cooling down 12 s (3 failures: timeout)'."""
        state = self.state
        if state == "closed":
            return "closed"
        if state == "half_open":
            return "half-open (next request is a trial)"
        return f"cooling down {self.cooldown_left():.0f} s ({self.reason})"
