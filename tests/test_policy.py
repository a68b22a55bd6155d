"""Policy: requests go only to NVIDIA endpoints unless NVGW_ALLOW_EXTERNAL=true."""

from __future__ import annotations

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator


def _total_requests(sim: Simulator) -> int:
    return sum(sum(routes.values()) for routes in sim.stats()["requests"].values())


def test_order_naming_an_external_provider_fails_before_any_request(sim: Simulator) -> None:
    """provider_order with openai and no NVGW_ALLOW_EXTERNAL: PolicyError, zero requests."""
    with pytest.raises(nv.PolicyError) as info:
        sim.session(provider_order=["nvidia-nim", "nvidia-gateway", "openai"])
    assert "NVGW_ALLOW_EXTERNAL" in str(info.value)
    assert _total_requests(sim) == 0


def test_per_call_external_provider_fails_before_any_request(
    sim: Simulator, session: nv.Session
) -> None:
    """providers=[..., 'anthropic'] on a call: PolicyError, nothing sent."""
    with pytest.raises(nv.PolicyError, match="NVGW_ALLOW_EXTERNAL"):
        session.chat("hi", providers=["nvidia-nim", "anthropic"])
    assert _total_requests(sim) == 0


def test_external_provider_reachable_only_by_fallback_is_skipped_by_policy(
    sim: Simulator, session: nv.Session
) -> None:
    """A role whose list reaches openai after NIM fails: a 'skipped by policy' attempt."""
    role = nv.Role(name="wide", models={}, providers=("nvidia-nim", "openai"))
    sim.inject("nvidia-nim", "N1", times=3)
    with pytest.raises(nv.AllProvidersFailed) as info:
        session.chat("hi", role=role)
    skipped = info.value.attempts[-1]
    assert (skipped.provider, skipped.outcome, skipped.error_kind) == (
        "openai",
        "skipped",
        "policy",
    )
    assert "NVGW_ALLOW_EXTERNAL" in (skipped.error or "")
    assert sim.stats()["requests"].get("openai", {}).get("chat", 0) == 0


def test_a_role_may_narrow_the_providers(sim: Simulator, session: nv.Session) -> None:
    """A role listing only the gateway never asks NIM."""
    role = nv.Role(
        name="gateway-only", models={"nvidia-gateway": "gpt-4o"}, providers=("nvidia-gateway",)
    )
    result = session.chat("hi", role=role)
    assert [a.provider for a in result.attempts] == ["nvidia-gateway"]
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 0


def test_fallbacks_false_is_exactly_one_provider(sim: Simulator, session: nv.Session) -> None:
    """fallbacks=False: one provider, whatever the order."""
    sim.inject("nvidia-nim", "X2")
    with pytest.raises(nv.ModelNotFound):
        session.chat("hi", fallbacks=False)
    assert sim.stats()["requests"]["nvidia-gateway"]["chat"] == 0
