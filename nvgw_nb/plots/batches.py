"""Plots of batches and results: who served each role, and a timeline of every attempt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from nvgw_nb.batch import BatchItem
from nvgw_nb.plots._style import (
    BACKOFF_COLOR,
    FAILED,
    FAILED_EDGE,
    LEGEND_OUTSIDE,
    NO_ROLE,
    ROLE_ORDER,
    mark_simulated,
    new_axes,
    ordered,
    plain,
    set_xticks,
)
from nvgw_nb.providers import registry
from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult

__all__ = ["fallbacks", "timeline"]


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
    ax = new_axes(ax)
    requests = _requests(items)
    roles = ordered(
        [r.role or NO_ROLE for r in requests], [*ROLE_ORDER, NO_ROLE], unknown_last=NO_ROLE
    )
    served = ordered(
        [r.result.served_by for r in requests if r.result is not None], list(registry.names())
    )
    xs = np.arange(len(roles), dtype=float)
    bottom = np.zeros(len(roles))
    counts = Counter(
        (r.role or NO_ROLE, r.result.served_by if r.result is not None else FAILED)
        for r in requests
    )
    segments = [(p, provider_color(p), None) for p in served] + [(FAILED, "white", "xx")]
    for name, color, hatch in segments:
        heights = np.array([counts[(role, name)] for role in roles], dtype=float)
        if name == FAILED and not heights.any():
            continue
        bars = ax.bar(
            xs,
            heights,
            width=0.6,
            bottom=bottom,
            color=color,
            edgecolor=FAILED_EDGE if hatch else color,
            hatch=hatch,
            label=plain(name),
        )
        ax.bar_label(
            bars, labels=[f"{h:.0f}" if h else "" for h in heights], label_type="center", fontsize=9
        )
        bottom = bottom + heights
    totals = [sum(1 for r in requests if (r.role or NO_ROLE) == role) for role in roles]
    set_xticks(ax, xs, [f"{role}\nn={n}" for role, n in zip(roles, totals, strict=True)])
    ax.set_ylabel("requests")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Who served each role", loc="left")
    if requests:
        ax.legend(title="served by", **LEGEND_OUTSIDE)
    else:
        ax.text(0.5, 0.5, "no requests", ha="center", va="center", transform=ax.transAxes)
    if _any_simulated(requests):
        mark_simulated(ax)
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
    ax = new_axes(ax, (10.0, max(3.0, 0.32 * len(shown) + 1.6)))
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
                    color=BACKOFF_COLOR,
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
        [plain(r.label + ("  (failed)" if r.result is None else "")) for r in shown],
        fontsize=8,
    )
    ax.set_ylim(max(len(shown), 1) - 0.5, -0.5)  # first request at the top
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("request")
    more = f" (first {len(shown)} of {len(requests)})" if len(shown) < len(requests) else ""
    ax.set_title(f"Attempts per request{more}", loc="left")
    handles: list[Patch | Line2D] = [
        Patch(facecolor=provider_color(p), label=plain(p))
        for p in ordered(providers, registry.names())
    ]
    if failed:
        handles.append(
            Patch(facecolor="white", edgecolor="#555", hatch="xxx", label="failed attempt")
        )
    if backoff:
        handles.append(Line2D([], [], color=BACKOFF_COLOR, linewidth=3, label="backoff wait"))
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
        ax.legend(handles=handles, **LEGEND_OUTSIDE)
    ax.grid(axis="x", alpha=0.3)
    if _any_simulated(requests):
        mark_simulated(ax)
    return ax


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
