"""Routing panels: which providers, in what order, with which role and models."""

from __future__ import annotations

import asyncio
import html
import re
from typing import TYPE_CHECKING

from traitlets import link

from nvgw_nb.errors import NvgwError
from nvgw_nb.providers import registry
from nvgw_nb.widgets._html import AMBER, GREY, RED, badge, note_html
from nvgw_nb.widgets._ui import HTML, Button, Checkbox, Combobox, Dropdown, HBox, Layout, VBox
from nvgw_nb.widgets.state import POLICY_REASON, PanelState, unavailable_reason

if TYPE_CHECKING:
    from collections.abc import Callable

    from traitlets.utils.bunch import Bunch

    from nvgw_nb.session import Session

__all__ = ["ModelPicker", "ProviderOrder", "ProviderRow", "RolePicker"]

#: a value shaped like an API key (the shapes tests/test_packaging.py guards against)
_KEY_SHAPED = re.compile(r"(nvapi-|sk-|AIza)[A-Za-z0-9_-]{16,}")
_KEY_WARNING = (
    "That looks like an API key, so it was cleared: keys belong in .env, never in a "
    "widget (widget values are saved with the notebook)."
)


class ProviderRow(HBox):
    """One provider: enable checkbox, ▲ / ▼, its name, and its breaker state or why it
    cannot be used."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.enabled = Checkbox(
            value=False, indent=False, description="", layout=Layout(width="28px")
        )
        self.up = Button(description="▲", tooltip="try earlier", layout=Layout(width="34px"))
        self.down = Button(description="▼", tooltip="try later", layout=Layout(width="34px"))
        # the badge column fits the longest name ("2. nvidia-gateway") on one line
        self.name = HTML(layout=Layout(width="170px", min_width="170px"))
        self.status = HTML()
        super().__init__(
            children=(self.enabled, self.up, self.down, self.name, self.status),
            layout=Layout(flex_flow="row nowrap", align_items="center"),
        )


class ProviderOrder(VBox):
    """The providers in the order calls try them: tick to enable, ▲ / ▼ to reorder.

    Each row shows the provider's circuit breaker ("closed", "cooling down 12 s (…)"),
    refreshed on every change and by `refresh()`. External providers are locked unless
    NVGW_ALLOW_EXTERNAL is true; providers this Session has no key for show the
    variable to set. Changes apply to the Session at once (`session.provider_order`).

    >>> nv.widgets.ProviderOrder(session)  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, state: PanelState | None = None) -> None:
        self.session = session
        self.state = state if state is not None else PanelState.of(session)
        self.rows: dict[str, ProviderRow] = {}
        others = [p for p in registry.names() if p not in self.state.order]
        for provider in [*self.state.order, *others]:
            row = ProviderRow(provider)
            row.enabled.observe(self._on_tick(provider), names="value")
            row.up.on_click(self._on_move(provider, -1))
            row.down.on_click(self._on_move(provider, 1))
            self.rows[provider] = row
        self.title = HTML("<b>Provider order</b> <small>(tried top to bottom)</small>")
        self.message = HTML()
        super().__init__()
        self.state.observe(self._on_state, names=["order", "enabled", "error"])
        self.refresh()

    def _on_tick(self, provider: str) -> Callable[[Bunch], None]:
        def handler(change: Bunch) -> None:
            if unavailable_reason(self.session, provider) is None:
                self.state.set_enabled(provider, bool(change["new"]))

        return handler

    def _on_move(self, provider: str, by: int) -> Callable[[Button], None]:
        def handler(_: Button) -> None:
            self.state.move(provider, by)

        return handler

    def _on_state(self, change: Bunch) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw the rows: order, ticks, locks and each breaker's state now."""
        order = [p for p in self.state.order if p in self.rows]
        active = self.state.active_order()
        for index, provider in enumerate(order):
            row = self.rows[provider]
            reason = unavailable_reason(self.session, provider)
            row.enabled.value = reason is None and provider in active
            row.enabled.disabled = reason is not None
            row.up.disabled = index == 0
            row.down.disabled = index == len(order) - 1
            position = f"{active.index(provider) + 1}." if provider in active else ""
            row.name.value = (
                f'<span style="display:inline-block;width:20px">{position}</span>{badge(provider)}'
            )
            row.status.value = self._status(provider, reason, provider in active)
        self.message.value = note_html(self.state.error, colour=RED) if self.state.error else ""
        self.children = (self.title, *(self.rows[p] for p in order), self.message)

    def _status(self, provider: str, reason: str | None, enabled: bool) -> str:
        if reason == POLICY_REASON:
            return _small(f"locked — {reason}", GREY)
        if reason is not None:
            return _small(f"unavailable — {reason}", GREY)
        breaker = self.session.breakers[provider]
        text = breaker.describe()
        colour = {"closed": "#2e7d32", "half_open": AMBER}.get(breaker.state, RED)
        return _small(f"breaker {text}" + ("" if enabled else " · off"), colour)


