"""The one state model behind every panel: routing and generation settings.

A `PanelState` is a traitlets `HasTraits` with no ipywidgets import, so it can be
built, changed and tested without a front end. Panels mirror it (`link` /
`observe`); it writes itself into the Session it belongs to:

- `provider_order` ← the enabled providers, in the order shown;
- `defaults` ← role, models, temperature, max_tokens and system, so every call on
  the Session — from a panel or from code — uses what the panels show.

`PanelState.of(session)` is the state every panel of that Session shares, and it is
applied **on every change** (a problem, such as no provider enabled, is kept in
`state.error` and the Session keeps its last good configuration). Panels apply it
once more before each run, so a run always uses what is on screen.

>>> state = PanelState.of(session)            # doctest: +SKIP
>>> state.role = "planner"                    # doctest: +SKIP
>>> session.defaults["role"]                  # doctest: +SKIP
'planner'
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode, observe

from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.providers import registry
from nvgw_nb.roles import Role

if TYPE_CHECKING:
    from traitlets.utils.bunch import Bunch

    from nvgw_nb.session import Session

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TEMPERATURE",
    "POLICY_REASON",
    "PanelState",
    "unavailable_reason",
]

#: what the Playground shows (and so sends) when the Session's defaults name no value;
#: until a panel shows them, temperature and max_tokens stay None and are not sent
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 1024
#: why an external provider cannot be switched on
POLICY_REASON = "external providers are off: NVGW_ALLOW_EXTERNAL"
#: the `Session.defaults` keys the state owns
_OWNED = ("role", "models", "temperature", "max_tokens", "system")
_CONFIG = ("role", "models", "order", "enabled", "system", "temperature", "max_tokens")


def unavailable_reason(session: Session, provider: str) -> str | None:
    """Why `provider` cannot be used by `session` (policy first, then a missing key)."""
    cls = registry.provider_class(provider)
    if cls.external and not session.settings.allow_external:
        return POLICY_REASON
    if provider not in session.breakers:  # a breaker exists for every configured provider
        variables = " and ".join(cls.key_variables) or "its settings"
        return f"not configured: set {variables} and create the Session again"
    return None


class PanelState(HasTraits):
    """Role, model per provider, provider order, and generation settings.

    `order` lists every provider in display order; `enabled` those switched on.
    A model of "" means "the role's model". Secrets are never part of it.

    >>> state = nv.widgets.PanelState.of(session)   # doctest: +SKIP
    >>> state.set_enabled("nvidia-nim", False)      # doctest: +SKIP
    >>> session.provider_order                      # doctest: +SKIP
    ('nvidia-gateway',)
    """

    role = Unicode("", help="role name; '' for none (the Session's default models)")
    models = Dict(value_trait=Unicode(), key_trait=Unicode(), help="provider → model override")
    order = List(Unicode(), help="every provider, in the order shown")
    enabled = List(Unicode(), help="the providers switched on")
    system = Unicode("", help="system prompt ('' for none)")
    temperature = Float(None, allow_none=True, min=0.0, max=2.0, help="None: not sent")
    max_tokens = Int(None, allow_none=True, min=1, help="None: not sent")
    stream = Bool(True, help="Playground: stream the answer as it arrives")
    error = Unicode("", help="why the last apply failed ('' when it worked)")

    _shared: ClassVar[weakref.WeakKeyDictionary[Session, PanelState]] = weakref.WeakKeyDictionary()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bound: weakref.ref[Session] | None = None
        self._loading = False
        self._applied: tuple[Any, ...] | None = None

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_session(cls, session: Session) -> PanelState:
        """A new state holding what `session` is configured with now (not bound to it)."""
        state = cls()
        state.load(session)
        return state

    @classmethod
    def of(cls, session: Session) -> PanelState:
        """The state every panel of `session` shares, applied to it on every change.

        If code changed the Session since the state last wrote it (say
        `session.provider_order = [...]`), the state reloads from the Session first.
        """
        state = cls._shared.get(session)
        if state is None:
            state = cls.from_session(session)
            state._bound = weakref.ref(session)
            cls._shared[session] = state
            state._auto_apply()
        elif state._applied != _snapshot(session):
            state.load(session)
            state._auto_apply()
        return state

    def load(self, session: Session) -> None:
        """Read the Session's provider order and defaults into the state."""
        defaults = session.defaults
        role = defaults.get("role")
        if isinstance(role, Role):
            role = role.name
        active = list(session.provider_order)
        self._loading = True
        try:
            self.role = role if isinstance(role, str) and role in session.roles else ""
            self.models = {str(k): str(v) for k, v in (defaults.get("models") or {}).items()}
            self.order = active + [p for p in registry.names() if p not in active]
            self.enabled = active
            self.system = str(defaults.get("system") or "")
            temperature = defaults.get("temperature")
            self.temperature = None if temperature is None else float(temperature)
            max_tokens = defaults.get("max_tokens")
            self.max_tokens = None if max_tokens is None else int(max_tokens)
        finally:
            self._loading = False

    # --- what the state means ---------------------------------------------------------
    def active_order(self) -> list[str]:
        """The enabled providers, in order: the Session's `provider_order` after `apply`."""
        return [p for p in self.order if p in self.enabled]

    def call_defaults(self) -> dict[str, Any]:
        """The keywords `apply` puts into `session.defaults` (empty values left out)."""
        values: dict[str, Any] = {
            "role": self.role or None,
            "models": {p: m.strip() for p, m in self.models.items() if m.strip()} or None,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "system": self.system.strip() and self.system,
        }
        return {k: v for k, v in values.items() if v not in (None, "")}

    def apply(self, session: Session) -> None:
        """Write the state into `session`: `provider_order` and `defaults`.

        Raises `ConfigError` (nothing is changed) when no provider is enabled or the
        order is not allowed. A `providers` default is removed: it would override
        the order the panels show.
        """
        order = self.active_order()
        if not order:
            raise ConfigError("no provider is enabled: tick at least one in the provider list")
        if self.role and self.role not in session.roles:
            raise ConfigError(f"unknown role {self.role!r}; choose from {', '.join(session.roles)}")
        session.provider_order = order
        values = self.call_defaults()
        for key in _OWNED:
            if key in values:
                session.defaults[key] = values[key]
            else:
                session.defaults.pop(key, None)
        session.defaults.pop("providers", None)
        self._applied = _snapshot(session)

    # --- edits panels make ------------------------------------------------------------
    def move(self, provider: str, by: int) -> None:
        """Move `provider` up (`by=-1`) or down (`by=1`) in the order."""
        order = list(self.order)
        index = order.index(provider)
        target = min(max(index + by, 0), len(order) - 1)
        order.insert(target, order.pop(index))
        self.order = order

    def set_enabled(self, provider: str, on: bool) -> None:
        """Switch `provider` on or off."""
        if on and provider not in self.enabled:
            self.enabled = [*self.enabled, provider]
        elif not on and provider in self.enabled:
            self.enabled = [p for p in self.enabled if p != provider]

    def set_model(self, provider: str, model: str) -> None:
        """Ask `provider` for `model` ("" for the role's model)."""
        models = dict(self.models)
        if model.strip():
            models[provider] = model.strip()
        else:
            models.pop(provider, None)
        if models != self.models:
            self.models = models

    # --- applied on every change --------------------------------------------------------
    @observe(*_CONFIG)
    def _on_change(self, change: Bunch) -> None:
        if not self._loading:
            self._auto_apply()

    def _auto_apply(self) -> None:
        session = self._bound() if self._bound is not None else None
        if session is None or session.closed:
            return
        try:
            self.apply(session)
        except NvgwError as err:
            self.error = str(err)
        else:
            self.error = ""


def _snapshot(session: Session) -> tuple[Any, ...]:
    """What the state owns in a Session, to notice changes made by code."""
    defaults: Mapping[str, Any] = session.defaults
    return (
        tuple(session.provider_order),
        tuple((k, repr(defaults.get(k))) for k in (*_OWNED, "providers")),
    )
