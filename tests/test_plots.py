"""Plot helpers: what each one draws for hand-made comparisons and batches with known numbers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from nvgw_nb import plots, stats
from nvgw_nb.batch import BatchItem, BatchPrompt
from nvgw_nb.compare import Comparison, ComparisonRow
from nvgw_nb.plots._style import simulated_marks
from nvgw_nb.results import Attempt, ChatResult, Usage

matplotlib.use("Agg")  # before anything draws: no GUI, no display needed

NIM, GATEWAY = "nvidia-nim", "nvidia-gateway"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
CmpPlot = Callable[..., Axes]
CMP_PLOTS: list[CmpPlot] = [
    plots.latency,
    plots.paired,
    plots.tokens,
    plots.cost,
    plots.success,
    plots.similarity,
]

# Answers per prompt (NIM, gateway): word-level agreement 1.0, 0.75, 0.0, 1.0.
ANSWERS = [("same answer", "same answer"), ("a b c d", "a b c e"), ("x y", "p q"), ("ok", "ok")]


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    """Close any pyplot figure a test made (the ax=None path), so none leak between tests."""
    yield
    plt.close("all")


def row(provider: str, index: int, *, simulated: bool = False, **fields: object) -> ComparisonRow:
    """A successful row unless fields say otherwise."""
    values: dict[str, object] = {
        "prompt_index": index,
        "prompt": f"prompt {index}",
        "provider": provider,
        "repeat": 0,
        "ok": True,
        "latency_s": 1.0,
        "simulated": simulated,
    }
    values.update(fields)
    return ComparisonRow.model_validate(values)


def comparison(*, simulated: bool = False) -> Comparison:
    """NIM: latencies 1-4 s, 1 timeout; gateway: 2-8 s, 1 rate_limited and 1 server_error."""
    rows = []
    for i in range(4):
        rows.append(
            row(
                NIM,
                i,
                latency_s=i + 1.0,
                prompt_tokens=10 * (i + 1),
                completion_tokens=100 if i < 2 else 200,
                content=ANSWERS[i][0],
                simulated=simulated,
            )
        )
        rows.append(
            row(
                GATEWAY,
                i,
                latency_s=2.0 * (i + 1),
                prompt_tokens=50,
                completion_tokens=300,
                cost_usd=0.002,
                content=ANSWERS[i][1],
                simulated=simulated,
            )
        )
    rows += [
        row(NIM, 4, ok=False, failure_kind="timeout", latency_s=30.0, simulated=simulated),
        row(GATEWAY, 4, ok=False, failure_kind="rate_limited", cost_usd=0.001),
        row(GATEWAY, 0, repeat=1, ok=False, failure_kind="server_error"),
    ]
    prompts = [BatchPrompt(prompt=f"prompt {i}") for i in range(5)]
    return Comparison(rows, providers=[NIM, GATEWAY], prompts=prompts, repeats=1)


def attempt(
    provider: str, start: float, elapsed: float, outcome: str = "ok", **fields: object
) -> Attempt:
    values: dict[str, object] = {
        "provider": provider,
        "model": "m",
        "endpoint": "host/path",
        "attempt": 1,
        "started_at": T0 + timedelta(seconds=start),
        "elapsed_s": elapsed,
        "outcome": outcome,
    }
    values.update(fields)
    return Attempt.model_validate(values)


def result(attempts: list[Attempt], *, simulated: bool = False) -> ChatResult:
    served = [a for a in attempts if a.outcome == "ok"][-1].provider
    return ChatResult(
        content="answer",
        finish_reason="stop",
        served_by=served,
        model="m",
        usage=Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2),
        latency_s=sum(a.elapsed_s + a.backoff_s for a in attempts),
        attempts=attempts,
        simulated=simulated,
    )


def batch(*, simulated: bool = False) -> list[BatchItem]:
    """Three planner requests: NIM ok; NIM timeout twice then gateway; all failed."""
    first = [attempt(NIM, 0.0, 1.0)]
    second = [
        attempt(NIM, 0.5, 2.0, "error", error_kind="timeout"),
        attempt(NIM, 3.0, 1.0, "error", error_kind="timeout", attempt=2, backoff_s=0.5),
        attempt(GATEWAY, 4.0, 1.5),
    ]
    third = [
        attempt(NIM, 1.0, 0.0, "skipped", attempt=0, error_kind="circuit_open"),
        attempt(GATEWAY, 1.0, 0.5, "error", error_kind="server_error"),
    ]
    return [
        BatchItem(index=0, prompt="a", role="planner", result=result(first, simulated=simulated)),
        BatchItem(index=1, prompt="b", role="planner", result=result(second, simulated=simulated)),
        BatchItem(index=2, prompt="c", role="planner", error_kind="all_failed", attempts=third),
    ]


def new_axes() -> Axes:
    """Axes on a Figure that pyplot does not track (nothing to close)."""
    return Figure().add_subplot()


def heights(container: BarContainer) -> list[float]:
    return [patch.get_height() for patch in container.patches]


def bars(ax: Axes) -> list[BarContainer]:
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def ticks(ax: Axes) -> list[str]:
    return [label.get_text() for label in ax.get_xticklabels()]


def marked(ax: Axes) -> bool:
    """True when `ax` carries the SIMULATED mark."""
    return [t.get_text() for t in simulated_marks(ax)] == ["SIMULATED"]


def gid_lines(ax: Axes, gid: str) -> list[Line2D]:
    return [line for line in ax.lines if line.get_gid() == gid]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


# --- latency ---------------------------------------------------------------------------------
def test_latency_draws_one_box_per_provider_with_its_median() -> None:
    """One box per provider; its median line sits at the median of the successful latencies."""
    ax = plots.latency(comparison(), ax=new_axes())
    medians = [line for line in ax.lines if line.get_gid() == "median"]
    assert [list(m.get_ydata()) for m in medians] == [[2.5, 2.5], [5.0, 5.0]]
    assert len([p for p in ax.patches if p.get_gid() == "box"]) == 2


def test_latency_shows_every_request_as_a_deterministic_point() -> None:
    """Each successful latency is a point, failures excluded, jitter the same on every call."""
    first = plots.latency(comparison(), ax=new_axes())
    second = plots.latency(comparison(), ax=new_axes())
    points = [c for c in first.collections if isinstance(c, PathCollection)]
    assert [sorted(p.get_offsets()[:, 1]) for p in points] == [[1, 2, 3, 4], [2, 4, 6, 8]]
    again = [c for c in second.collections if isinstance(c, PathCollection)]
    assert [p.get_offsets().tolist() for p in points] == [p.get_offsets().tolist() for p in again]


def test_latency_error_bar_is_the_bootstrap_ci_of_the_median() -> None:
    """The error bar spans stats.bootstrap_ci of each provider's latencies (n ≥ 5)."""
    base = comparison()
    extra = [
        row(NIM, 5, latency_s=5.0, content="x"),
        row(GATEWAY, 5, latency_s=10.0, content="y"),
    ]
    cmp = Comparison(base.rows + extra, providers=base.providers, prompts=base.prompts, repeats=2)
    ax = plots.latency(cmp, ax=new_axes())
    errorbars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    spans = [tuple(c.lines[2][0].get_segments()[0][:, 1]) for c in errorbars]
    assert spans == [stats.bootstrap_ci([1, 2, 3, 4, 5]), stats.bootstrap_ci([2, 4, 6, 8, 10])]
    assert [c.lines[0].get_ydata()[0] for c in errorbars] == [3.0, 6.0]
    assert legend_texts(ax) == ["median,\n95% bootstrap CI"]


