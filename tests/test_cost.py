"""Cost: every billed attempt counts, failed ones included; estimates are flagged."""

from __future__ import annotations

import pytest

import nvgw_nb as nv
from nvgw_nb.pricing import DEFAULT_PRICES, Price, Pricing
from nvgw_nb.sim import Simulator

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_failed_attempts_that_billed_are_counted(sim: Simulator, session: nv.Session) -> None:
    """Two broken NIM tool calls cost money too: cost_usd sums every attempt."""
    sim.inject("nvidia-nim", "B4", times=2)
    result = session.chat("look it up", tools=[TOOL])
    nim = [a for a in result.attempts if a.provider == "nvidia-nim"]
    assert all(a.usage and a.cost_usd > 0 for a in nim)
    assert result.cost_usd == pytest.approx(sum(a.cost_usd for a in result.attempts))
    assert result.cost_usd > result.attempts[-1].cost_usd


def test_unbilled_failures_cost_nothing(sim: Simulator, session: nv.Session) -> None:
    """A 503 generated nothing: no usage, no cost."""
    sim.inject("nvidia-nim", "N1")
    result = session.chat("hi")
    assert result.attempts[0].cost_usd == 0
    assert result.attempts[0].usage is None


def test_cost_follows_the_price_table(session: nv.Session) -> None:
    """cost = prompt × input price + completion × output price, per 1M tokens."""
    result = session.chat("hi", providers=["nvidia-gateway"], models={"nvidia-gateway": "gpt-4o"})
    price = DEFAULT_PRICES["gpt-4o"]
    usage = result.usage
    expected = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6
    assert result.cost_usd == pytest.approx(expected)


def test_nvidia_trial_mode_prices_nim_at_zero(sim: Simulator) -> None:
    """pricing_mode='nvidia_trial': NIM costs nothing, the gateway still does."""
    with sim.session(pricing_mode="nvidia_trial") as s:
        nim = s.chat("hi", providers=["nvidia-nim"])
        gateway = s.chat("hi", providers=["nvidia-gateway"])
    assert nim.cost_usd == 0
    assert gateway.cost_usd > 0


def test_prices_are_overridable(sim: Simulator) -> None:
    """prices={model: (input, output)} replaces a row."""
    with sim.session(prices={"meta/llama-4-scout-17b-16e-instruct": (1000.0, 1000.0)}) as s:
        result = s.chat("hi", providers=["nvidia-nim"])
    assert result.cost_usd == pytest.approx(result.usage.total_tokens * 1000.0 / 1e6)


def test_dated_azure_names_price_as_their_family() -> None:
    """gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini, not as gpt-4o."""
    pricing = Pricing()
    assert (
        pricing.price("nvidia-gateway", "gpt-4o-mini-2024-07-18") == DEFAULT_PRICES["gpt-4o-mini"]
    )
    assert pricing.price("nvidia-gateway", "unknown-model") is None
    assert "estimate" in pricing.note
    assert Pricing(mode="nvidia_trial").price("nvidia-nim", "x") == Price(0.0, 0.0, "NVIDIA trial")
