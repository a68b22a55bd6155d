"""What every plot shares: colours, the simulated mark, axes, ordering and number helpers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox, ScaledTranslation, Transform

ROLE_ORDER = ("router", "planner", "programmer", "reviewer")

OK_COLOR = "#a9cf8f"
FAILURE_COLORS = ("#d62728", "#ff9f1c", "#8c2d04", "#e377c2", "#6b6b6b", "#bcbd22", "#9467bd")
#: one colour per failure kind, the same in every run and every plot
KIND_COLORS = {
    "server_error": "#8c2d04",
    "timeout": "#d62728",
    "rate_limited": "#ff9f1c",
    "connection": "#e377c2",
    "unreachable": "#6b6b6b",
    "malformed": "#bcbd22",
    "tool_call": "#9467bd",
    "validation": "#17becf",
    "empty": "#c7c7c7",
    "circuit_open": "#393b79",
    "auth": "#7b4173",
    "model_not_found": "#843c39",
}
FAILED_EDGE = "#b22222"
BACKOFF_COLOR = "#9a9a9a"
SIM_COLOR = "#b35900"
SIMULATED_GID = "nvgw-simulated"
NO_ROLE = "(none)"
LEGEND_OUTSIDE: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
    "fontsize": 8,
}
FAILED = "failed"


def new_axes(ax: Axes | None, size: tuple[float, float] = (7.5, 4.8)) -> Axes:
    """`ax`, or the Axes of a new pyplot figure (see the module docstring for why pyplot)."""
    if ax is not None:
        return ax
    return plt.figure(figsize=size, layout="constrained").add_subplot()


def plain(text: str) -> str:
    """`text` shown as written: matplotlib reads the text between two `$` as mathtext (a
    provider, role or note holding "$5 … $9" would render as maths, or fail to draw)."""
    return text.replace("$", r"\$")


def set_xticks(ax: Axes, positions: Iterable[float], labels: Sequence[str]) -> None:
    """Tick labels (shown as written: `plain`), smaller when many categories share the
    width (they would overlap)."""
    size = 10 if len(labels) <= 3 else 8 if len(labels) <= 5 else 7
    ax.set_xticks(list(positions), [plain(label) for label in labels], fontsize=size)


#: points kept clear between the SIMULATED mark's text and a title: its rounded box
#: (pad 0.25 × 9 pt) reaches beyond the text's extent, plus a little air
_CLEARANCE = 5.0


class SimulatedMark(Text):
    """The "SIMULATED" label at the top right of an axes, on the title line — raised above
    it when the plot's own (left or centre) title would run into it.

    Where it goes is settled when the figure is laid out or drawn, not when the mark is
    made: a title set later (a grid of plots titled by the caller) or a narrow panel is
    only known then. Layout engines ask for its extent first, so both ask and draw place it.
    """

    def _place(self, renderer: RendererBase | None) -> None:
        ax = self.axes
        figure = self.get_figure(root=True)
        if ax is None or figure is None:
            return
        pad = float(matplotlib.rcParams["axes.titlepad"])
        self.set_position((1.0, ax.title.get_position()[1]))
        self.set_transform(ax.transAxes + _points(figure, pad))
        if renderer is None:
            return
        mine = super().get_window_extent(renderer)
        # the left title has no public getter of its artist; the centre one is `ax.title`
        for title in (ax.title, getattr(ax, "_left_title", None)):
            if not isinstance(title, Text) or not title.get_text():
                continue
            theirs = title.get_window_extent(renderer)
            clearance = _CLEARANCE * figure.dpi / 72
            if theirs.x1 + clearance > mine.x0 and mine.y0 < theirs.y1 + clearance:
                lift = (theirs.y1 - mine.y0) * 72 / figure.dpi + _CLEARANCE
                self.set_transform(ax.transAxes + _points(figure, pad + lift))
                return

    def get_window_extent(
        self, renderer: RendererBase | None = None, dpi: float | None = None
    ) -> Bbox:
        self._place(renderer)
        return super().get_window_extent(renderer, dpi)

    def draw(self, renderer: RendererBase) -> None:
        self._place(renderer)
        super().draw(renderer)


def _points(figure: Figure, dy: float) -> Transform:
    """An upward translation by `dy` points."""
    return ScaledTranslation(0.0, dy / 72, figure.dpi_scale_trans)


def mark_simulated(ax: Axes) -> None:
    """A visible "SIMULATED" label at the axes' top right (a `SimulatedMark`, gid
    `"nvgw-simulated"`): outside the data, on the title line, raised above a title that
    would reach it. Drawing it again replaces it."""
    for old in simulated_marks(ax):
        old.remove()
    mark = SimulatedMark(
        1.0,
        1.0,
        "SIMULATED",
        ha="right",
        va="baseline",
        fontsize=9,
        fontweight="bold",
        color=SIM_COLOR,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff3e0", "edgecolor": SIM_COLOR},
        gid=SIMULATED_GID,
        clip_on=False,
    )
    ax.add_artist(mark)
    mark._place(None)  # a first position, before any layout


def simulated_marks(ax: Axes) -> list[Text]:
    """The SIMULATED marks on `ax` (one at most)."""
    return [t for t in ax.get_children() if isinstance(t, Text) and t.get_gid() == SIMULATED_GID]


def ordered(names: Sequence[str], known: Sequence[str], *, unknown_last: str = "") -> list[str]:
    """The distinct `names`: those in `known` in its order, the rest in order of appearance
    (`unknown_last`, when present, after everything)."""
    present = dict.fromkeys(names)
    first = [k for k in known if k in present and k != unknown_last]
    rest = [n for n in present if n not in known]
    last = [unknown_last] if unknown_last and unknown_last in present else []
    return first + rest + last


def mean_of(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def fraction(count: int, n: int) -> float:
    return count / n if n else 0.0


def finite_or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def usd(value: float) -> str:
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.3g}" if value > 0 else "$0"