def test_latency_labels_say_n_and_failures() -> None:
    """Tick labels give n successful, the failures and the median (under the box, where it
    cannot run into the next one); axis label has the unit."""
    ax = plots.latency(comparison(), ax=new_axes())
    assert ticks(ax) == [
        f"{NIM}\nn=4 ok\n1 failed\nmedian 2.5 s",
        f"{GATEWAY}\nn=4 ok\n2 failed\nmedian 5 s",
    ]
    assert ax.get_ylabel() == "latency per request (s)"
    assert ax.get_title(loc="left") == "Latency by provider"
    assert ax.get_ylim()[0] == 0


def test_latency_of_a_provider_with_no_success_says_so() -> None:
    """A provider whose every request failed gets no box, a note, and n=0."""
    rows = [row(NIM, 0, latency_s=1.0), row(GATEWAY, 0, ok=False, failure_kind="timeout")]
    cmp = Comparison(rows, providers=[NIM, GATEWAY], prompts=[BatchPrompt(prompt="p")], repeats=1)
    ax = plots.latency(cmp, ax=new_axes())
    assert ticks(ax) == [f"{NIM}\nn=1\nmedian 1 s", f"{GATEWAY}\nn=0 ok\n1 failed"]
    assert "no successful\nrequests" in [t.get_text() for t in ax.texts]


