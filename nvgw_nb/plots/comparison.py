"""Plots of a `Comparison`: latency, tokens, cost, success, answer agreement, overview
(the paired ratio is in `nvgw_nb.plots.paired`)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from nvgw_nb import stats
from nvgw_nb.compare import Comparison
from nvgw_nb.plots._style import (
    FAILURE_COLORS,
    KIND_COLORS,
    LEGEND_OUTSIDE,
    OK_COLOR,
    SIM_COLOR,
    finite_or_zero,
    fraction,
    mark_simulated,
    mean_of,
    new_axes,
    plain,
    set_xticks,
    usd,
)
from nvgw_nb.providers.registry import provider_color

__all__ = ["cost", "latency", "overview", "similarity", "success", "tokens"]

#: gid of the latency plot's legend (a figure shows it once)
LATENCY_LEGEND = "nvgw-latency-legend"


def latency(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Successful latencies per provider: box plot, one point per request, and the median
    with its bootstrap 95% CI.

    >>> nv.plots.latency(cmp)  # doctest: +SKIP
    """
    return _latency(cmp, new_axes(ax), mark=cmp.simulated)


def tokens(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Mean prompt and completion tokens per successful request, per provider.

    >>> nv.plots.tokens(cmp)  # doctest: +SKIP
    """
    return _tokens(cmp, new_axes(ax), mark=cmp.simulated)


def cost(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Estimated USD per 1k requests per provider, billed failed attempts included.

    >>> nv.plots.cost(cmp)  # doctest: +SKIP
    """
    return _cost(cmp, new_axes(ax), mark=cmp.simulated)


def success(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Share of requests per provider that succeeded, and of each kind of failure.

    >>> nv.plots.success(cmp)  # doctest: +SKIP
    """
    return _success(cmp, new_axes(ax), mark=cmp.simulated)


def similarity(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Histogram of per-prompt answer agreement between providers (`cmp.agreement()`).

    >>> nv.plots.similarity(cmp)  # doctest: +SKIP
    """
    return _similarity(cmp, new_axes(ax), mark=cmp.simulated)


def overview(cmp: Comparison) -> Figure:
    """A 2×3 figure: latency, the paired per-prompt ratio and the outcomes on top; tokens,
    cost and answer agreement below.

    >>> cmp.plot()  # the same as nv.plots.overview(cmp)  # doctest: +SKIP
    """
    from nvgw_nb.plots.paired import _paired

    fig = plt.figure(figsize=(19, 10), layout="constrained")
    # Detached from pyplot: Jupyter then shows it once, as the cell's value, rather than
    # once as the value and again from the inline backend at the end of the cell.
    plt.close(fig)
    _latency(cmp, fig.add_subplot(2, 3, 1), mark=False)
    _paired(cmp, fig.add_subplot(2, 3, 2), baseline=None, mark=False)
    _success(cmp, fig.add_subplot(2, 3, 3), mark=False)
    _tokens(cmp, fig.add_subplot(2, 3, 4), mark=False)
    _cost(cmp, fig.add_subplot(2, 3, 5), mark=False)
    _similarity(cmp, fig.add_subplot(2, 3, 6), mark=False)
    title = plain(
        f"Provider comparison: {' vs '.join(cmp.providers)} — {len(cmp.prompts)} prompts × "
        f"{cmp.repeats} repeats = {len(cmp.rows)} requests"
    )
    if cmp.simulated:
        fig.suptitle(
            f"{title}\nSIMULATED — built-in simulator, not real endpoints",
            fontsize=13,
            fontweight="bold",
            color=SIM_COLOR,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#fff3e0", "edgecolor": SIM_COLOR},
        )
    else:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    return fig


def _latency(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    providers = cmp.providers
    samples = [[r.latency_s for r in cmp.rows_for(p, ok=True)] for p in providers]
    positions = [float(x) for x in range(1, len(providers) + 1)]
    drawn = [(x, s, p) for x, s, p in zip(positions, samples, providers, strict=True) if s]
    if drawn:
        boxes = ax.boxplot(
            [s for _, s, _ in drawn],
            positions=[x for x, _, _ in drawn],
            widths=0.5,
            showfliers=False,  # every point is drawn below, outliers included
            patch_artist=True,
            medianprops={"color": "black", "linewidth": 1.5, "gid": "median"},
            boxprops={"gid": "box"},
        )
        for box, (_, _, provider) in zip(boxes["boxes"], drawn, strict=True):
            box.set_facecolor(to_rgba(provider_color(provider), 0.22))
            box.set_edgecolor(provider_color(provider))
    rng = np.random.default_rng(0)  # seeded: the same data always looks the same
    for x, sample, provider in drawn:
        jitter = rng.uniform(-0.13, 0.13, len(sample))
        ax.scatter(
            x + jitter,
            sample,
            s=16,
            color=provider_color(provider),
            alpha=0.75,
            linewidths=0,
            zorder=3,
        )
        mid = stats.median(sample)
        low, high = stats.bootstrap_ci(sample)
        yerr = None if math.isnan(low) else [[mid - low], [high - mid]]
        ax.errorbar(
            [x + 0.38],
            [mid],
            yerr=yerr,
            fmt="D",
            color="black",
            markersize=5,
            capsize=4,
            zorder=4,
            label="median,\n95% bootstrap CI",
        )
    for x, sample in zip(positions, samples, strict=True):
        if not sample:
            ax.text(
                x,
                0.5,
                "no successful\nrequests",
                ha="center",
                va="center",
                color="#555",
                transform=ax.get_xaxis_transform(),
            )
    labels = []
    for provider, sample in zip(providers, samples, strict=True):
        failed = len(cmp.rows_for(provider, ok=False))
        # the median's value goes under its box, not beside it: beside, it runs into the
        # next box when the panel is narrow (a grid of plots)
        median = f"\nmedian {stats.median(sample):.3g} s" if sample else ""
        labels.append(
            f"{provider}\nn={len(sample)}" + (f" ok\n{failed} failed" if failed else "") + median
        )
    set_xticks(ax, positions, labels)
    ax.set_xlim(0.4, len(providers) + 0.9)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("latency per request (s)")
    ax.set_title("Latency by provider", loc="left")
    if drawn and not _legend_elsewhere(ax):
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[:1], names[:1], **LEGEND_OUTSIDE).set_gid(LATENCY_LEGEND)
    if mark:
        mark_simulated(ax)
    return ax


def _legend_elsewhere(ax: Axes) -> bool:
    """True when another latency plot of the same figure already explains the diamond: a
    grid of latency plots (one per role, say) shows the legend once."""
    for other in ax.figure.axes:
        legend = other.get_legend()
        if other is not ax and legend is not None and legend.get_gid() == LATENCY_LEGEND:
            return True
    return False


def _tokens(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    providers = cmp.providers
    good = [cmp.rows_for(p, ok=True) for p in providers]
    prompt_mean = [mean_of([r.prompt_tokens for r in rows]) for rows in good]
    completion_mean = [mean_of([r.completion_tokens for r in rows]) for rows in good]
    colors = [provider_color(p) for p in providers]
    xs = np.arange(len(providers), dtype=float)
    width = 0.38
    prompt_bars = ax.bar(
        xs - width / 2,
        prompt_mean,
        width,
        color=[to_rgba(c, 0.35) for c in colors],
        edgecolor=colors,
        hatch="//",
    )
    completion_bars = ax.bar(xs + width / 2, completion_mean, width, color=colors)
    for bars, values, rows in (
        (prompt_bars, prompt_mean, good),
        (completion_bars, completion_mean, good),
    ):
        text = [f"{v:.0f}" if r else "" for v, r in zip(values, rows, strict=True)]
        ax.bar_label(bars, labels=text, padding=2, fontsize=8)
    set_xticks(ax, xs, [f"{p}\nn={len(rows)}" for p, rows in zip(providers, good, strict=True)])
    ax.set_ylabel("tokens per request (mean)")
    ax.set_title("Tokens per successful request", loc="left")
    ax.margins(y=0.15)
    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#555", hatch="//", label="prompt (input)"),
            Patch(facecolor="#555", label="completion (output)"),
        ],
        **LEGEND_OUTSIDE,
    )
    if mark:
        mark_simulated(ax)
    return ax


def _success(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    providers = cmp.providers
    rows = [cmp.rows_for(p) for p in providers]
    ns = [len(r) for r in rows]
    counts: dict[str, list[int]] = {}
    for i, provider_rows in enumerate(rows):
        for row in provider_rows:
            if not row.ok:
                kind = row.failure_kind or "error"
                counts.setdefault(kind, [0] * len(providers))[i] += 1
    kinds = sorted(counts, key=lambda k: (-sum(counts[k]), k))
    xs = np.arange(len(providers), dtype=float)
    ok = [fraction(sum(r.ok for r in pr), n) for pr, n in zip(rows, ns, strict=True)]
    ok_bars = ax.bar(xs, ok, width=0.6, color=OK_COLOR, label="ok")
    ax.bar_label(
        ok_bars,
        labels=[f"{v:.0%} ok" if n else "" for v, n in zip(ok, ns, strict=True)],
        label_type="center",
        fontsize=9,
    )
    bottom = np.array(ok)
    for index, kind in enumerate(kinds):
        share = np.array([fraction(c, n) for c, n in zip(counts[kind], ns, strict=True)])
        ax.bar(
            xs,
            share,
            width=0.6,
            bottom=bottom,
            color=KIND_COLORS.get(kind, FAILURE_COLORS[index % len(FAILURE_COLORS)]),
            label=kind,
        )
        bottom = bottom + share
    set_xticks(ax, xs, [f"{p}\nn={n}" for p, n in zip(providers, ns, strict=True)])
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of requests")
    ax.set_title("Outcome by provider", loc="left")
    ax.legend(title="outcome", **LEGEND_OUTSIDE)
    if mark:
        mark_simulated(ax)
    return ax


def _cost(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    summary = {p.provider: p for p in cmp.summary().providers}
    xs = np.arange(len(cmp.providers), dtype=float)
    values = [finite_or_zero(summary[p].cost_per_1k_usd) for p in cmp.providers]
    bars = ax.bar(xs, values, width=0.6, color=[provider_color(p) for p in cmp.providers])
    ax.bar_label(bars, labels=[usd(v) for v in values], padding=2, fontsize=9)
    set_xticks(ax, xs, [f"{p}\nn={summary[p].n}" for p in cmp.providers])
    ax.set_ylabel("USD per 1k requests (estimate)")
    ax.set_title("Cost per 1k requests (billed failures included)", loc="left")
    ax.margins(y=0.15)
    if mark:
        mark_simulated(ax)
    return ax


def _similarity(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    scores = [s for s in cmp.agreement() if not math.isnan(s)]
    ax.hist(scores, bins=[i / 10 for i in range(11)], color="#5b6770", edgecolor="white")
    if scores:
        mid = stats.median(scores)
        ax.axvline(mid, color="black", linestyle="--", linewidth=1.2, label=f"median {mid:.2f}")
        ax.legend(**LEGEND_OUTSIDE)
    else:
        ax.text(
            0.5,
            0.5,
            "no prompt was answered by two providers",
            ha="center",
            va="center",
            color="#555",
            transform=ax.transAxes,
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel("answer agreement (word-level similarity, 0–1)")
    ax.set_ylabel("prompts")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Answer agreement between providers (n={len(scores)} prompts)", loc="left")
    if mark:
        mark_simulated(ax)
    return ax
