"""The external providers' dialects, by provider name (NIM and the gateway have none)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nvgw_nb.sim import anthropic_wire, gemini_wire, openai_wire
from nvgw_nb.sim.rendering import Dialect

__all__ = ["DIALECTS"]

DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {
        "anthropic": anthropic_wire.DIALECT,
        "google-genai": gemini_wire.DIALECT,
        "openai": openai_wire.DIALECT,
    }
)
"""How each external provider renders answers, faults and B3 bodies."""
