"""Plots of comparisons and batches: latency, the paired per-prompt latency ratio, tokens,
cost, success, answer agreement, who served each role, and a timeline of every attempt; of
experiments: paired differences (`forest`) and quality against cost or latency (`pareto`).

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
`"backoff"`, and skipped attempts (open circuit) are markers with gid `"skipped"`; in
`paired`, per-prompt ratios have gid `"ratio"`, the geometric mean `"geomean"`, its
interval `"ci"`.
"""

from nvgw_nb.plots.batches import fallbacks, timeline
from nvgw_nb.plots.comparison import cost, latency, overview, similarity, success, tokens
from nvgw_nb.plots.experiments import forest, pareto
from nvgw_nb.plots.paired import paired
from nvgw_nb.providers.registry import provider_color

__all__ = [
    "cost",
    "fallbacks",
    "forest",
    "latency",
    "overview",
    "paired",
    "pareto",
    "provider_color",
    "similarity",
    "success",
    "timeline",
    "tokens",
]
