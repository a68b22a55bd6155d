"""Default prices (USD per 1M tokens): estimates, 2026-11 — see FACTS.md §1b.

NVIDIA publishes no per-token price for its hosted API; the NIM rows use one coherent
third-party list (GMI) so cost comparisons are not flattered by a $0 trial price.
"""

from __future__ import annotations

from nvgw_nb.results import Usage

__all__ = ["PRICES", "PRICES_NOTE", "cost_usd"]

PRICES_NOTE = "estimate, 2026-11, see FACTS.md"

#: model → (input $/1M, output $/1M)
PRICES: dict[str, tuple[float, float]] = {
    "meta/llama-4-scout-17b-16e-instruct": (0.15, 0.60),
    "meta/llama-4-maverick-17b-128e-instruct": (0.25, 0.80),
    "meta/llama-3.3-70b-instruct": (0.25, 0.75),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}


def cost_usd(model: str, usage: Usage | None) -> float:
    """Cost of `usage` on `model`; 0.0 for an unknown model or no usage.

    Dated Azure model names (``gpt-4o-2024-11-20``) price as their family.
    """
    if usage is None:
        return 0.0
    price = PRICES.get(model)
    if price is None:
        family = max((k for k in PRICES if model.startswith(k + "-")), key=len, default=None)
        price = PRICES.get(family) if family else None
    if price is None:
        return 0.0
    return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
