"""The Playground: try a prompt, watch it stream, see who answered and why."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from typing import TYPE_CHECKING, Any

from traitlets import link

from nvgw_nb.errors import NvgwError
from nvgw_nb.results import ChatResult
from nvgw_nb.widgets._html import (
    AMBER,
    CELL,
    RED,
    TABLE,
    answer_html,
    badge,
    error_html,
    note_html,
    result_status_html,
    trace_html,
)
from nvgw_nb.widgets._tasks import NO_LOOP, TaskSlot
from nvgw_nb.widgets._ui import (
    HTML,
    BoundedIntText,
    Button,
    Checkbox,
    FloatSlider,
    HBox,
    Layout,
    Textarea,
    VBox,
    field_label,
    stretched,
    wrapping_row,
)
from nvgw_nb.widgets.routing import ModelPicker, ProviderOrder, RolePicker
from nvgw_nb.widgets.state import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, PanelState

if TYPE_CHECKING:
    from nvgw_nb.session import Session
    from nvgw_nb.streams import AsyncChatStream

__all__ = ["Playground"]

logger = logging.getLogger("nvgw_nb")

_STOPPED = "stopped — the request was cancelled"


class Playground(VBox):
    """Prompt box, role / model / provider-order pickers, streaming output, attempt trace.

    **Run** schedules the call as a task on the kernel's running loop and returns at
    once: the answer streams into `output` chunk by chunk (`session.astream`; a stream
    that restarts on another provider clears the text and says so), then a status
    line — served-by badge, fallback, latency, tokens, cost — and the collapsible
    attempt trace. **Stop** cancels the task and the request. Errors show as a short
    red message that says what to do, never a traceback. `results` keeps every
    answer; `await playground.wait()` waits for the current run.

    Settings live in the Session's shared `PanelState` and apply to the Session as
    they change: `playground.session` is configured as the panel shows.

    >>> nv.widgets.Playground(session)  # doctest: +SKIP
    """

    def __init__(
        self, session: Session, *, state: PanelState | None = None, prompt: str = ""
    ) -> None:
        self.session = session
        self.state = state if state is not None else PanelState.of(session)
        #: every answer so far, oldest first
        self.results: list[ChatResult] = []
        #: the error of the last run, if it failed (None after a success or a stop)
        self.last_error: NvgwError | None = None
        self.role_picker = RolePicker(session, state=self.state)
        self.provider_order = ProviderOrder(session, state=self.state)
        self.model_picker = ModelPicker(session, state=self.state)
        # Each box is labelled above it: a placeholder disappears once the box is filled.
        self.system_prompt = Textarea(
            placeholder="System prompt (optional)", rows=2, layout=stretched()
        )
        self.prompt = Textarea(value=prompt, placeholder="Prompt", rows=4, layout=stretched())
        wide = {"description_width": "initial"}
        self.temperature = FloatSlider(
            min=0.0,
            max=2.0,
            step=0.05,
            description="Temperature",
            readout_format=".2f",
            style=wide,
            layout=Layout(width="280px"),
        )
        self.max_tokens = BoundedIntText(
            min=1, max=131072, description="Max tokens", style=wide, layout=Layout(width="170px")
        )
        self.stream = Checkbox(description="Stream", indent=False, layout=Layout(width="80px"))
        self.run_button = Button(
            description="Run", button_style="success", icon="play", layout=Layout(width="90px")
        )
        self.stop_button = Button(
            description="Stop", icon="stop", disabled=True, layout=Layout(width="90px")
        )
        self.activity = HTML()
        #: the answer of the current run, then its status line and trace (or the error)
        self.output = HTML(layout=Layout(min_height="60px"))
        self.history = HTML()
        # The Playground shows temperature and max tokens, so from now on they are sent.
        if self.state.temperature is None:
            self.state.temperature = DEFAULT_TEMPERATURE
        if self.state.max_tokens is None:
            self.state.max_tokens = DEFAULT_MAX_TOKENS
        self._links = [
            # state first: a link copies its source into its target when it is made
            link((self.state, "system"), (self.system_prompt, "value")),
            link((self.state, "temperature"), (self.temperature, "value")),
            link((self.state, "max_tokens"), (self.max_tokens, "value")),
            link((self.state, "stream"), (self.stream, "value")),
        ]
        self._slot = TaskSlot(self._show_running)
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        # Rows wrap rather than clip: at laptop width (1280 px with JupyterLab's file
        # browser open) the models go under the provider order, Run / Stop under the
        # sliders; at 1920 px each row stays one line.
        controls = HBox(
            children=(
                self.temperature,
                self.max_tokens,
                self.stream,
                self.run_button,
                self.stop_button,
                self.activity,
            ),
            layout=wrapping_row(),
        )
        super().__init__(
            children=(
                self.role_picker,
                HBox(
                    children=(self.provider_order, self.model_picker),
                    layout=wrapping_row(gap="4px 32px"),
                ),
                field_label("System prompt", "optional: how the model should behave"),
                self.system_prompt,
                field_label("Prompt", "what to ask"),
                self.prompt,
                controls,
                self.output,
                self.history,
            ),
            layout=Layout(width="100%", max_width="1400px"),
        )

    # --- runs ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        return self._slot.running

    @property
    def task(self) -> asyncio.Task[Any] | None:
        """The asyncio task of the latest run (None before the first)."""
        return self._slot.task

    def _on_run(self, _: Button) -> None:
        if self._slot.running:
            return
        if not self._slot.start(self._run(self.prompt.value)):
            self.output.value = note_html(NO_LOOP, colour=RED)

    def _on_stop(self, _: Button) -> None:
        self._slot.stop()

    async def wait(self) -> None:
        """Wait until the current run (if any) has finished, failed or been stopped."""
        await self.model_picker.wait()
        await self._slot.wait()

    def _show_running(self, running: bool) -> None:
        self.run_button.disabled = running
        self.stop_button.disabled = not running
        if running:
            self.activity.value = note_html("running…")

    async def _run(self, prompt: str) -> None:
        text = ""
        provider = ""
        stream: AsyncChatStream | None = None
        self.last_error = None
        self.output.value = note_html("waiting for the first provider…")
        try:
            if not prompt.strip():
                self.output.value = note_html("Type a prompt first, then press Run.", colour=RED)
                return
            self.state.apply(self.session)
            if self.state.stream:
                # Restart mode: a stream that breaks after text was shown starts over on
                # the next provider (a reset chunk) instead of ending the run in an error.
                if "stream_mode" in self.session.defaults:
                    stream = self.session.astream(prompt)
                else:
                    stream = self.session.astream(prompt, stream_mode="restart")
                async for chunk in stream:
                    if chunk.reset:
                        text = ""
                        note = f"{chunk.provider} took over: the answer restarted"
                        self.output.value = answer_html("", note=note)
                        continue
                    text += chunk.text
                    provider = chunk.provider
                    self.output.value = answer_html(text) + _streaming(provider)
                result = stream.result
            else:
                self.output.value = note_html("waiting for the answer…")
                result = await self.session.achat(prompt)
        except asyncio.CancelledError:
            self.output.value = answer_html(text) + note_html(_STOPPED, colour=AMBER)
            self.activity.value = note_html("stopped", colour=AMBER)
            raise
        except NvgwError as err:
            self.last_error = err
            self.output.value = answer_html(text) + error_html(err)
            self.activity.value = ""
        except Exception as err:  # a bug: shown short in the panel, logged in full
            logger.exception("Playground run failed unexpectedly")
            self.output.value = answer_html(text) + error_html(err)
            self.activity.value = ""
        else:
            self.results.append(result)
            self.output.value = (
                answer_html(result.content)
                + result_status_html(result)
                + trace_html(result.attempts)
            )
            self.activity.value = ""
            self.history.value = _history_html(self.results)
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()
            self._show_running(False)
            self.provider_order.refresh()


def _streaming(provider: str) -> str:
    return f'<div style="font-size:12px;color:#666">streaming from {badge(provider)} …</div>'


def _history_html(results: list[ChatResult], *, last: int = 10) -> str:
    """The latest runs, newest first: who served, model, latency, tokens, cost."""
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td style="{CELL}">{cell}</td>'
            for cell in (
                str(index),
                badge(r.served_by),
                html.escape(r.model),
                f"{r.latency_s:.2f} s",
                str(r.usage.total_tokens),
                f"${r.cost_usd:.6f}",
                "yes" if r.fell_back else "",
            )
        )
        + "</tr>"
        for index, r in reversed(list(enumerate(results, 1))[-last:])
    )
    head = "".join(
        f'<th style="{CELL}">{name}</th>'
        for name in ("#", "served by", "model", "latency", "tokens", "cost", "fell back")
    )
    return (
        '<details class="nvgw-history" style="line-height:1.4"><summary '
        'style="cursor:pointer;font-size:12px">'
        f"history ({len(results)} run{'s' if len(results) != 1 else ''})</summary>"
        f'<div style="overflow-x:auto"><table style="{TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
    )
