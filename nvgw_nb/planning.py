"""Which providers a Session can use, and the plan of one call: providers and models in order.

`ProviderSet` builds each provider its settings allow (through the registry), with its
auth and circuit breaker, and answers `plan()`: the `Step`s a call would try, with the
reason a step is skipped (policy, or a provider this Session could not configure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from nvgw_nb.breaker import CircuitBreaker
from nvgw_nb.config import Settings, check_provider_order
from nvgw_nb.errors import ConfigError, PolicyError
from nvgw_nb.names import check_path_name
from nvgw_nb.providers import Provider, registry
from nvgw_nb.roles import Role
from nvgw_nb.steps import Step

__all__ = ["ProviderSet"]

_POLICY_OFF = "external providers are off (set NVGW_ALLOW_EXTERNAL=true to allow them)"


class ProviderSet:
    """The configured providers, their auths and breakers, the order, and call plans."""

    def __init__(
        self,
        settings: Settings,
        roles: Mapping[str, Role],
        *,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 30.0,
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.order = self.check_order(settings.default_order)
        self.providers: dict[str, Provider] = {}
        self.auths: dict[str, httpx.Auth] = {}
        # The providers in the order must be complete (`ConfigError` naming what one
        # lacks); external ones whose key is set join too, so a call may name them.
        for cls in registry.providers():
            if cls.name not in self.order and (
                not cls.external or cls.missing_credentials(settings)
            ):
                continue
            self.providers[cls.name] = cls.from_settings(settings)
            auth = cls.auth_from_settings(settings)
            if auth is not None:
                self.auths[cls.name] = auth
        self.breakers = {
            name: CircuitBreaker(threshold=breaker_threshold, cooldown_s=breaker_cooldown_s)
            for name in self.providers
        }
        # A role's model that would change a URL path fails the Session, not a later call.
        for role in roles.values():
            for provider in role.models:
                if provider in registry.names():
                    self.model_for(provider, role, None)

    def check_order(self, order: Sequence[str]) -> tuple[str, ...]:
        """`order` as known names; `PolicyError` when it names external providers that
        policy forbids."""
        try:
            names = check_provider_order(order)
        except ValueError as err:
            raise ConfigError(f"provider order {err}") from None
        external = [n for n in names if registry.provider_class(n).external]
        if external and not self.settings.allow_external:
            raise PolicyError(
                f"provider order names {', '.join(external)}, but external providers are off: "
                "requests go only to NVIDIA endpoints unless NVGW_ALLOW_EXTERNAL=true"
            )
        return names

    def set_order(self, order: Sequence[str]) -> None:
        """Change the order; every provider in it must be configured."""
        names = self.check_order(order)
        unconfigured = [n for n in names if n not in self.providers]
        if unconfigured:
            raise ConfigError(
                f"{', '.join(unconfigured)} was not configured when this Session was created; "
                "create the Session with it in provider_order"
            )
        self.order = names

    def plan(
        self,
        *,
        role: str | Role | None = None,
        models: Mapping[str, str] | None = None,
        providers: Sequence[str] | None = None,
        fallbacks: bool = True,
    ) -> list[Step]:
        """The providers and models a call with these arguments would try, in order."""
        role_obj = self.role(role)
        if providers is not None:
            order = self.check_order(providers)
            missing = [n for n in order if n not in self.providers]
            if missing:
                raise ConfigError(
                    f"{', '.join(missing)} is not configured in this Session "
                    f"(configured: {', '.join(self.providers)})"
                )
        elif role_obj is not None and role_obj.providers:
            # A role's own list may name providers this Session cannot use: they are
            # recorded as skipped attempts (policy, or no key) rather than failing the call.
            order = check_provider_order(role_obj.providers)
        else:
            order = self.order
        if not fallbacks:
            order = order[:1]
        if models is not None and not isinstance(models, Mapping):
            raise ConfigError("models must be a dict of provider name → model name")
        for name in models or {}:
            if name not in registry.names():
                raise ConfigError(f"models names unknown provider {name!r}")
        return [Step(p, self.model_for(p, role_obj, models), self.skip_reason(p)) for p in order]

    def skip_reason(self, provider: str) -> str | None:
        """Why a call must skip `provider` (policy, or not configured), or None."""
        cls = registry.provider_class(provider)
        if cls.external and not self.settings.allow_external:
            return _POLICY_OFF
        if provider not in self.providers:
            unset = cls.missing_credentials(self.settings)
            verb = "is" if len(unset) <= 1 else "are"
            return (
                f"not configured in this Session ({' and '.join(unset) or 'its settings'} "
                f"{verb} not set)"
            )
        return None

    def role(self, role: str | Role | None) -> Role | None:
        """A role by name (`ConfigError` listing the known ones), or as given."""
        if role is None or isinstance(role, Role):
            return role
        try:
            return self.roles[role]
        except KeyError:
            raise ConfigError(
                f"unknown role {role!r}; choose from {', '.join(self.roles)}"
            ) from None

    def model_for(self, provider: str, role: Role | None, models: Mapping[str, str] | None) -> str:
        """The model to ask `provider` for: the call's, the role's, else its default.

        `ConfigError` naming where it came from when the provider puts it into its URL
        path and it would change the path (`..`, `a/b`, …): refused before any request.
        """
        cls = registry.provider_class(provider)
        chosen: object = (models or {}).get(provider)
        where = f"models[{provider!r}]"
        if not chosen and role is not None:
            chosen = role.model_for(provider)
            where = f"role {role.name!r}: models[{provider!r}]"
        if not chosen:
            chosen = cls.default_model(self.settings)
            where = f"{provider}'s default model"
        if not isinstance(chosen, str):
            raise ConfigError(f"{where} must be a string, not {type(chosen).__name__}")
        segment = cls.path_model(chosen)
        if segment is not None:
            check_path_name(segment, where)
        return chosen
