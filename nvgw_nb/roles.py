"""The four roles of the seed's provider strategy, and which model each uses where.

| role       | NVIDIA NIM (first)   | LLM Gateway (fallback) |
|------------|----------------------|------------------------|
| router     | Llama 4 Scout        | gpt-4o-mini            |
| planner    | Llama 4 Maverick     | gpt-4o                 |
| programmer | Llama 4 Maverick     | gpt-4o                 |
| reviewer   | Llama 4 Scout        | gpt-4o-mini            |

Override per Session (`Session.from_env(roles={"planner": Role(...)})`) or per call
(`session.chat(..., role=Role(...))` or `models={"nvidia-nim": "..."}`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_ROLES",
    "EXTERNAL_DEFAULT_MODELS",
    "LLAMA4_MAVERICK",
    "LLAMA4_SCOUT",
    "ROLE_NAMES",
    "Role",
]

LLAMA4_SCOUT = "meta/llama-4-scout-17b-16e-instruct"
LLAMA4_MAVERICK = "meta/llama-4-maverick-17b-128e-instruct"

# External providers (used only when NVGW_ALLOW_EXTERNAL=true): a small and a large
# model each, matched to the gateway's gpt-4o-mini / gpt-4o split.
EXTERNAL_DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "google-genai": "gemini-2.0-flash",
}
_LARGE = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "google-genai": "gemini-2.5-pro"}


class Role(BaseModel):
    """A named task profile: the model to ask on each provider, and an optional order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    models: Mapping[str, str] = Field(description="provider name → model / deployment")
    providers: tuple[str, ...] | None = Field(
        None, description="narrow the Session's provider order for this role (None: keep it)"
    )
    description: str = ""

    def model_for(self, provider: str) -> str | None:
        """The model this role asks of `provider`, or None to use the Session's default."""
        return self.models.get(provider)


DEFAULT_ROLES: dict[str, Role] = {
    "router": Role(
        name="router",
        models={
            "nvidia-nim": LLAMA4_SCOUT,
            "nvidia-gateway": "gpt-4o-mini",
            **EXTERNAL_DEFAULT_MODELS,
        },
        description="Classifies a request and picks the next step; short, fast answers.",
    ),
    "planner": Role(
        name="planner",
        models={"nvidia-nim": LLAMA4_MAVERICK, "nvidia-gateway": "gpt-4o", **_LARGE},
        description="Breaks a task into steps; needs the stronger model.",
    ),
    "programmer": Role(
        name="programmer",
        models={"nvidia-nim": LLAMA4_MAVERICK, "nvidia-gateway": "gpt-4o", **_LARGE},
        description="Writes and edits code, usually with tool calls.",
    ),
    "reviewer": Role(
        name="reviewer",
        models={
            "nvidia-nim": LLAMA4_SCOUT,
            "nvidia-gateway": "gpt-4o-mini",
            **EXTERNAL_DEFAULT_MODELS,
        },
        description="Reviews a change and reports problems.",
    ),
}
ROLE_NAMES = tuple(DEFAULT_ROLES)
