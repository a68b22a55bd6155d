"""The circuit breaker on its own clock."""

from __future__ import annotations

from nvgw_nb.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    """Three failures in a row open it; a success in between resets the count."""
    breaker = CircuitBreaker(clock=Clock())
    breaker.record_failure("x")
    breaker.record_failure("x")
    breaker.record_success()
    breaker.record_failure("x")
    breaker.record_failure("x")
    assert breaker.state == "closed"
    breaker.record_failure("timeout")
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.describe().startswith("cooling down 30 s")


def test_half_open_allows_one_trial() -> None:
    """After the cooldown exactly one trial passes; failing it re-opens for a full cooldown."""
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    breaker.trip("auth")
    clock.now = 30.0
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_failure("again")
    assert breaker.state == "open"
    assert breaker.cooldown_left() == 30.0


def test_a_lost_trial_expires() -> None:
    """A trial whose call was cancelled does not keep the breaker half-open forever."""
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    breaker.trip("x")
    clock.now = 30.0
    assert breaker.allow()
    clock.now = 61.0
    assert breaker.allow()