# --- tokens, cost, success -----------------------------------------------------------------
def test_tokens_bars_are_mean_prompt_and_completion_tokens() -> None:
    """Grouped bars: mean prompt tokens, then mean completion tokens, of successful rows."""
    ax = plots.tokens(comparison(), ax=new_axes())
    prompt, completion = bars(ax)
    assert heights(prompt) == [25, 50]
    assert heights(completion) == [150, 300]
    assert ticks(ax) == [f"{NIM}\nn=4", f"{GATEWAY}\nn=4"]
    assert ax.get_ylabel() == "tokens per request (mean)"
    assert legend_texts(ax) == ["prompt (input)", "completion (output)"]


def test_cost_bars_are_cost_per_1k_requests_failures_included() -> None:
    """Cost per 1k requests from the summary: the billed rate-limited attempt counts."""
    cmp = comparison()
    ax = plots.cost(cmp, ax=new_axes())
    (container,) = bars(ax)
    assert heights(container) == pytest.approx([0.0, 1000 * (4 * 0.002 + 0.001) / 6])
    assert heights(container) == pytest.approx([p.cost_per_1k_usd for p in cmp.summary().providers])
    assert ticks(ax) == [f"{NIM}\nn=5", f"{GATEWAY}\nn=6"]
    assert ax.get_ylabel() == "USD per 1k requests (estimate)"
    assert [t.get_text() for t in ax.texts] == ["$0", "$1.50"]


def test_success_stacks_ok_and_each_failure_kind_as_fractions() -> None:
    """Stacked shares per provider: ok then each failure kind, summing to 1."""
    ax = plots.success(comparison(), ax=new_axes())
    ok, *failures = bars(ax)
    assert heights(ok) == pytest.approx([4 / 5, 4 / 6])
    assert legend_texts(ax) == ["ok", "rate_limited", "server_error", "timeout"]
    expected = [[0, 1 / 6], [0, 1 / 6], [1 / 5, 0]]  # rate_limited, server_error, timeout
    for container, shares in zip(failures, expected, strict=True):
        assert heights(container) == pytest.approx(shares)
    totals = [sum(h) for h in zip(*(heights(c) for c in bars(ax)), strict=True)]
    assert totals == pytest.approx([1.0, 1.0])
    assert ticks(ax) == [f"{NIM}\nn=5", f"{GATEWAY}\nn=6"]
    assert ax.get_ylim() == (0, 1)


# --- similarity ------------------------------------------------------------------------------
def test_similarity_histogram_counts_prompts_by_agreement() -> None:
    """Agreements 1, 0.75, 0, 1 (the failed prompt's NaN dropped): bins and median drawn."""
    ax = plots.similarity(comparison(), ax=new_axes())
    counts = {round(p.get_x(), 1): p.get_height() for p in ax.patches if p.get_height()}
    assert counts == {0.0: 1, 0.7: 1, 0.9: 2}
    assert ax.get_xlabel() == "answer agreement (word-level similarity, 0–1)"
    assert "n=4" in ax.get_title(loc="left")
    assert legend_texts(ax) == ["median 0.88"]


def test_similarity_with_one_provider_says_nothing_to_compare() -> None:
    """With no prompt answered twice, n=0 and a note instead of bars."""
    rows = [row(NIM, 0, content="hi")]
    cmp = Comparison(rows, providers=[NIM], prompts=[BatchPrompt(prompt="p")], repeats=1)
    ax = plots.similarity(cmp, ax=new_axes())
    assert "n=0" in ax.get_title(loc="left")
    assert [t.get_text() for t in ax.texts] == ["no prompt was answered by two providers"]


