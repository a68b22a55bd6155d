"""Prices per model (USD per 1M tokens): dated estimates, all overridable.

Sources are in docs/reference/facts.md. NVIDIA publishes no per-token price for its hosted API,
and the integration guide's "NIM: $0.10-0.25 per 1M tokens" matches only third-party *input* prices;
the NIM rows use one coherent third-party list (GMI), so a comparison is not flattered
by a $0 trial. `Pricing(mode="nvidia_trial")` prices NIM at 0, as the free trial is.

>>> Pricing().cost("nvidia-gateway", "gpt-4o", Usage(prompt_tokens=1000, completion_tokens=100))
0.0035
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from nvgw_nb.results import ChatRequest, Usage

__all__ = ["DEFAULT_PRICES", "PRICES_AS_OF", "Price", "Pricing", "PricingMode", "estimate_usage"]

PRICES_AS_OF = "2026-11"
PricingMode = Literal["list", "nvidia_trial"]


@dataclass(frozen=True)
class Price:
    """USD per 1M input and output tokens, and where the number comes from."""

    input: float
    output: float
    source: str = ""


DEFAULT_PRICES: dict[str, Price] = {
    # NIM models (GMI list prices, docs/reference/facts.md; the NVIDIA trial itself costs $0).
    "meta/llama-4-scout-17b-16e-instruct": Price(0.15, 0.60, "GMI list price [3P]"),
    "meta/llama-4-maverick-17b-128e-instruct": Price(0.25, 0.80, "GMI list price [3P]"),
    "meta/llama-3.3-70b-instruct": Price(0.25, 0.75, "GMI list price [3P]"),
    # Azure OpenAI Global Standard (gateway) and OpenAI (docs/reference/facts.md).
    "gpt-4o": Price(2.50, 10.00, "litellm azure/gpt-4o [F]"),
    "gpt-4o-mini": Price(0.15, 0.60, "Azure global [3P]"),
    # Not in docs/reference/facts.md: vendors' list prices as remembered — unverified estimates [U].
    "claude-sonnet-4-5": Price(3.00, 15.00, "Anthropic list price [U]"),
    "claude-haiku-4-5": Price(1.00, 5.00, "Anthropic list price [U]"),
    "gemini-2.0-flash": Price(0.10, 0.40, "Google list price [U]"),
    "gemini-2.5-flash": Price(0.30, 2.50, "Google list price [U]"),
    "gemini-2.5-pro": Price(1.25, 10.00, "Google list price [U]"),
}


@dataclass(frozen=True)
class Pricing:
    """The price table a Session uses; override entries with `prices={model: Price}`."""

    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    mode: PricingMode = "list"
    as_of: str = PRICES_AS_OF

    def __post_init__(self) -> None:
        if self.mode not in ("list", "nvidia_trial"):
            raise ValueError("pricing mode must be 'list' or 'nvidia_trial'")

    def with_prices(self, overrides: Mapping[str, Price | tuple[float, float]]) -> Pricing:
        """A copy with some models' prices replaced (tuples are (input, output))."""
        merged = dict(self.prices)
        for model, price in overrides.items():
            merged[model] = price if isinstance(price, Price) else Price(*price, source="user")
        return Pricing(prices=merged, mode=self.mode, as_of=self.as_of)

    def price(self, provider: str, model: str) -> Price | None:
        """The price of `model` on `provider`; dated Azure names price as their family."""
        if self.mode == "nvidia_trial" and provider == "nvidia-nim":
            return Price(0.0, 0.0, "NVIDIA trial")
        found = self.prices.get(model)
        if found is None:
            family = max((k for k in self.prices if model.startswith(k + "-")), key=len, default="")
            found = self.prices.get(family)
        return found

    def cost(self, provider: str, model: str, usage: Usage | None) -> float:
        """Cost of `usage` (0.0 for no usage or an unknown model)."""
        price = self.price(provider, model)
        if usage is None or price is None:
            return 0.0
        return (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6

    @property
    def note(self) -> str:
        """How to label these numbers in a table or plot."""
        trial = ", NIM at the trial price of $0" if self.mode == "nvidia_trial" else ""
        return f"estimate, {self.as_of}{trial}; see nvgw_nb.pricing for sources"


def estimate_usage(request: ChatRequest, completion_text: str) -> Usage:
    """Tokens guessed from characters (~4 per token, +4 per message) when none were reported."""
    prompt = sum(len(m.content or "") // 4 + 4 for m in request.messages)
    completion = len(completion_text) // 4
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )
