"""Simulator profiles: per-provider fault rates, latency multipliers and rate limits.

All probabilities here are modelling guesses (docs/reference/facts.md), not measurements. The
built-in profiles are about NIM and the gateway: the external providers (`openai`,
`anthropic`, `google-genai`) are healthy in every one of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["FAULT_IDS", "PROFILES", "PROVIDERS", "Profile"]

PROVIDERS: tuple[str, ...] = (
    "anthropic",
    "google-genai",
    "nvidia-gateway",
    "nvidia-nim",
    "openai",
    "starfleet",
)

_CHAT_FAULTS = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "C2",
    "C3",
    "E1",
    "E2",
    "E3",
    "R1",
    "R2",
    "S1",
    "S2",
    "X1",
    "X2",
    "X3",
    "X4",
    "N1",
)

FAULT_IDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "nvidia-gateway": tuple(sorted((*_CHAT_FAULTS, "G1"))),
        "nvidia-nim": tuple(sorted((*_CHAT_FAULTS, "N2"))),
        "openai": tuple(sorted(_CHAT_FAULTS)),
        "anthropic": tuple(sorted(_CHAT_FAULTS)),
        # Gemini has no retry-after-ms (its hint is RetryInfo in the body): no R2.
        "google-genai": tuple(sorted(f for f in _CHAT_FAULTS if f != "R2")),
        "starfleet": ("T1", "T2", "T3", "T4"),
    }
)
"""Fault ids (docs/reference/faults.md) that `Simulator.inject` accepts, per provider."""


@dataclass(frozen=True)
class Profile:
    """How the simulated providers misbehave.

    `fault_rates[provider][fault_id]` is the per-request probability that a chat (or token)
    request gets that fault; the draws are deterministic for a seed. Providers in `down`
    answer every chat request with their outage status (503; Anthropic 529).
    `rate_limits[provider]` is the number of requests allowed per key in a sliding
    `rate_window_s` window (gateway: per deployment; every other provider: per API key).
    `latency_multiplier[provider]` scales every simulated delay.

    Example::

        Profile("my-flaky", fault_rates={"nvidia-nim": {"N1": 0.2}})
    """

    name: str
    description: str = ""
    fault_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    latency_multiplier: Mapping[str, float] = field(default_factory=dict)
    down: frozenset[str] = frozenset()
    rate_limits: Mapping[str, int] = field(default_factory=dict)
    rate_window_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("Profile name must not be empty")
        for provider, rates in self.fault_rates.items():
            valid = _valid_ids(provider, "fault_rates")
            total = 0.0
            for fault_id, rate in rates.items():
                if fault_id not in valid:
                    raise ValueError(
                        f"fault_rates[{provider!r}]: unknown fault {fault_id!r}; "
                        f"valid ids: {', '.join(valid)}"
                    )
                if not (0.0 <= rate <= 1.0) or math.isnan(rate):
                    raise ValueError(f"fault_rates[{provider!r}][{fault_id!r}] must be in [0, 1]")
                total += rate
            # Conditional faults (tools/stream only) may push the sum of a subset past 1;
            # the draw walks them in order, so only the total over all ids must stay <= 1.
            if total > 1.0 + 1e-9:
                raise ValueError(f"fault_rates[{provider!r}] sum to {total:.3f} > 1")
        for provider, mult in self.latency_multiplier.items():
            _valid_ids(provider, "latency_multiplier")
            if not (mult > 0 and math.isfinite(mult)):
                raise ValueError(f"latency_multiplier[{provider!r}] must be a positive number")
        for provider in self.down:
            _valid_ids(provider, "down")
        for provider, limit in self.rate_limits.items():
            _valid_ids(provider, "rate_limits")
            if limit < 1:
                raise ValueError(f"rate_limits[{provider!r}] must be >= 1")
        if not (self.rate_window_s > 0 and math.isfinite(self.rate_window_s)):
            raise ValueError("rate_window_s must be a positive number")


def _valid_ids(provider: str, what: str) -> tuple[str, ...]:
    if provider not in FAULT_IDS:
        raise ValueError(
            f"{what}: unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        )
    return FAULT_IDS[provider]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("healthy", "No random faults: reproducible notebooks."),
        Profile(
            "flaky-nim",
            "NIM fails about a third of the time in mixed ways; the gateway is healthy.",
            fault_rates={
                "nvidia-nim": {
                    "N1": 0.09,
                    "B1": 0.05,
                    "C3": 0.05,
                    "R1": 0.06,
                    "E1": 0.05,
                    "N2": 0.03,
                    "B4": 0.06,  # only when tools are offered
                    "S1": 0.03,  # streams only
                    "S2": 0.03,  # streams only
                }
            },
        ),
        Profile("nim-down", "Every NIM chat request answers 503.", down=frozenset({"nvidia-nim"})),
        Profile(
            "gateway-down",
            "Every gateway chat request answers 503; the token endpoint works.",
            down=frozenset({"nvidia-gateway"}),
        ),
        Profile(
            "slow-nim",
            "NIM latency x4 and occasional stalls.",
            fault_rates={"nvidia-nim": {"C2": 0.03}},
            latency_multiplier={"nvidia-nim": 4.0},
        ),
        Profile(
            "rate-limited",
            "NIM: 40 requests per 60 s per key (429, no Retry-After); "
            "gateway: 60 requests per 60 s per deployment (429 with Retry-After).",
            rate_limits={"nvidia-nim": 40, "nvidia-gateway": 60},
        ),
    )
}
"""Built-in profiles by name."""