# --- simulated marks, colours, figures -----------------------------------------------------
@pytest.mark.parametrize("simulated", [True, False])
@pytest.mark.parametrize("plot", CMP_PLOTS, ids=lambda f: f.__name__)
def test_comparison_plots_mark_simulated_data(plot: CmpPlot, simulated: bool) -> None:
    """SIMULATED is shown exactly when the comparison came from the simulator."""
    ax = plot(comparison(simulated=simulated), ax=new_axes())
    assert marked(ax) == simulated


@pytest.mark.parametrize("plot", [plots.fallbacks, plots.timeline], ids=lambda f: f.__name__)
@pytest.mark.parametrize("simulated", [True, False])
def test_batch_plots_mark_simulated_results(plot: CmpPlot, simulated: bool) -> None:
    """SIMULATED is shown exactly when some result in the batch is simulated."""
    ax = plot(batch(simulated=simulated), ax=new_axes())
    assert marked(ax) == simulated


def test_a_provider_has_the_same_colour_in_every_plot() -> None:
    """NIM is NVIDIA green in the box plot, the token bars and the timeline."""
    assert plots.provider_color(NIM) == "#76b900"
    latency_ax = plots.latency(comparison(), ax=new_axes())
    boxes = [p for p in latency_ax.patches if p.get_gid() == "box"]
    box_edges = [to_hex(p.get_edgecolor()) for p in boxes]
    assert box_edges == [plots.provider_color(NIM), plots.provider_color(GATEWAY)]
    completion = bars(plots.tokens(comparison(), ax=new_axes()))[1]
    assert [to_hex(p.get_facecolor()) for p in completion.patches] == box_edges
    timeline_ax = plots.timeline(batch(), ax=new_axes())
    first = next(p for p in timeline_ax.patches if p.get_gid() == "attempt")
    assert to_hex(first.get_facecolor()) == "#76b900"
    assert plots.provider_color("my-own-llm") == plots.provider_color("my-own-llm")


@pytest.mark.parametrize(
    "plot",
    [*CMP_PLOTS, plots.fallbacks, plots.timeline],
    ids=lambda f: f.__name__,
)
def test_each_plot_draws_on_the_axes_given_or_a_new_pyplot_figure(plot: CmpPlot) -> None:
    """Axes in, Axes out; with no ax, a new figure pyplot shows (Jupyter's inline backend)."""
    data = batch() if plot in (plots.fallbacks, plots.timeline) else comparison()
    given = new_axes()
    assert plot(data, ax=given) is given
    before = set(plt.get_fignums())
    made = plot(data)
    assert made is not given
    assert len(set(plt.get_fignums()) - before) == 1


@pytest.mark.parametrize(
    ("simulated", "banner"),
    [(True, "SIMULATED — built-in simulator, not real endpoints"), (False, None)],
)
def test_overview_is_six_plots_under_a_title(simulated: bool, banner: str | None) -> None:
    """Latency, paired ratio, success over tokens, cost, agreement in 2×3; the suptitle
    says what and if simulated (the panels carry no mark of their own)."""
    before = set(plt.get_fignums())
    fig = plots.overview(comparison(simulated=simulated))
    assert set(plt.get_fignums()) == before  # detached: Jupyter shows it once, as the value
    assert len(fig.axes) == 6
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[:5] == [
        "Latency by provider",
        "Paired latency, prompt by prompt",
        "Outcome by provider",
        "Tokens per successful request",
        "Cost per 1k requests (billed failures included)",
    ]
    assert titles[5].startswith("Answer agreement")
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes] == [(2, 3)] * 6
    assert not any(marked(ax) for ax in fig.axes)
    suptitle = fig.get_suptitle()
    assert f"{NIM} vs {GATEWAY}" in suptitle
    assert "5 prompts" in suptitle
    assert "11 requests" in suptitle
    if banner:
        assert banner in suptitle
    else:
        assert "SIMULATED" not in suptitle


def test_comparison_plot_is_the_overview() -> None:
    """Comparison.plot() draws the same 2×3 overview."""
    fig = comparison().plot()
    assert len(fig.axes) == 6


