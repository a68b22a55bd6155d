"""forest and pareto: what they draw for hand-made comparisons and runs with known numbers."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.lines import Line2D

from nvgw_nb import plots
from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.analysis import PairedComparison
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.records import CallRecord
from nvgw_nb.experiments.run import Run
from nvgw_nb.experiments.scoring import Score
from nvgw_nb.experiments.store import Header
from nvgw_nb.plots._style import simulated_marks
from nvgw_nb.plots.experiments import pareto_front

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def new_axes() -> Axes:
    return plt.figure().add_subplot()


def comparison(
    a: str,
    b: str,
    delta: float,
    ci: tuple[float, float],
    *,
    n: int = 30,
    ratio: bool = False,
    simulated: bool = False,
) -> PairedComparison:
    return PairedComparison(
        metric="latency_s" if ratio else "expected",
        a=a,
        b=b,
        delta=delta,
        ci=ci,
        p_value=0.01,
        test="paired bootstrap" if ratio else "McNemar exact",
        n_cases=n,
        n_calls=2 * n,
        mde=0.1,
        mean_a=0.5,
        mean_b=0.5,
        simulated=simulated,
        unit="" if ratio else "points",
        ratio=ratio,
        binary=not ratio,
    )


def gid_lines(ax: Axes, gid: str) -> list[Line2D]:
    return [line for line in ax.lines if line.get_gid() == gid]


def ci_segments(ax: Axes) -> list[list[tuple[float, float]]]:
    found = [c for c in ax.collections if c.get_gid() == "ci"]
    assert all(isinstance(c, LineCollection) for c in found)
    return [[tuple(p) for p in c.get_segments()[0]] for c in found]  # type: ignore[attr-defined]


# --- forest ---------------------------------------------------------------------------------------
def test_forest_draws_one_row_per_comparison_with_its_interval() -> None:
    """Dots at the deltas, lines spanning the CIs (in percentage points), labels with n."""
    rows = [
        comparison("nim", "gateway", -0.2, (-0.3, -0.1), n=40),
        comparison("terse", "plain", 0.05, (-0.05, 0.15), n=12),
    ]
    ax = plots.forest(rows, ax=new_axes())
    dots = gid_lines(ax, "delta")
    assert len(dots) == 2
    assert [(d.get_xdata()[0], d.get_ydata()[0]) for d in dots] == [
        pytest.approx((-20.0, 1)),
        pytest.approx((5.0, 0)),
    ]
    segments = ci_segments(ax)
    assert segments[0] == [pytest.approx((-30.0, 1)), pytest.approx((-10.0, 1))]
    assert segments[1] == [pytest.approx((-5.0, 0)), pytest.approx((15.0, 0))]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "nim vs gateway · expected\nn=40 cases",
        "terse vs plain · expected\nn=12 cases",
    ]
    assert list(ax.get_yticks()) == [1, 0]
    assert "percentage points" in ax.get_xlabel()


def test_forest_significant_rows_are_solid_others_hollow() -> None:
    rows = [comparison("x", "y", 0.2, (0.1, 0.3)), comparison("p", "q", 0.0, (-0.1, 0.1))]
    ax = plots.forest(rows, ax=new_axes())
    solid, hollow = gid_lines(ax, "delta")
    assert solid.get_markerfacecolor() == solid.get_color()
    assert hollow.get_markerfacecolor() == "white"


def test_forest_reference_line_at_zero_or_one_on_a_log_axis() -> None:
    ax = plots.forest([comparison("a", "b", 0.1, (0.0, 0.2))], ax=new_axes())
    (null,) = gid_lines(ax, "null")
    assert list(null.get_xdata()) == [0, 0]
    assert ax.get_xscale() == "linear"
    ratio = comparison("a", "b", 0.8, (0.6, 1.1), ratio=True)
    ax = plots.forest(ratio, ax=new_axes())
    (null,) = gid_lines(ax, "null")
    assert list(null.get_xdata()) == [1, 1]
    assert ax.get_xscale() == "log"
    assert ci_segments(ax)[0] == [pytest.approx((0.6, 0)), pytest.approx((1.1, 0))]


def test_forest_refuses_ratios_and_differences_together() -> None:
    rows = [comparison("a", "b", 0.1, (0.0, 0.2)), comparison("a", "b", 1.2, (1, 2), ratio=True)]
    with pytest.raises(ConfigError, match="not both"):
        plots.forest(rows, ax=new_axes())


def test_forest_marks_simulated_and_makes_its_own_figure() -> None:
    ax = plots.forest([comparison("a", "b", 0.1, (0.0, 0.2), simulated=True)])
    assert [t.get_text() for t in simulated_marks(ax)] == ["SIMULATED"]
    ax = plots.forest([comparison("a", "b", 0.1, (0.0, 0.2))], ax=new_axes())
    assert simulated_marks(ax) == []


# --- pareto ---------------------------------------------------------------------------------------
#: cell → (pass per case for 4 cases, cost per call, latency per call)
CELLS = {
    "cheap": ([1, 0, 0, 1], 0.001, 1.0),
    "good": ([1, 1, 1, 0], 0.004, 3.0),
    "bad": ([0, 0, 1, 0], 0.005, 2.0),
}


def make_run(*, simulated: bool = False) -> Run:
    cases = [Case(f"q{i}", id=f"c{i}") for i in range(4)]
    cells = [
        {"id": name, "label": name, "axes": {"v": name}, "provider": "nvidia-nim"} for name in CELLS
    ]
    records = [
        CallRecord(
            cell=name,
            axes={"v": name},
            case_id=f"c{i}",
            repeat=0,
            provider_asked="nvidia-nim",
            provider="nvidia-nim",
            text="x",
            cost_usd=cost,
            latency_s=latency,
            simulated=simulated,
            scores={"expected": Score(float(p), bool(p))},
        )
        for name, (passes, cost, latency) in CELLS.items()
        for i, p in enumerate(passes)
    ]
    return Run(header=Header(cases, cells, 1, ["expected"], 0, simulated), records=records)


def errorbar_segments(ax: Axes) -> list[tuple[float, float, float]]:
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert bars.get_label() == "cells"
    segments = bars.lines[2][0].get_segments()
    return [(s[0][0], s[0][1], s[1][1]) for s in segments]


def test_pareto_one_point_per_cell_with_summary_cis() -> None:
    """Points at (mean cost per call, pass rate); bars span the summary's intervals."""
    run = make_run()
    ax = plots.pareto(run, ax=new_axes())
    (points,) = [c for c in ax.collections if c.get_gid() == "cells"]
    assert isinstance(points, PathCollection)
    assert [tuple(p) for p in points.get_offsets()] == [
        pytest.approx((0.001, 0.5)),
        pytest.approx((0.004, 0.75)),
        pytest.approx((0.005, 0.25)),
    ]
    summary = {row.label: row.metrics["expected"] for row in run.summary().rows}
    for (x, low, high), name in zip(errorbar_segments(ax), CELLS, strict=True):
        assert x == pytest.approx(CELLS[name][1])
        assert (low, high) == (pytest.approx(summary[name].low), pytest.approx(summary[name].high))
    assert [t.get_text() for t in ax.texts] == ["cheap", "good", "bad"]
    assert "cost per call" in ax.get_xlabel()
    assert simulated_marks(ax) == []


