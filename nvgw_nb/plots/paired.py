"""The paired latency plot of a `Comparison`: per-prompt ratios on a log axis, with the
geometric mean and its prompt-level bootstrap 95% CI (`Comparison.paired_latency`)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from nvgw_nb.compare import Comparison, PairedLatency
from nvgw_nb.plots._style import (
    LEGEND_OUTSIDE,
    NO_ROLE,
    ROLE_ORDER,
    mark_simulated,
    new_axes,
    plain,
)
from nvgw_nb.plots._style import ordered as _ordered
from nvgw_nb.providers.registry import provider_color

__all__ = ["paired"]

#: one colour per role, so prompts of one kind stand together (two groups of ratios
#: usually are two kinds of prompt)
ROLE_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_VERDICT_COLOR = {"slower": "#b22222", "faster": "#1f6f2a", "unclear": "#333333"}


def paired(cmp: Comparison, *, ax: Axes | None = None, baseline: str | None = None) -> Axes:
    """Per prompt, how many times `baseline`'s latency each other provider took: one dot
    per prompt (its median over repeats on each side) on a log axis, coloured by role; the
    geometric mean as a diamond with its prompt-level bootstrap 95% CI, and a dashed line
    at 1× (no difference). The figures are those of `cmp.summary()`'s conclusion.

    Stable handles: dots have gid `"ratio"`, the geometric mean `"geomean"`, its
    interval `"ci"`, the 1× line `"null"`.

    >>> nv.plots.paired(cmp)  # doctest: +SKIP
    """
    return _paired(cmp, new_axes(ax), baseline=baseline, mark=cmp.simulated)


def _paired(cmp: Comparison, ax: Axes, *, baseline: str | None, mark: bool) -> Axes:
    base = baseline or cmp.providers[0]
    others = [p for p in cmp.providers if p != base]
    pairs = [cmp.paired_latency(base, other) for other in others]
    roles = _ordered(
        [p.role or NO_ROLE for p in cmp.prompts], [*ROLE_ORDER, NO_ROLE], unknown_last=NO_ROLE
    )
    colors = {role: ROLE_COLORS[i % len(ROLE_COLORS)] for i, role in enumerate(roles)}
    by_role = len(roles) > 1
    ax.axvline(1.0, color="#444", linewidth=1, linestyle="--", gid="null", zorder=1)
    rng = np.random.default_rng(0)  # seeded jitter: the same data always look the same
    values: list[float] = []
    for row, pair in enumerate(pairs):
        y = len(pairs) - 1 - row
        ratios = list(pair.ratios.values())
        values += ratios
        if ratios:
            dot_colors = [
                colors[cmp.prompts[i].role or NO_ROLE] if by_role else provider_color(pair.other)
                for i in pair.ratios
            ]
            ax.scatter(
                ratios,
                y + rng.uniform(-0.22, 0.22, len(ratios)),
                s=22,
                c=dot_colors,
                alpha=0.8,
                linewidths=0,
                zorder=3,
                gid="ratio",
            )
        _draw_estimate(ax, pair, y + 0.38)
    if not values:
        ax.text(
            0.5,
            0.5,
            "no prompt was answered by both providers",
            ha="center",
            va="center",
            color="#555",
            transform=ax.transAxes,
        )
    ax.set_xscale("log")
    _log_axis(ax, values + [v for p in pairs for v in (p.ratio, *p.ci)])
    labels = [plain(f"{p.other}\nvs {p.baseline}\nn={p.n} prompts") for p in pairs]
    ax.set_yticks(list(range(len(pairs) - 1, -1, -1)), labels, fontsize=9)
    ax.set_ylim(-0.6, len(pairs) - 0.1)
    other = pairs[0].other if len(pairs) == 1 else "other"
    ax.set_xlabel(
        plain(f"latency ratio {other} / {base} per prompt (log scale; < 1×: {other} faster)")
    )
    ax.set_title("Paired latency, prompt by prompt", loc="left")
    handles = [
        Line2D(
            [],
            [],
            marker="D",
            color="black",
            linestyle="-",
            markersize=5,
            label="geometric mean,\n95% bootstrap CI",
        )
    ]
    if by_role:
        handles += [
            Line2D(
                [], [], marker="o", color=colors[r], linestyle="none", markersize=5, label=plain(r)
            )
            for r in roles
        ]
    ax.legend(handles=handles, title="prompt role" if by_role else None, **LEGEND_OUTSIDE)
    if mark:
        mark_simulated(ax)
    return ax


def _draw_estimate(ax: Axes, pair: PairedLatency, y: float) -> None:
    """The geometric mean as a diamond, its interval as a line, and both in words."""
    if math.isnan(pair.ratio):
        return
    low, high = pair.ci
    color = _VERDICT_COLOR.get(pair.direction, "#333333")
    if pair.enough:
        ax.hlines(y, low, high, colors=color, linewidth=2.2, gid="ci", zorder=4)
        text = f"{pair.ratio:.2f}× (CI {low:.2f}–{high:.2f}×)"
    else:
        text = f"{pair.ratio:.2f}× (too few prompts for a CI)"
    ax.plot(
        [pair.ratio],
        [y],
        marker="D",
        markersize=7,
        color=color,
        linestyle="none",
        gid="geomean",
        zorder=5,
    )
    ax.annotate(
        text,
        (pair.ratio, y),
        xytext=(0, 7),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=8,
        color=color,
        zorder=5,
        # a white ground: the 1× line often runs through the label
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
    )


#: tick values of the ratio axis by how far it reaches from 1× (the largest ratio shown):
#: about evenly spaced on the log scale, so neighbouring labels never touch
_TICK_SETS = (
    (1.6, (0.67, 0.8, 1.0, 1.25, 1.5)),
    (3.2, (0.5, 0.67, 1.0, 1.5, 2.0)),
    (6.5, (0.25, 0.5, 1.0, 2.0, 4.0)),
    (25.0, (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)),
    (math.inf, (0.01, 0.1, 1.0, 10.0, 100.0)),
)


def _log_axis(ax: Axes, values: list[float]) -> None:
    """x limits around the data and 1×, symmetric on the log scale (so 1× sits mid-way),
    with ratios as ticks ("0.5×", "2×"): matplotlib's log ticks would show only 1×."""
    finite = [v for v in values if math.isfinite(v) and v > 0]
    spread = max((abs(math.log(v)) for v in finite), default=0.0)
    edge = math.exp(max(spread * 1.15, math.log(1.4)))
    ax.set_xlim(1 / edge, edge)
    ticks = next(t for reach, t in _TICK_SETS if edge <= reach)
    chosen = [t for t in ticks if 1 / edge <= t <= edge]
    ax.xaxis.set_major_locator(FixedLocator(chosen))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}×" for t in chosen]))
    ax.xaxis.set_minor_locator(NullLocator())