class RolePicker(VBox):
    """A dropdown of the Session's roles, each with its primary → fallback model.

    Under it, the plan the next call follows (provider → model, in order).

    >>> nv.widgets.RolePicker(session)  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, state: PanelState | None = None) -> None:
        self.session = session
        self.state = state if state is not None else PanelState.of(session)
        options = [("(no role: the Session's default models)", "")]
        for name, role in session.roles.items():
            try:
                models = [step.model for step in session.plan(role=role)[:2]]
            except NvgwError:
                models = []
            options.append((f"{name}: {' → '.join(models)}", name))
        self.dropdown = Dropdown(
            options=options,
            value=self.state.role,
            description="Role",
            layout=Layout(width="100%", max_width="620px"),
        )
        self.plan = HTML()
        super().__init__(children=(self.dropdown, self.plan))
        self._link = link((self.state, "role"), (self.dropdown, "value"))
        self.state.observe(self._on_state, names=["role", "models", "order", "enabled"])
        self.refresh()

    def _on_state(self, change: Bunch) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw the plan line: what the next call tries, with the models it asks for."""
        role = self.session.roles.get(self.state.role)
        try:
            steps = self.session.plan(
                role=role, models=self.state.models, providers=self.state.active_order() or None
            )
        except NvgwError as err:
            self.plan.value = note_html(str(err), colour=RED)
            return
        chain = " → ".join(
            f"{html.escape(s.provider)}: <code>{html.escape(s.model)}</code>" for s in steps
        )
        about = f" — {html.escape(role.description)}" if role and role.description else ""
        self.plan.value = (
            f'<div class="nvgw-plan" style="font-size:12px;color:#333;line-height:1.5">'
            f"next call: {chain}"
            f"<span style='color:{GREY}'>{about}</span></div>"
        )


class ModelPicker(VBox):
    """Per provider, the model to ask for: choices from `session.models(provider)` (NIM's
    `/v1/models`, the gateway's configured deployments), or any name typed in.

    Empty means "the role's model" (shown as the placeholder). A listing that fails
    shows a short message under the box; typing still works. NIM's list is fetched
    in a worker thread when an event loop runs (`await picker.wait()`), so building
    the panel never blocks the kernel.

    >>> nv.widgets.ModelPicker(session)  # doctest: +SKIP
    """

    def __init__(self, session: Session, *, state: PanelState | None = None) -> None:
        self.session = session
        self.state = state if state is not None else PanelState.of(session)
        self.boxes: dict[str, Combobox] = {}
        self.notes: dict[str, HTML] = {}
        rows = []
        for provider in self.state.order:
            if unavailable_reason(session, provider) is not None:
                continue
            # the provider's name is the box's label, left of it
            box = Combobox(
                value=self.state.models.get(provider, ""),
                options=(),
                ensure_option=False,
                description=provider,
                style={"description_width": "110px"},
                layout=Layout(width="100%", max_width="440px", min_width="300px"),
            )
            box.observe(self._on_typed(provider), names="value")
            self.boxes[provider] = box
            self.notes[provider] = HTML(layout=Layout(margin="0 0 0 114px"))
            rows.append(VBox(children=(box, self.notes[provider])))
        self.title = HTML("<b>Models</b> <small>(empty: the role's model)</small>")
        self._loading: asyncio.Task[None] | None = None
        super().__init__(
            children=(self.title, *rows), layout=Layout(flex="1 1 320px", max_width="460px")
        )
        self.state.observe(self._on_state, names=["models", "role"])
        self._placeholders()
        self.refresh()

    def _on_typed(self, provider: str) -> Callable[[Bunch], None]:
        def handler(change: Bunch) -> None:
            value = str(change["new"])
            if _KEY_SHAPED.search(value):
                self.boxes[provider].value = ""
                self.notes[provider].value = note_html(_KEY_WARNING, colour=RED)
                return
            self.state.set_model(provider, value)

        return handler

    def _on_state(self, change: Bunch) -> None:
        for provider, box in self.boxes.items():
            wanted = self.state.models.get(provider, "")
            if box.value.strip() != wanted:
                box.value = wanted
        self._placeholders()

    def _placeholders(self) -> None:
        role = self.session.roles.get(self.state.role)
        for provider, box in self.boxes.items():
            try:
                (step,) = self.session.plan(role=role, providers=[provider])
            except NvgwError:
                continue
            box.placeholder = step.model

    def refresh(self) -> None:
        """List the models again: a provider with a listing API (NIM's /v1/models) in a
        worker thread when a loop is running; the others name their configured models."""
        live = [p for p in self.boxes if registry.provider_class(p).lists_models]
        for provider in self.boxes:
            if provider not in live:
                self._listed(provider, None)
        if not live:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            for provider in live:
                self._listed(provider, None)
        else:
            self._loading = loop.create_task(self._list_live(live))

    async def _list_live(self, providers: list[str]) -> None:
        for provider in providers:
            self.notes[provider].value = note_html("listing models…")
            try:
                models = await asyncio.to_thread(self.session.models, provider)
            except Exception as err:  # shown as a short message: the box still takes any name
                self._failed(provider, err)
            else:
                self._listed(provider, models)

    def _listed(self, provider: str, models: list[str] | None) -> None:
        if models is None:
            try:
                models = self.session.models(provider)
            except Exception as err:  # shown as a short message: the box still takes any name
                self._failed(provider, err)
                return
        self.boxes[provider].options = tuple(models)
        self.notes[provider].value = note_html(f"{len(models)} models listed")

    def _failed(self, provider: str, err: Exception) -> None:
        reason = str(err) if isinstance(err, NvgwError) else type(err).__name__
        if len(reason) > 160:
            reason = reason[:159] + "…"
        self.notes[provider].value = note_html(
            f"could not list models ({reason}); type a model name", colour=RED
        )

    async def wait(self) -> None:
        """Wait for the model listing started by `refresh()`."""
        if self._loading is not None and not self._loading.done():
            await asyncio.wait({self._loading})


def _small(text: str, colour: str) -> str:
    # one line: a wrapped status would make its provider's row two lines tall
    return (
        f'<span style="font-size:12px;color:{colour};white-space:nowrap">{html.escape(text)}</span>'
    )