def test_pareto_front_joins_the_undominated_cells() -> None:
    """ "bad" costs more and scores less than "good": off the front."""
    ax = plots.pareto(make_run(), ax=new_axes())
    (front,) = gid_lines(ax, "pareto-front")
    assert list(front.get_xdata()) == pytest.approx([0.001, 0.004])
    assert list(front.get_ydata()) == pytest.approx([0.5, 0.75])
    assert pareto_front([(1, 1), (2, 2), (3, 1), (2, 2)]) == [0, 1, 3]


def test_pareto_against_latency_uses_the_median() -> None:
    ax = plots.pareto(make_run(simulated=True), cost="latency_s", ax=new_axes())
    assert [x for x, _, _ in errorbar_segments(ax)] == pytest.approx([1.0, 3.0, 2.0])
    (front,) = gid_lines(ax, "pareto-front")
    assert list(front.get_xdata()) == pytest.approx([1.0, 3.0])
    assert ax.get_xlabel() == "median latency (s)"
    assert [t.get_text() for t in simulated_marks(ax)] == ["SIMULATED"]


def test_pareto_rejects_an_unknown_metric_or_cost() -> None:
    with pytest.raises(ConfigError, match="no score 'rubric'"):
        plots.pareto(make_run(), metric="rubric", ax=new_axes())
    with pytest.raises(ConfigError, match="cost must be"):
        plots.pareto(make_run(), cost="tokens", ax=new_axes())  # type: ignore[arg-type]
