"""The four roles of the integration guide's provider strategy, and which model each uses where.

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

from nvgw_nb.providers import registry

__all__ = ["DEFAULT_ROLES", "ROLE_NAMES", "Role", "models_of_size"]


def models_of_size(size: str) -> dict[str, str]:
    """Each registered provider's default model of `size` ("small" or "large")."""
    return {
        p.name: p.default_models[size] for p in registry.providers() if size in p.default_models
    }


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


# The small models (Llama 4 Scout, gpt-4o-mini, …) for quick answers, the large ones
# (Llama 4 Maverick, gpt-4o, …) where reasoning matters; each provider names its own.
DEFAULT_ROLES: dict[str, Role] = {
    "router": Role(
        name="router",
        models=models_of_size("small"),
        description="Classifies a request and picks the next step; short, fast answers.",
    ),
    "planner": Role(
        name="planner",
        models=models_of_size("large"),
        description="Breaks a task into steps; needs the stronger model.",
    ),
    "programmer": Role(
        name="programmer",
        models=models_of_size("large"),
        description="Writes and edits code, usually with tool calls.",
    ),
    "reviewer": Role(
        name="reviewer",
        models=models_of_size("small"),
        description="Reviews a change and reports problems.",
    ),
}
ROLE_NAMES = tuple(DEFAULT_ROLES)
