"""Plots of comparisons and batches: latency, tokens, cost, success, answer agreement,
who served each role, and a timeline of every attempt.

>>> nv.plots.latency(cmp)                      # doctest: +SKIP
>>> nv.plots.timeline(results, ax=my_axes)     # doctest: +SKIP

Axes in, Axes out: each function draws on `ax` when given, else on a new figure, and
returns the Axes it drew on. Nothing here calls `plt.show()`.

Why pyplot makes the new figures: a bare `matplotlib.figure.Figure()` does not display
inline in Jupyter (checked with ipykernel 7 and matplotlib-inline 0.2: neither such a
Figure nor an Axes on it renders as a cell's value until pyplot has set up the inline
backend). So when `ax is None` the figure comes from `pyplot.figure`, and the inline
backend shows it once at the end of the cell; in a script, `plt.show()` or
`ax.figure.savefig(...)` it, and `plt.close(ax.figure)` when you make many. `overview`
returns a Figure instead: it is detached from pyplot at once, so Jupyter shows it exactly
once, as the cell's value (not a second time from the inline backend); save it with
`fig.savefig(...)`.

Honest numbers: every plot names its n, latency shows the median with a bootstrap 95%
CI over every individual request, and anything drawn from the built-in simulator carries
a visible "SIMULATED" mark. Each provider keeps its colour across all plots and panels
(`provider_color`, from the provider's class).

Stable handles for tests and callers: the simulated mark is the axes' right-hand title
("SIMULATED", gid `"nvgw-simulated"`); in `latency`, boxes have gid `"box"` and median
lines `"median"`; in `timeline`, attempt bars have gid `"attempt"`, backoff waits
`"backoff"`, and skipped attempts (open circuit) are markers with gid `"skipped"`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from nvgw_nb import stats
from nvgw_nb.batch import BatchItem
from nvgw_nb.compare import Comparison
from nvgw_nb.providers import registry
from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult

__all__ = [
    "cost",
    "fallbacks",
    "latency",
    "overview",
    "provider_color",
    "similarity",
    "success",
    "timeline",
    "tokens",
]

_ROLE_ORDER = ("router", "planner", "programmer", "reviewer")

_OK_COLOR = "#a9cf8f"
_FAILURE_COLORS = ("#d62728", "#ff9f1c", "#8c2d04", "#e377c2", "#6b6b6b", "#bcbd22", "#9467bd")
#: one colour per failure kind, the same in every run and every plot
_KIND_COLORS = {
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
_FAILED_EDGE = "#b22222"
_BACKOFF_COLOR = "#9a9a9a"
_SIM_COLOR = "#b35900"
SIMULATED_GID = "nvgw-simulated"
_NO_ROLE = "(none)"
_LEGEND_OUTSIDE: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
    "fontsize": 8,
}
_FAILED = "failed"


# --- comparisons ----------------------------------------------------------------------------
def latency(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Successful latencies per provider: box plot, one point per request, and the median
    with its bootstrap 95% CI.

    >>> nv.plots.latency(cmp)  # doctest: +SKIP
    """
    return _latency(cmp, _new_axes(ax), mark=cmp.simulated)


