"""What every plot shares: colours, the simulated mark, axes, ordering and number helpers."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

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


def set_xticks(ax: Axes, positions: Iterable[float], labels: Sequence[str]) -> None:
    """Tick labels, smaller when many categories share the width (they would overlap)."""
    size = 10 if len(labels) <= 3 else 8 if len(labels) <= 5 else 7
    ax.set_xticks(list(positions), list(labels), fontsize=size)


def mark_simulated(ax: Axes) -> None:
    """A visible "SIMULATED" label as the axes' right-hand title.

    The right title slot, not a label inside the axes: it never covers data, and the
    plot's own title sits on the left.
    """
    ax.set_title(
        "SIMULATED",
        loc="right",
        fontsize=9,
        fontweight="bold",
        color=SIM_COLOR,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff3e0", "edgecolor": SIM_COLOR},
        gid=SIMULATED_GID,
    )


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