# --- paired ----------------------------------------------------------------------------------
def test_paired_draws_each_prompts_ratio_and_the_geometric_mean_with_its_ci() -> None:
    """One dot per paired prompt at its ratio, the diamond at the summary's geometric
    mean, its interval as the line, a dashed line at 1× on a log axis."""
    cmp = comparison()
    ax = plots.paired(cmp, ax=new_axes())
    pair = cmp.summary().paired[0]
    (dots,) = [c for c in ax.collections if c.get_gid() == "ratio"]
    assert sorted(dots.get_offsets()[:, 0]) == pytest.approx([2.0, 2.0, 2.0, 2.0])
    (mean,) = gid_lines(ax, "geomean")
    assert mean.get_xdata()[0] == pytest.approx(pair.ratio)
    (null,) = gid_lines(ax, "null")
    assert list(null.get_xdata()) == [1, 1]
    assert ax.get_xscale() == "log"
    assert ax.get_yticklabels()[0].get_text() == f"{GATEWAY}\nvs {NIM}\nn=4 prompts"
    assert ax.get_title(loc="left") == "Paired latency, prompt by prompt"


def test_paired_interval_line_is_the_bootstrap_ci() -> None:
    """With five or more paired prompts the line spans the summary's interval, and the
    label states the figure the conclusion quotes."""
    rows = [row(NIM, i, latency_s=1.0) for i in range(6)]
    rows += [row(GATEWAY, i, latency_s=r) for i, r in enumerate([0.5, 1, 2, 4, 1, 1.5])]
    prompts = [BatchPrompt(prompt=f"p{i}") for i in range(6)]
    cmp = Comparison(rows, providers=[NIM, GATEWAY], prompts=prompts, repeats=1)
    ax = plots.paired(cmp, ax=new_axes())
    pair = cmp.paired_latency(NIM, GATEWAY)
    (line,) = [c for c in ax.collections if c.get_gid() == "ci"]
    (segment,) = line.get_segments()
    assert list(segment[:, 0]) == pytest.approx(list(pair.ci))
    low, high = pair.ci
    assert f"{pair.ratio:.2f}× (CI {low:.2f}–{high:.2f}×)" in [t.get_text() for t in ax.texts]


def test_paired_colours_prompts_by_role_when_there_are_roles() -> None:
    """With roles, the legend names each role after the estimate."""
    cmp = comparison()
    roles = ["router", "router", "planner", "planner", "planner"]
    prompts = [p.model_copy(update={"role": r}) for p, r in zip(cmp.prompts, roles, strict=True)]
    with_roles = Comparison(cmp.rows, providers=cmp.providers, prompts=prompts, repeats=1)
    ax = plots.paired(with_roles, ax=new_axes())
    assert legend_texts(ax) == ["geometric mean,\n95% bootstrap CI", "router", "planner"]