def tokens(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Mean prompt and completion tokens per successful request, per provider.

    >>> nv.plots.tokens(cmp)  # doctest: +SKIP
    """
    return _tokens(cmp, _new_axes(ax), mark=cmp.simulated)


def cost(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Estimated USD per 1k requests per provider, billed failed attempts included.

    >>> nv.plots.cost(cmp)  # doctest: +SKIP
    """
    ax = _new_axes(ax)
    summary = {p.provider: p for p in cmp.summary().providers}
    xs = np.arange(len(cmp.providers), dtype=float)
    values = [_finite_or_zero(summary[p].cost_per_1k_usd) for p in cmp.providers]
    bars = ax.bar(xs, values, width=0.6, color=[provider_color(p) for p in cmp.providers])
    ax.bar_label(bars, labels=[_usd(v) for v in values], padding=2, fontsize=9)
    _set_xticks(ax, xs, [f"{p}\nn={summary[p].n}" for p in cmp.providers])
    ax.set_ylabel("USD per 1k requests (estimate)")
    ax.set_title("Cost per 1k requests (billed failures included)", loc="left")
    ax.margins(y=0.15)
    if cmp.simulated:
        _mark_simulated(ax)
    return ax


def success(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Share of requests per provider that succeeded, and of each kind of failure.

    >>> nv.plots.success(cmp)  # doctest: +SKIP
    """
    return _success(cmp, _new_axes(ax), mark=cmp.simulated)


def similarity(cmp: Comparison, *, ax: Axes | None = None) -> Axes:
    """Histogram of per-prompt answer agreement between providers (`cmp.agreement()`).

    >>> nv.plots.similarity(cmp)  # doctest: +SKIP
    """
    return _similarity(cmp, _new_axes(ax), mark=cmp.simulated)


def overview(cmp: Comparison) -> Figure:
    """A 2×2 figure: latency, success, tokens and answer agreement.

    >>> cmp.plot()  # the same as nv.plots.overview(cmp)  # doctest: +SKIP
    """
    fig = plt.figure(figsize=(15, 10), layout="constrained")
    # Detached from pyplot: Jupyter then shows it once, as the cell's value, rather than
    # once as the value and again from the inline backend at the end of the cell.
    plt.close(fig)
    _latency(cmp, fig.add_subplot(2, 2, 1), mark=False)
    _success(cmp, fig.add_subplot(2, 2, 2), mark=False)
    _tokens(cmp, fig.add_subplot(2, 2, 3), mark=False)
    _similarity(cmp, fig.add_subplot(2, 2, 4), mark=False)
    title = (
        f"Provider comparison: {' vs '.join(cmp.providers)} — {len(cmp.prompts)} prompts × "
        f"{cmp.repeats} repeats = {len(cmp.rows)} requests"
    )
    if cmp.simulated:
        fig.suptitle(
            f"{title}\nSIMULATED — built-in simulator, not real endpoints",
            fontsize=13,
            fontweight="bold",
            color=_SIM_COLOR,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#fff3e0", "edgecolor": _SIM_COLOR},
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
        if len(providers) <= 3:  # with more, the numbers run into the next box
            ax.annotate(
                f"{mid:.3g} s",
                (x + 0.38, mid),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
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
        labels.append(f"{provider}\nn={len(sample)}" + (f" ok\n{failed} failed" if failed else ""))
    _set_xticks(ax, positions, labels)
    ax.set_xlim(0.4, len(providers) + 0.9)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("latency per request (s)")
    ax.set_title("Latency by provider", loc="left")
    if drawn:
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[:1], names[:1], **_LEGEND_OUTSIDE)
    if mark:
        _mark_simulated(ax)
    return ax


def _tokens(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    providers = cmp.providers
    good = [cmp.rows_for(p, ok=True) for p in providers]
    prompt_mean = [_mean([r.prompt_tokens for r in rows]) for rows in good]
    completion_mean = [_mean([r.completion_tokens for r in rows]) for rows in good]
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
    _set_xticks(ax, xs, [f"{p}\nn={len(rows)}" for p, rows in zip(providers, good, strict=True)])
    ax.set_ylabel("tokens per request (mean)")
    ax.set_title("Tokens per successful request", loc="left")
    ax.margins(y=0.15)
    ax.legend(
        handles=[
            Patch(facecolor="white", edgecolor="#555", hatch="//", label="prompt (input)"),
            Patch(facecolor="#555", label="completion (output)"),
        ],
        **_LEGEND_OUTSIDE,
    )
    if mark:
        _mark_simulated(ax)
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
    ok = [_share(sum(r.ok for r in pr), n) for pr, n in zip(rows, ns, strict=True)]
    ok_bars = ax.bar(xs, ok, width=0.6, color=_OK_COLOR, label="ok")
    ax.bar_label(
        ok_bars,
        labels=[f"{v:.0%} ok" if n else "" for v, n in zip(ok, ns, strict=True)],
        label_type="center",
        fontsize=9,
    )
    bottom = np.array(ok)
    for index, kind in enumerate(kinds):
        share = np.array([_share(c, n) for c, n in zip(counts[kind], ns, strict=True)])
        ax.bar(
            xs,
            share,
            width=0.6,
            bottom=bottom,
            color=_KIND_COLORS.get(kind, _FAILURE_COLORS[index % len(_FAILURE_COLORS)]),
            label=kind,
        )
        bottom = bottom + share
    _set_xticks(ax, xs, [f"{p}\nn={n}" for p, n in zip(providers, ns, strict=True)])
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of requests")
    ax.set_title("Outcome by provider", loc="left")
    ax.legend(title="outcome", **_LEGEND_OUTSIDE)
    if mark:
        _mark_simulated(ax)
    return ax


def _similarity(cmp: Comparison, ax: Axes, *, mark: bool) -> Axes:
    scores = [s for s in cmp.agreement() if not math.isnan(s)]
    ax.hist(scores, bins=[i / 10 for i in range(11)], color="#5b6770", edgecolor="white")
    if scores:
        mid = stats.median(scores)
        ax.axvline(mid, color="black", linestyle="--", linewidth=1.2, label=f"median {mid:.2f}")
        ax.legend(**_LEGEND_OUTSIDE)
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
        _mark_simulated(ax)
    return ax


# --- batches --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Request:
    """One request of a batch, whichever shape it came in."""

    label: str
    role: str | None
    result: ChatResult | None
    attempts: list[Attempt]


def fallbacks(items: Sequence[BatchItem] | Sequence[ChatResult], *, ax: Axes | None = None) -> Axes:
    """Per role, how many requests each provider served, and how many failed.

    >>> nv.plots.fallbacks(session.batch(prompts, role="planner"))  # doctest: +SKIP
    """
    ax = _new_axes(ax)
    requests = _requests(items)
    roles = _ordered(
        [r.role or _NO_ROLE for r in requests], [*_ROLE_ORDER, _NO_ROLE], unknown_last=_NO_ROLE
    )
    served = _ordered(
        [r.result.served_by for r in requests if r.result is not None], list(registry.names())
    )
    xs = np.arange(len(roles), dtype=float)
    bottom = np.zeros(len(roles))
    counts = Counter(
        (r.role or _NO_ROLE, r.result.served_by if r.result is not None else _FAILED)
        for r in requests
    )
    segments = [(p, provider_color(p), None) for p in served] + [(_FAILED, "white", "xx")]
    for name, color, hatch in segments:
        heights = np.array([counts[(role, name)] for role in roles], dtype=float)
        if name == _FAILED and not heights.any():
            continue
        bars = ax.bar(
            xs,
            heights,
            width=0.6,
            bottom=bottom,
            color=color,
            edgecolor=_FAILED_EDGE if hatch else color,
            hatch=hatch,
            label=name,
        )
        ax.bar_label(
            bars, labels=[f"{h:.0f}" if h else "" for h in heights], label_type="center", fontsize=9
        )
        bottom = bottom + heights
    totals = [sum(1 for r in requests if (r.role or _NO_ROLE) == role) for role in roles]
    _set_xticks(ax, xs, [f"{role}\nn={n}" for role, n in zip(roles, totals, strict=True)])
    ax.set_ylabel("requests")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Who served each role", loc="left")
    if requests:
        ax.legend(title="served by", **_LEGEND_OUTSIDE)
    else:
        ax.text(0.5, 0.5, "no requests", ha="center", va="center", transform=ax.transAxes)
    if _any_simulated(requests):
        _mark_simulated(ax)
    return ax


def timeline(
    items: Sequence[BatchItem] | Sequence[ChatResult], *, ax: Axes | None = None, limit: int = 30
) -> Axes:
    """A Gantt chart of the first `limit` requests: every attempt a bar coloured by provider
    (hatched when it failed), the backoff wait before it a thin grey segment.

    >>> nv.plots.timeline(session.batch(prompts), limit=20)  # doctest: +SKIP
    """
    requests = _requests(items)
    shown = requests[: max(limit, 0)]
    ax = _new_axes(ax, (10.0, max(3.0, 0.32 * len(shown) + 1.6)))
    starts = [a.started_at for r in shown for a in r.attempts]
    if not starts:
        ax.text(0.5, 0.5, "no attempts recorded", ha="center", va="center", transform=ax.transAxes)
    origin = min(starts, default=datetime.min.replace(tzinfo=timezone.utc))
    providers: list[str] = []
    failed = skipped = backoff = False
    for row, request in enumerate(shown):
        for attempt in request.attempts:
            start = (attempt.started_at - origin).total_seconds()
            color = provider_color(attempt.provider)
            if attempt.provider not in providers:
                providers.append(attempt.provider)
            if attempt.backoff_s > 0:
                backoff = True
                ax.barh(
                    row,
                    attempt.backoff_s,
                    left=start - attempt.backoff_s,
                    height=0.14,
                    color=_BACKOFF_COLOR,
                    gid="backoff",
                )
            if attempt.outcome == "skipped":
                skipped = True
                ax.plot(
                    [start],
                    [row],
                    marker="X",
                    markerfacecolor=color,
                    markeredgecolor="black",
                    markersize=9,
                    linestyle="none",
                    zorder=5,
                    gid="skipped",
                )
                continue
            error = attempt.outcome == "error"
            failed = failed or error
            ax.barh(
                row,
                attempt.elapsed_s,
                left=start,
                height=0.6,
                color=to_rgba(color, 0.35) if error else color,
                edgecolor=color,
                hatch="xxx" if error else None,
                linewidth=1.0,
                gid="attempt",
            )
    ax.set_yticks(
        range(len(shown)),
        [r.label + ("  (failed)" if r.result is None else "") for r in shown],
        fontsize=8,
    )
    ax.set_ylim(max(len(shown), 1) - 0.5, -0.5)  # first request at the top
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("request")
    more = f" (first {len(shown)} of {len(requests)})" if len(shown) < len(requests) else ""
    ax.set_title(f"Attempts per request{more}", loc="left")
    handles: list[Patch | Line2D] = [
        Patch(facecolor=provider_color(p), label=p) for p in _ordered(providers, registry.names())
    ]
    if failed:
        handles.append(
            Patch(facecolor="white", edgecolor="#555", hatch="xxx", label="failed attempt")
        )
    if backoff:
        handles.append(Line2D([], [], color=_BACKOFF_COLOR, linewidth=3, label="backoff wait"))
    if skipped:
        handles.append(
            Line2D(
                [],
                [],
                marker="X",
                markerfacecolor="white",
                markeredgecolor="black",
                linestyle="none",
                label="skipped (circuit open)",
            )
        )
    if handles:
        ax.legend(handles=handles, **_LEGEND_OUTSIDE)
    ax.grid(axis="x", alpha=0.3)
    if _any_simulated(requests):
        _mark_simulated(ax)
    return ax


# --- helpers --------------------------------------------------------------------------------
def _new_axes(ax: Axes | None, size: tuple[float, float] = (7.5, 4.8)) -> Axes:
    """`ax`, or the Axes of a new pyplot figure (see the module docstring for why pyplot)."""
    if ax is not None:
        return ax
    return plt.figure(figsize=size, layout="constrained").add_subplot()


def _set_xticks(ax: Axes, positions: Iterable[float], labels: Sequence[str]) -> None:
    """Tick labels, smaller when many categories share the width (they would overlap)."""
    size = 10 if len(labels) <= 3 else 8 if len(labels) <= 5 else 7
    ax.set_xticks(list(positions), list(labels), fontsize=size)


def _mark_simulated(ax: Axes) -> None:
    """A visible "SIMULATED" label as the axes' right-hand title.

    The right title slot, not a label inside the axes: it never covers data, and the
    plot's own title sits on the left.
    """
    ax.set_title(
        "SIMULATED",
        loc="right",
        fontsize=9,
        fontweight="bold",
        color=_SIM_COLOR,
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff3e0", "edgecolor": _SIM_COLOR},
        gid=SIMULATED_GID,
    )


def _requests(items: Sequence[BatchItem] | Sequence[ChatResult]) -> list[_Request]:
    entries: Sequence[BatchItem | ChatResult] = items
    out = []
    for position, item in enumerate(entries):
        if isinstance(item, BatchItem):
            result = item.result
            label = f"#{item.index}" + (f" {item.role}" if item.role else "")
            attempts = result.attempts if result is not None else item.attempts
            out.append(_Request(label, item.role, result, attempts))
        else:
            out.append(_Request(f"#{position}", None, item, item.attempts))
    return out


def _any_simulated(requests: Sequence[_Request]) -> bool:
    return any(r.result is not None and r.result.simulated for r in requests)


def _ordered(names: Sequence[str], known: Sequence[str], *, unknown_last: str = "") -> list[str]:
    """The distinct `names`: those in `known` in its order, the rest in order of appearance
    (`unknown_last`, when present, after everything)."""
    present = dict.fromkeys(names)
    first = [k for k in known if k in present and k != unknown_last]
    rest = [n for n in present if n not in known]
    last = [unknown_last] if unknown_last and unknown_last in present else []
    return first + rest + last


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _share(count: int, n: int) -> float:
    return count / n if n else 0.0


def _finite_or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _usd(value: float) -> str:
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.3g}" if value > 0 else "$0"
