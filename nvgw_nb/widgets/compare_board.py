"""The CompareBoard: the same prompts on several providers, then outputs, plots, summary."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvgw_nb.compare import Comparison
from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.providers import registry
from nvgw_nb.widgets._html import (
    AMBER,
    RED,
    error_html,
    markdown_html,
    note_html,
    side_by_side_html,
)
from nvgw_nb.widgets._tasks import NO_LOOP, TaskSlot
from nvgw_nb.widgets._ui import (
    HTML,
    BoundedIntText,
    Box,
    Button,
    Checkbox,
    HBox,
    Image,
    IntProgress,
    Layout,
    Tab,
    Text,
    Textarea,
    VBox,
    field_label,
    stretched,
    wrapping_row,
)
from nvgw_nb.widgets.routing import RolePicker
from nvgw_nb.widgets.state import PanelState, unavailable_reason

if TYPE_CHECKING:
    from nvgw_nb.session import Session

__all__ = ["CompareBoard"]

logger = logging.getLogger("nvgw_nb")

#: how often the progress bar reads the finished count while a comparison runs
_TICK_S = 0.1
#: the plots shown, in order (those `nv.plots` has: "paired" is newer than the others)
_PLOTS = ("latency", "paired", "success", "tokens", "cost", "similarity")
#: the plots' resolution: a 7.5 in wide plot is 750 px, its 8 pt labels about 11 px
_DPI = 100
#: a plot grows to 750 px and shrinks with the notebook; two fit a row from ~1100 px
_PLOT_LAYOUT = {"flex": "1 1 520px", "min_width": "0", "max_width": "750px", "height": "auto"}
_TAB_TITLES = ("Side by side", "Plots", "Summary")


class CompareBoard(VBox):
    """Run `session.acompare` from a form; results in tabs, CSV on request.

    Prompts (one per line), the providers to compare, repeats and concurrency; **Run**
    schedules the comparison on the kernel's running loop and fills a progress bar
    as requests finish; then three tabs: the answers side by side with differences
    highlighted (line breaks kept), the plots (`nv.plots.latency`, `paired`,
    `success`, `tokens`, `cost` and `similarity`, one image each, two a row where
    there is room), and the summary table. **Save CSV** writes
    `comparison.to_csv(path)`. `await board.wait()` waits for the run;
    `board.comparison` is the latest `Comparison`.

    Progress is per request: `acompare` has no per-item hook, so while it runs the
    bar polls the length of `session.last_calls` — the public list the Session fills
    as each request finishes (another experiment on the same Session at the same time
    would be counted too).

    >>> nv.widgets.CompareBoard(session)  # doctest: +SKIP
    """

    def __init__(
        self, session: Session, *, state: PanelState | None = None, prompts: str = ""
    ) -> None:
        self.session = session
        self.state = state if state is not None else PanelState.of(session)
        #: the latest comparison (None before the first run)
        self.comparison: Comparison | None = None
        self.role_picker = RolePicker(session, state=self.state)
        self.prompts = Textarea(
            value=prompts,
            placeholder="One prompt per line",
            rows=5,
            layout=stretched(),
        )
        self.providers: dict[str, Checkbox] = {}
        for provider in self.state.order:
            reason = unavailable_reason(session, provider)
            self.providers[provider] = Checkbox(
                value=reason is None and provider in registry.internal_names(),
                disabled=reason is not None,
                description=provider,
                tooltip=reason or "",
                indent=False,
                layout=Layout(width="auto"),
            )
        wide = {"description_width": "initial"}
        self.repeats = BoundedIntText(
            value=1, min=1, max=100, description="Repeats", style=wide, layout=Layout(width="150px")
        )
        self.concurrency = BoundedIntText(
            value=8,
            min=1,
            max=64,
            description="Concurrency",
            style=wide,
            layout=Layout(width="170px"),
        )
        self.run_button = Button(
            description="Run", button_style="success", icon="play", layout=Layout(width="90px")
        )
        self.stop_button = Button(
            description="Stop", icon="stop", disabled=True, layout=Layout(width="90px")
        )
        self.progress = IntProgress(
            value=0,
            min=0,
            max=1,
            description="0 / 0",
            layout=Layout(width="100%", max_width="500px"),
        )
        self.message = HTML()
        self.side_by_side = HTML()
        #: one image per plot (latency, paired ratios, outcomes, tokens, cost, agreement), at a size
        #: its text reads at: two a row where the notebook is wide enough, else one
        self.plot_images: list[Image] = []
        self.plots = Box(layout=wrapping_row(gap="8px"))
        self.summary = HTML()
        self.tabs = Tab(children=(self.side_by_side, self.plots, self.summary))
        self.tabs.titles = _TAB_TITLES
        self.csv_path = Text(
            value="comparison.csv",
            description="CSV path",
            style=wide,
            layout=Layout(width="100%", max_width="360px"),
        )
        self.save_button = Button(
            description="Save CSV", icon="download", layout=Layout(width="110px")
        )
        self.saved = HTML()
        self._slot = TaskSlot(self._show_running)
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.save_button.on_click(self._on_save)
        # Rows wrap rather than clip at laptop width (1280 px with the file browser open).
        super().__init__(
            children=(
                self.role_picker,
                field_label("Prompts", "one per line"),
                self.prompts,
                HBox(
                    children=(HTML("<b>Providers</b>"), *self.providers.values()),
                    layout=wrapping_row(),
                ),
                HBox(
                    children=(
                        self.repeats,
                        self.concurrency,
                        self.run_button,
                        self.stop_button,
                    ),
                    layout=wrapping_row(),
                ),
                self.progress,
                self.message,
                self.tabs,
                HBox(children=(self.csv_path, self.save_button, self.saved), layout=wrapping_row()),
            ),
            layout=Layout(width="100%", max_width="1400px"),
        )

    # --- runs ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a comparison is in progress."""
        return self._slot.running

    @property
    def task(self) -> asyncio.Task[Any] | None:
        """The asyncio task of the latest comparison (None before the first)."""
        return self._slot.task

    def _on_run(self, _: Button) -> None:
        if self._slot.running:
            return
        if not self._slot.start(self._run()):
            self.message.value = note_html(NO_LOOP, colour=RED)

    def _on_stop(self, _: Button) -> None:
        self._slot.stop()

    async def wait(self) -> None:
        """Wait until the current comparison (if any) has finished, failed or stopped."""
        await self._slot.wait()

    def _show_running(self, running: bool) -> None:
        self.run_button.disabled = running
        self.stop_button.disabled = not running

    def prompt_list(self) -> list[str]:
        """The prompts: one per non-blank line."""
        return [line.strip() for line in self.prompts.value.splitlines() if line.strip()]

    def chosen_providers(self) -> list[str]:
        """The ticked providers, in the order shown."""
        return [p for p, box in self.providers.items() if box.value and not box.disabled]

    async def _run(self) -> None:
        prompts, providers = self.prompt_list(), self.chosen_providers()
        total = len(prompts) * len(providers) * self.repeats.value
        self._progress(0, total, "info")
        self.message.value = ""
        ticker: asyncio.Task[None] | None = None
        before = self.session.last_calls
        try:
            if not prompts:
                raise ConfigError("Type at least one prompt (one per line), then press Run.")
            if not providers:
                raise ConfigError("Tick at least one provider to compare.")
            self.state.apply(self.session)
            ticker = asyncio.get_running_loop().create_task(self._tick(before, total))
            self.message.value = note_html(f"running {total} requests…")
            comparison = await self.session.acompare(
                prompts,
                providers=providers,
                repeats=self.repeats.value,
                concurrency=self.concurrency.value,
                progress=False,
            )
        except asyncio.CancelledError:
            current = self.session.last_calls
            done = len(current) if current is not before else 0
            self._progress(done, total, "warning")
            self.message.value = note_html(
                f"stopped after {done} of {total} requests", colour=AMBER
            )
            raise
        except NvgwError as err:
            self._progress(0, total, "danger")
            self.message.value = error_html(err)
        except Exception as err:  # a bug: shown short in the panel, logged in full
            logger.exception("CompareBoard run failed unexpectedly")
            self._progress(0, total, "danger")
            self.message.value = error_html(err)
        else:
            self.comparison = comparison
            failed = sum(1 for row in comparison.rows if not row.ok)
            self._progress(len(comparison.rows), total, "warning" if failed else "success")
            self.message.value = note_html(
                f"{len(comparison.rows)} requests, {failed} failed"
                + (" — SIMULATED" if comparison.simulated else "")
            )
            self._show(comparison)
        finally:
            if ticker is not None:
                ticker.cancel()
            self._show_running(False)

    async def _tick(self, before: object, total: int) -> None:
        """Move the bar as `session.last_calls` (a new list for this run) fills."""
        while True:
            await asyncio.sleep(_TICK_S)
            current = self.session.last_calls
            if current is not before:
                self._progress(len(current), total, "info")

    def _progress(self, done: int, total: int, style: str) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, total)
        self.progress.description = f"{done} / {total}"
        self.progress.bar_style = style

    def _show(self, comparison: Comparison) -> None:
        side = side_by_side_html(comparison)
        self.side_by_side.value = side or note_html(
            "Tick two providers to see their answers side by side."
        )
        for old in self.plot_images:
            old.close()
        self.plot_images = [
            Image(value=png, format="png", layout=Layout(**_PLOT_LAYOUT))
            for png in _pngs(comparison)
        ]
        self.plots.children = tuple(self.plot_images)
        self.summary.value = markdown_html(comparison.summary().to_markdown())
        self.tabs.selected_index = 0

    # --- export ---------------------------------------------------------------------------
    def _on_save(self, _: Button) -> None:
        self.save_csv()

    def save_csv(self, path: str | Path | None = None) -> Path | None:
        """Write the latest comparison as CSV (default: the path in the box); None if
        there is nothing to save or writing failed (the panel says why)."""
        if self.comparison is None:
            self.saved.value = note_html("Run a comparison first.", colour=RED)
            return None
        target = Path(
            path if path is not None else (self.csv_path.value.strip() or "comparison.csv")
        )
        try:
            written = self.comparison.to_csv(target).resolve()
        except OSError as err:
            self.saved.value = note_html(
                f"could not write {target}: {err.strerror or err}", colour=RED
            )
            return None
        self.saved.value = note_html(f"saved {len(self.comparison.rows)} rows to {written}")
        return written


def _pngs(comparison: Comparison) -> list[bytes]:
    """The comparison's plots, one PNG each (matplotlib loads here, on first use).

    One figure per plot rather than `nv.plots.overview`'s grid: shrunk into a
    notebook's width, the grid's 8 pt labels came out about 7 px tall. Each plot here
    is 7.5 × 4.8 in at 100 dpi (750 px wide), shown at up to that width.
    """
    import matplotlib.pyplot as plt

    from nvgw_nb import plots

    pngs = []
    for name in _PLOTS:
        draw = getattr(plots, name, None)
        if draw is None or (name == "paired" and len(comparison.providers) < 2):
            continue
        figure = draw(comparison).get_figure(root=True)
        assert figure is not None  # a plot's axes always belong to a figure
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI)
        plt.close(figure)  # drawn for the panel only: the inline backend must not show it
        pngs.append(buffer.getvalue())
    return pngs