# --- the SIMULATED mark and grids -------------------------------------------------------------
def _extents(ax: Axes) -> tuple[object, object]:
    """The drawn extents of the left title and of the SIMULATED mark."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = ax.get_figure(root=True)
    assert figure is not None
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    (mark,) = simulated_marks(ax)
    title = next(t for t in (ax.title, ax._left_title) if t.get_text())
    return title.get_window_extent(renderer), mark.get_window_extent(renderer)


def test_simulated_mark_sits_on_the_title_line_when_there_is_room() -> None:
    """A short title: the mark on the same line, at the right."""
    ax = plots.cost(comparison(simulated=True), ax=Figure(figsize=(9, 4)).add_subplot())
    ax.set_title("Cost", loc="left")
    title, mark = _extents(ax)
    assert abs(mark.y0 - title.y0) < 4  # type: ignore[attr-defined]
    assert mark.x0 > title.x1  # type: ignore[attr-defined]


def test_simulated_mark_rises_above_a_title_that_reaches_it() -> None:
    """A long title in a narrow panel (set after the plot, as a grid does): the mark goes
    above it, never over it."""
    ax = plots.cost(comparison(simulated=True), ax=Figure(figsize=(4, 3)).add_subplot())
    ax.set_title("Attempts per request (first 30 of 36 requests)", loc="left")
    title, mark = _extents(ax)
    assert mark.y0 > title.y1  # type: ignore[attr-defined]


def test_a_grid_of_latency_plots_shows_the_legend_once() -> None:
    """Four latency plots in one figure (one per role): one legend, on the first."""
    figure = Figure(figsize=(12, 8))
    axes = figure.subplots(2, 2)
    for ax in axes.flat:
        plots.latency(comparison(), ax=ax)
    assert [ax.get_legend() is not None for ax in axes.flat] == [True, False, False, False]


# --- fallbacks --------------------------------------------------------------------------------
def test_fallbacks_stacks_who_served_each_role_and_the_failures() -> None:
    """Per role: counts per serving provider, then failed; role None shown as (none)."""
    items = [*batch(), BatchItem(index=3, prompt="d", result=result([attempt(NIM, 0, 1)]))]
    ax = plots.fallbacks(items, ax=new_axes())
    assert ticks(ax) == ["planner\nn=3", "(none)\nn=1"]
    assert legend_texts(ax) == [NIM, GATEWAY, "failed"]
    assert [heights(c) for c in bars(ax)] == [[1, 1], [1, 0], [1, 0]]
    assert ax.get_ylabel() == "requests"


def test_fallbacks_accepts_chat_results_and_omits_an_empty_failed_segment() -> None:
    """ChatResults have no role: one (none) bar; no failures means no failed segment."""
    results = [item.result for item in batch() if item.result is not None]
    ax = plots.fallbacks(results, ax=new_axes())
    assert ticks(ax) == ["(none)\nn=2"]
    assert legend_texts(ax) == [NIM, GATEWAY]
    assert [heights(c) for c in bars(ax)] == [[1], [1]]


# --- timeline ---------------------------------------------------------------------------------
def spans(ax: Axes, gid: str) -> list[tuple[float, float, float]]:
    """(row, start, width) of the bars with this gid."""
    found = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() == gid]
    return [
        (round(p.get_y() + p.get_height() / 2, 9), round(p.get_x(), 9), round(p.get_width(), 9))
        for p in found
    ]


def test_timeline_draws_each_attempt_where_and_as_long_as_it_ran() -> None:
    """One bar per attempt: row = request, start from the first request, width = elapsed."""
    ax = plots.timeline(batch(), ax=new_axes())
    assert spans(ax, "attempt") == [
        (0, 0.0, 1.0),
        (1, 0.5, 2.0),
        (1, 3.0, 1.0),
        (1, 4.0, 1.5),
        (2, 1.0, 0.5),
    ]
    assert spans(ax, "backoff") == [(1, 2.5, 0.5)]
    (skipped,) = [line for line in ax.lines if line.get_gid() == "skipped"]
    assert (list(skipped.get_xdata()), list(skipped.get_ydata())) == ([1.0], [2])
    assert ax.get_xlabel() == "seconds since the first request"


def test_timeline_hatches_failed_attempts_and_explains_them_in_the_legend() -> None:
    """Failed attempts are hatched, successful ones plain; the legend names every mark."""
    ax = plots.timeline(batch(), ax=new_axes())
    found = [p for p in ax.patches if p.get_gid() == "attempt"]
    assert [bool(p.get_hatch()) for p in found] == [False, True, True, False, True]
    assert legend_texts(ax) == [
        NIM,
        GATEWAY,
        "failed attempt",
        "backoff wait",
        "skipped (circuit open)",
    ]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == ["#0 planner", "#1 planner", "#2 planner  (failed)"]


def test_timeline_shows_only_the_first_limit_requests() -> None:
    """limit=2: two rows, and the title says how many of how many."""
    ax = plots.timeline(batch(), ax=new_axes(), limit=2)
    assert {r for r, _, _ in spans(ax, "attempt")} == {0, 1}
    assert len(ax.get_yticklabels()) == 2
    assert "first 2 of 3" in ax.get_title(loc="left")


def test_timeline_accepts_chat_results() -> None:
    """A list of ChatResults is numbered by position."""
    results = [item.result for item in batch() if item.result is not None]
    ax = plots.timeline(results, ax=new_axes())
    assert [label.get_text() for label in ax.get_yticklabels()] == ["#0", "#1"]
    assert len(spans(ax, "attempt")) == 4


def test_timeline_of_nothing_says_so() -> None:
    """An empty batch draws a note, not an error."""
    ax = plots.timeline([], ax=new_axes())
    assert [t.get_text() for t in ax.texts] == ["no attempts recorded"]


# --- import cost --------------------------------------------------------------------------------
def test_importing_the_package_does_not_import_matplotlib() -> None:
    """`import nvgw_nb` stays light: matplotlib loads only with nvgw_nb.plots."""
    code = "import sys, nvgw_nb; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
