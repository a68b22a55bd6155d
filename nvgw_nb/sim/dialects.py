"""Every chat provider's dialect, by provider name: how it renders answers, faults and B3."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nvgw_nb.sim import anthropic_wire, gateway_wire, gemini_wire, nim_wire, openai_wire
from nvgw_nb.sim.rendering import Dialect

__all__ = ["DIALECTS"]

DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {
        "anthropic": anthropic_wire.DIALECT,
        "google-genai": gemini_wire.DIALECT,
        "nvidia-gateway": gateway_wire.DIALECT,
        "nvidia-nim": nim_wire.DIALECT,
        "openai": openai_wire.DIALECT,
    }
)
"""How each chat provider renders answers, faults and B3 bodies."""
