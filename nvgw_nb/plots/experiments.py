"""Plots of experiments: `forest` (paired differences with their intervals) and `pareto`
(quality against cost or latency, one point per cell).

>>> nv.plots.forest([run.compare(a=..., b=...), ...])   # doctest: +SKIP
>>> nv.plots.pareto(run, cost="latency_s")              # doctest: +SKIP

Stable handles for tests and callers: in `forest`, each comparison's dot has gid
`"delta"` and its interval line `"ci"`, the reference line (0, or 1 for ratios) `"null"`;
in `pareto`, the error-bar container of the cells has the label `"cells"`, the line
through the Pareto-optimal cells gid `"pareto-front"`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from nvgw_nb.errors import ConfigError
from nvgw_nb.plots._style import mark_simulated, new_axes, plain, usd
from nvgw_nb.providers.registry import provider_color

if TYPE_CHECKING:
    from nvgw_nb.experiments.analysis import PairedComparison
    from nvgw_nb.experiments.run import Run

__all__ = ["forest", "pareto"]

SIGNIFICANT_COLOR = "#1f4e79"
UNSURE_COLOR = "#7a7a7a"


def forest(
    comparisons: PairedComparison | Sequence[PairedComparison], *, ax: Axes | None = None
) -> Axes:
    """One row per paired comparison: the difference as a dot, its interval as a line,
    and a vertical line at "no difference" (0; or 1 on a log axis for ratios such as
    latency). A row whose interval excludes no difference is drawn solid, others hollow.

    Differences of pass rates ("points") are drawn in percentage points.

    >>> terse = run.compare(a={"system": "terse"}, b={"system": "plain"})  # doctest: +SKIP
    >>> nv.plots.forest([terse, by_provider])                             # doctest: +SKIP
    """
    rows = [comparisons] if not isinstance(comparisons, Sequence) else list(comparisons)
    if not rows:
        raise ConfigError("forest() needs at least one comparison")
    ratios = {c.ratio for c in rows}
    if len(ratios) > 1:
        raise ConfigError(
            "forest() draws either differences or ratios on one axis, not both: "
            "plot the latency/cost comparisons on their own"
        )
    ratio = ratios.pop()
    units = {c.unit for c in rows}
    scale = 100.0 if not ratio and units == {"points"} else 1.0
    ax = new_axes(ax, (7.5, 1.2 + 0.55 * len(rows)))
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color="#444", linewidth=1, linestyle="--", gid="null", zorder=1)
    labels = []
    for i, c in enumerate(rows):
        y = len(rows) - 1 - i
        colour = SIGNIFICANT_COLOR if c.significant else UNSURE_COLOR
        low, high = c.ci
        if not (math.isnan(low) or math.isnan(high)):
            ax.hlines(
                y,
                low * scale,
                high * scale,
                colors=colour,
                linewidth=2.2 if c.significant else 1.4,
                linestyles="solid" if c.significant else "dashed",
                gid="ci",
                zorder=2,
            )
        ax.plot(
            [c.delta * scale],
            [y],
            marker="o",
            markersize=8,
            color=colour,
            markerfacecolor=colour if c.significant else "white",
            markeredgewidth=1.6,
            linestyle="none",
            gid="delta",
            zorder=3,
        )
        labels.append(plain(f"{c.a} vs {c.b} · {c.metric}\nn={c.n_cases} cases"))
    ax.set_yticks(list(range(len(rows) - 1, -1, -1)), labels, fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    if ratio:
        ax.set_xscale("log")
        ax.set_xlabel("ratio A / B (geometric mean, 95% CI; log scale)")
    elif scale == 100.0:
        ax.set_xlabel("difference A − B (percentage points, 95% CI)")
    else:
        unit = units.pop() if len(units) == 1 else ""
        ax.set_xlabel(plain(f"difference A − B ({unit + ', ' if unit else ''}95% CI)"))
    ax.set_title(f"Paired differences (filled: CI excludes {null:g})", loc="left")
    if any(c.simulated for c in rows):
        mark_simulated(ax)
    return ax


def pareto(
    run: Run,
    *,
    metric: str | None = None,
    cost: Literal["cost_usd", "latency_s"] = "cost_usd",
    ax: Axes | None = None,
) -> Axes:
    """Quality against cost, one point per cell: the mean of `metric` over cases (repeats
    averaged first, as `run.summary()`) with its 95% interval as a vertical bar, against
    the mean cost per call (`cost="cost_usd"`) or the median latency (`"latency_s"`).
    The Pareto-optimal cells — none cheaper and at least as good — are ringed and joined.

    >>> nv.plots.pareto(run, metric="expected", cost="latency_s")  # doctest: +SKIP
    """
    if cost not in ("cost_usd", "latency_s"):
        raise ConfigError(f"cost must be 'cost_usd' or 'latency_s', not {cost!r}")
    names = run.scorer_names
    if metric is None:
        if not names:
            raise ConfigError("this run has no scores to plot: give metric= or rescore it")
        metric = names[0]
    elif metric not in names:
        raise ConfigError(f"no score {metric!r} in this run; scores: {', '.join(names)}")
    summary = run.summary()
    ax = new_axes(ax)
    points: list[tuple[float, float, float, float, str, str]] = []
    skipped = []
    for cell, row in zip(run.cells, summary.rows, strict=True):
        m = row.metrics.get(metric)
        if cost == "cost_usd":
            x = row.cost_usd / row.n_calls if row.n_calls else math.nan
        else:
            x = row.median_latency_s
        if m is None or math.isnan(m.mean) or math.isnan(x):
            skipped.append(row.label)
            continue
        low = m.low if not math.isnan(m.low) else m.mean
        high = m.high if not math.isnan(m.high) else m.mean
        points.append((x, m.mean, low, high, row.label, provider_color(cell.provider)))
    if points:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        errors = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        bars = ax.errorbar(
            xs, ys, yerr=errors, fmt="none", ecolor="#555", elinewidth=1.2, capsize=4, zorder=2
        )
        bars.set_label("cells")
        ax.scatter(xs, ys, c=[p[5] for p in points], s=50, zorder=3, gid="cells")
        front = pareto_front([(p[0], p[1]) for p in points])
        fx = [points[i][0] for i in front]
        fy = [points[i][1] for i in front]
        ax.plot(fx, fy, color="#2e7d32", linewidth=1.5, zorder=1, gid="pareto-front")
        ax.scatter(fx, fy, s=180, facecolors="none", edgecolors="#2e7d32", linewidths=1.5, zorder=4)
        for x, y, _, _, label, _ in points:
            ax.annotate(
                plain(label),
                (x, y),
                textcoords="offset points",
                xytext=(6, 5),
                fontsize=8,
                gid="label",
            )
    binary = all((m := row.metrics.get(metric)) is not None and m.binary for row in summary.rows)
    if binary:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(plain(f"{metric} (mean over cases, 95% CI)"))
    if cost == "cost_usd":
        ax.set_xlabel("mean cost per call (USD, subject calls)")
        ax.xaxis.set_major_formatter(lambda value, _: usd(value))
    else:
        ax.set_xlabel("median latency (s)")
    note = f" — no data: {', '.join(skipped)}" if skipped else ""
    ax.set_title(
        plain(f"Quality against {'cost' if cost == 'cost_usd' else 'latency'}{note}"), loc="left"
    )
    ax.margins(x=0.15, y=0.1)
    if run.simulated:
        mark_simulated(ax)
    return ax


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats — costing no more and scoring at
    least as much, better in one — sorted by cost."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            ox <= x and oy >= y and (ox < x or oy > y)
            for j, (ox, oy) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))
