"""The files of a comparison run: CSV, JSONL, a Markdown summary, PNG plots and one HTML page.

    files = write_report(cmp, Path("compare-output"))
    files.report_html     # open this first: summary, plots, answers side by side

`report.html` is self-contained (plots embedded as base64 PNGs, inline CSS, no JavaScript),
so it can be mailed or attached to a ticket. Everything that comes from prompts or answers
is escaped. A comparison holds no secret, and nothing else (settings, environment) is
written. Anything from the built-in simulator is marked SIMULATED in every file.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from nvgw_nb.compare import Comparison, ProviderSummary, Summary
from nvgw_nb.markdown import escape_markdown
from nvgw_nb.private_files import make_private_dir, open_private
from nvgw_nb.report_answers import answers_html, answers_section

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nvgw_nb.quality import QualitySection

__all__ = ["PLOTS", "ReportFiles", "answers_html", "default_title", "write_report"]

#: the PNGs written, in the order the report shows them, with what each one shows
PLOTS: dict[str, str] = {
    "latency": (
        "Each dot is one successful request (its retries on that provider included); the box "
        "spans the middle half, the black diamond is the median with its bootstrap 95% CI. "
        "Failed requests are not in this plot: see the outcomes."
    ),
    "paired": (
        "Each dot is one prompt: its median latency on the other provider divided by its "
        "median on the first (log scale; left of 1× that prompt was faster on the other "
        "provider), coloured by role. The diamond is the geometric mean of these ratios, the "
        "line its 95% bootstrap interval over prompts: the figure the conclusion quotes."
    ),
    "success": (
        "Share of requests that the provider answered, and of each kind of failure. Every "
        "request was pinned to its provider: no fallback to another one."
    ),
    "tokens": "Mean prompt (input) and completion (output) tokens per successful request.",
    "cost": (
        "Estimated USD per 1,000 requests: token counts × dated list prices per model, billed "
        "failed attempts included."
    ),
    "similarity": (
        "How alike the providers' answers to the same prompt are, word by word (1 = the same "
        "words in the same order). It measures wording, not correctness."
    ),
}
#: the answer-quality plot, written when the report has a quality section
QUALITY_PLOT = (
    "quality",
    "Each row is one paired comparison of pass rates on the labelled cases: the dot is the "
    "difference in points, the line its 95% interval; filled only when the interval "
    "excludes 0 (no difference).",
)
#: the plots shown beside the summary table rather than under "Plots"
_BESIDE_SUMMARY = ("paired",)
#: the 2×3 overview is written as a PNG too (for slides) but not repeated in the page
OVERVIEW = "overview"
#: pixels per inch of every PNG
DPI = 110
_FIGSIZE = (7.5, 4.8)
_SIM_BANNER = (
    "SIMULATED — every number here comes from the built-in simulator (no network, no real "
    "endpoints). It shows how the tools work, not how NVIDIA NIM or the LLM Gateway perform."
)


@dataclass(frozen=True)
class ReportFiles:
    """The paths `write_report` wrote."""

    out_dir: Path
    results_csv: Path
    results_jsonl: Path
    summary_md: Path
    report_html: Path
    plots: dict[str, Path] = field(default_factory=dict)
    #: the quality run's calls (`nv.Run.load` reads it), when there was a quality section
    quality_jsonl: Path | None = None

    @property
    def paths(self) -> list[Path]:
        """Every file, the page first."""
        quality = [self.quality_jsonl] if self.quality_jsonl is not None else []
        return [
            self.report_html,
            self.summary_md,
            self.results_csv,
            self.results_jsonl,
            *quality,
            *self.plots.values(),
        ]


def write_report(
    cmp: Comparison,
    out_dir: str | Path,
    *,
    title: str | None = None,
    note: str | None = None,
    side_by_side_limit: int = 50,
    quality: QualitySection | None = None,
) -> ReportFiles:
    """Write results.csv, results.jsonl, summary.md, one PNG per plot and report.html.

    `out_dir` is created when missing; files of an earlier run there are replaced. What
    this creates is readable by its owner only (`nvgw_nb.private_files`). `note`
    is a line shown under the title and as a footnote on every PNG (e.g. the simulator's
    profile and time scale);
    `side_by_side_limit` caps how many prompts the page shows side by side. `quality`
    (`nvgw_nb.quality.measure_quality`) adds the answer-quality section, its plot and
    quality.jsonl.
    `Comparison.load(files.results_jsonl)` reads the run back.

    >>> files = write_report(cmp, "compare-output")   # doctest: +SKIP
    >>> files.report_html                             # doctest: +SKIP
    PosixPath('compare-output/report.html')
    """
    out = make_private_dir(out_dir)
    heading = title or default_title(cmp)
    summary = cmp.summary()

    results_csv = cmp.to_csv(out / "results.csv")
    results_jsonl = cmp.to_jsonl(out / "results.jsonl")
    plots = _write_plots(cmp, out, note)
    quality_jsonl = None
    if quality is not None:
        quality_jsonl = quality.run.to_jsonl(out / "quality.jsonl")
        plots[QUALITY_PLOT[0]] = _quality_plot(quality, out, note)

    summary_md = out / "summary.md"
    with open_private(summary_md) as handle:
        handle.write(_markdown(cmp, summary, heading, note, quality))
    report_html = out / "report.html"
    with open_private(report_html) as handle:
        handle.write(_html(cmp, summary, heading, note, plots, side_by_side_limit, quality))
    return ReportFiles(
        out_dir=out,
        results_csv=results_csv,
        results_jsonl=results_jsonl,
        summary_md=summary_md,
        report_html=report_html,
        plots=plots,
        quality_jsonl=quality_jsonl,
    )


def default_title(cmp: Comparison) -> str:
    """The default title, e.g. "nvidia-nim vs nvidia-gateway: 36 prompts × 3 repeats"."""
    repeats = f"{cmp.repeats} repeat{'s' if cmp.repeats != 1 else ''}"
    return f"{' vs '.join(cmp.providers)}: {len(cmp.prompts)} prompts × {repeats}"


# --- plots ------------------------------------------------------------------------------------
def _write_plots(cmp: Comparison, out: Path, note: str | None) -> dict[str, Path]:
    """One PNG per plot; figures are made without pyplot, so no global state is touched."""
    from matplotlib.figure import Figure

    from nvgw_nb import plots

    drawers: dict[str, Callable[..., Axes]] = {
        "latency": plots.latency,
        "paired": plots.paired,
        "success": plots.success,
        "tokens": plots.tokens,
        "cost": plots.cost,
        "similarity": plots.similarity,
    }
    written: dict[str, Path] = {}
    # the paired plot is one strip per compared provider: it needs less height
    sizes = {"paired": (_FIGSIZE[0], 2.6 + 1.3 * max(len(cmp.providers) - 1, 1))}
    for name in PLOTS:
        figure = Figure(figsize=sizes.get(name, _FIGSIZE), layout="constrained")
        drawers[name](cmp, ax=figure.add_subplot())
        written[name] = _save(figure, out / f"{name}.png", note)
    written[OVERVIEW] = _save(plots.overview(cmp), out / f"{OVERVIEW}.png", note)
    return written


def _quality_plot(quality: QualitySection, out: Path, note: str | None) -> Path:
    from matplotlib.figure import Figure

    from nvgw_nb.plots import forest

    figure = Figure(
        figsize=(_FIGSIZE[0], 1.6 + 0.6 * len(quality.comparisons)), layout="constrained"
    )
    forest(quality.comparisons, ax=figure.add_subplot())
    return _save(figure, out / f"{QUALITY_PLOT[0]}.png", note)


def _save(figure: Figure, path: Path, note: str | None) -> Path:
    """Save as PNG, with `note` (e.g. the simulator's time scale) as a footnote: a PNG
    travels without the page that explains it."""
    if note:
        from nvgw_nb.plots._style import plain

        figure.text(0.0, 0.0, plain(note), ha="left", va="top", fontsize=8, color="#555555")
    with open_private(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=DPI, bbox_inches="tight")
    return path


# --- what was compared ------------------------------------------------------------------------
def _facts(cmp: Comparison) -> list[tuple[str, str]]:
    """(label, text) lines: providers, prompts and roles, requests, when."""
    roles = Counter(p.role or "(default)" for p in cmp.prompts)
    by_role = ", ".join(f"{role} {n}" for role, n in roles.items())
    repeats = f"{cmp.repeats} repeat{'s' if cmp.repeats != 1 else ''}"
    return [
        ("providers", f"{', '.join(cmp.providers)} (each request pinned to one: no fallback)"),
        ("prompts", f"{len(cmp.prompts)} ({by_role})"),
        (
            "requests",
            f"{len(cmp.prompts)} prompts × {len(cmp.providers)} providers × {repeats} = "
            f"{len(cmp.rows)}",
        ),
        ("when", _when(cmp)),
    ]


def _when(cmp: Comparison) -> str:
    attempts = [a for row in cmp.rows for a in row.attempts]
    if not attempts:
        return "unknown (no attempts recorded)"
    start = min(a.started_at for a in attempts)
    end = max(a.started_at + timedelta(seconds=a.elapsed_s) for a in attempts)
    utc = start.astimezone(timezone.utc) if start.tzinfo else start
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC, {(end - start).total_seconds():.1f} s from first to last"


def _failures(provider: ProviderSummary) -> str:
    kinds = sorted(provider.failures.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{kind} {n}" for kind, n in kinds) or "none"


# --- summary.md -------------------------------------------------------------------------------
def _markdown(
    cmp: Comparison,
    summary: Summary,
    title: str,
    note: str | None,
    quality: QualitySection | None = None,
) -> str:
    esc = escape_markdown
    lines = [f"# {esc(title)}", ""]
    if cmp.simulated:
        lines += [f"> **{esc(_SIM_BANNER)}**", ""]
    lines += [f"- {label}: {esc(text)}" for label, text in _facts(cmp)]
    if note:
        lines.append(f"- note: {esc(note)}")
    lines += ["", "## Summary", "", summary.to_markdown().rstrip(), "", "Failures by kind:", ""]
    lines += [f"- {esc(p.provider)}: {esc(_failures(p))}" for p in summary.providers]
    if quality is not None:
        lines += ["", quality.markdown().rstrip()]
    lines += [
        "",
        "Open report.html for the plots, the answers side by side and how to read these "
        "numbers; results.csv has one row per request.",
        "",
    ]
    return "\n".join(lines)


# --- report.html ------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.3em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.simulated { background: #fff3e0; border: 2px solid #b35900; color: #7a3d00;
             padding: 0.6em 1em; border-radius: 4px; font-weight: bold; }
.facts { color: #444; }
.facts dt { float: left; clear: left; width: 6em; font-weight: bold; }
.facts dd { margin-left: 7em; }
table.summary { border-collapse: collapse; font-size: 14px; }
table.summary th, table.summary td { border: 1px solid #ccc; padding: 4px 8px; }
table.summary th { background: #f4f4f4; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 800px; }
table.nvgw-compare { border-collapse: collapse; }
table.nvgw-compare th { background: #f4f4f4; text-align: left; padding: 4px; }
table.nvgw-compare td { vertical-align: top; white-space: pre-wrap; padding: 4px;
                        border-top: 1px solid #ddd; overflow-wrap: anywhere; text-align: left; }
table.nvgw-compare td.prompt { background: #fafafa; border-top: 2px solid #bbb;
                               white-space: normal; }
table.nvgw-compare .meta { display: block; color: #555; font-size: 11px;
                           white-space: normal; margin-bottom: 2px; }
table.nvgw-compare .failed { color: #b22222; }
.role { background: #eef; border-radius: 3px; padding: 0 4px; font-size: 11px; }
.conclusion { background: #f6f8fa; border-left: 4px solid #1f4e79; padding: 0.2em 1em;
              margin: 1em 0; }
.read li { margin-bottom: 0.4em; }
footer { color: #777; font-size: 0.85em; margin-top: 3em; }
"""


def _html(
    cmp: Comparison,
    summary: Summary,
    title: str,
    note: str | None,
    plots: dict[str, Path],
    side_by_side_limit: int,
    quality: QualitySection | None = None,
) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}{' (SIMULATED)' if cmp.simulated else ''}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if cmp.simulated:
        parts.append(f'<p class="simulated">{esc(_SIM_BANNER)}</p>')
    facts = _facts(cmp) + ([("note", note)] if note else [])
    parts.append(
        '<dl class="facts">'
        + "".join(f"<dt>{esc(label)}</dt><dd>{esc(text)}</dd>" for label, text in facts)
        + "</dl>"
    )

    parts.append("<h2>Summary</h2>")
    parts.append(_summary_table(summary))
    if summary.statements:
        parts.append(
            '<div class="conclusion"><p><b>Conclusion</b> (from the intervals)</p><ul>'
            + "".join(f"<li>{esc(s)}</li>" for s in summary.statements)
            + "</ul></div>"
        )
    for name in _BESIDE_SUMMARY:
        parts.append(_figure(plots[name], PLOTS[name], cmp.simulated))

    if quality is not None:
        parts.append(quality.html())
        parts.append(_figure(plots[QUALITY_PLOT[0]], QUALITY_PLOT[1], cmp.simulated))

    parts.append("<h2>Plots</h2>")
    for name, caption in PLOTS.items():
        if name not in _BESIDE_SUMMARY:
            parts.append(_figure(plots[name], caption, cmp.simulated))

    parts.append("<h2>Answers side by side</h2>")
    parts.append(answers_section(cmp, side_by_side_limit))
    parts.append("<h2>How to read this</h2>")
    parts.append(_how_to_read(cmp))
    files = ", ".join(
        [
            "results.csv",
            "results.jsonl",
            *(["quality.jsonl"] if quality is not None else []),
            "summary.md",
            *(p.name for p in plots.values()),
        ]
    )
    parts.append(
        f"<footer>Written by nvgw_nb. Files beside this page: {esc(files)}. "
        "<code>nvgw_nb.Comparison.load(&quot;results.jsonl&quot;)</code> reloads the run."
        "</footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def _figure(path: Path, caption: str, simulated: bool) -> str:
    """A PNG embedded as base64, with its caption and file name."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = f"{path.stem} plot{' (simulated)' if simulated else ''}"
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)} ({html.escape(path.name)})</figcaption></figure>"
    )


def _summary_table(summary: Summary) -> str:
    head = (
        "<tr><th>provider</th><th>n</th><th>success</th><th>median latency s (95% CI)</th>"
        "<th>p90 s</th><th>tokens in / out (mean)</th><th>cost per 1k requests (est.)</th>"
        "<th>failures by kind</th></tr>"
    )
    body = []
    for p in summary.providers:
        cells = [
            (p.provider, ""),
            (str(p.n), "num"),
            (_percent(p.success_rate), "num"),
            (
                f"{_num(p.median_latency_s)} ({_num(p.latency_ci[0])}–{_num(p.latency_ci[1])})",
                "num",
            ),
            (_num(p.p90_latency_s), "num"),
            (f"{_num(p.mean_prompt_tokens, 0)} / {_num(p.mean_completion_tokens, 0)}", "num"),
            (f"${_num(p.cost_per_1k_usd, 4)}", "num"),
            (_failures(p), ""),
        ]
        body.append(
            "<tr>"
            + "".join(
                f'<td class="{cls}">{html.escape(text)}</td>'
                if cls
                else f"<td>{html.escape(text)}</td>"
                for text, cls in cells
            )
            + "</tr>"
        )
    mark = " (SIMULATED)" if summary.simulated else ""
    return (
        f'<table class="summary"><caption>Per provider{mark}</caption>{head}{"".join(body)}</table>'
    )


def _how_to_read(cmp: Comparison) -> str:
    baseline = cmp.providers[0]
    items = [
        "<b>n</b> is the number of requests per provider: prompts × repeats. Every prompt ran "
        "on every provider, pinned to it (no fallback), so each column really is that provider.",
        "<b>Latency</b> is the median over the successful requests with a bootstrap 95% "
        "confidence interval (the range the median would likely fall in on a rerun), and p90 "
        "the slow tail. It includes retries and their waits on the same provider; failed "
        "requests count in <i>success</i>, not in latency. A wide interval means too few "
        "requests to tell: add prompts or repeats rather than quoting a single request.",
        "<b>Failure kinds</b> name why a request got no answer after its retries: "
        "<i>server_error</i> (HTTP 5xx), <i>rate_limited</i> (429), <i>timeout</i>, "
        "<i>connection</i> (reset mid-answer), <i>malformed</i> (a body that is not the "
        "promised JSON), <i>empty</i> (no text), <i>circuit_open</i> (not sent: after "
        "repeated failures the provider is skipped for a cooldown), and so on. "
        "The answers section and results.csv give each failed request's error message; "
        "the full list of kinds is on the documentation site's fault catalogue "
        "(<code>docs/reference/faults.md</code>).",
        "<b>Paired ratio</b>: per prompt, the median latency of its successful repeats on "
        f"each provider, and their ratio other / {html.escape(baseline)}; the ratios are "
        "averaged on the log scale (the geometric mean, so 2× and 0.5× cancel), with a "
        "bootstrap 95% CI that resamples whole prompts (seeded: a rerun gives the same "
        "interval). Pairing cancels out how hard each prompt is. The conclusion follows the "
        "interval: one that contains 1.00× means no clear difference, whatever the point "
        "estimate.",
        "<b>Pooled and paired figures can point different ways</b>: the table's medians "
        "pool every successful request of each provider, so they weigh prompts by how many "
        "of their requests succeeded and by where the bulk of requests lies; the paired "
        "ratio compares each prompt with itself on both providers. Quote the paired ratio "
        "for which provider is faster on the same work.",
        "<b>Agreement</b> (0–1) is the word-level similarity of two providers' answers to the "
        "same prompt (1 = the same words in the same order). Different models word the same "
        "facts differently, so low agreement alone is not an error: read the answers side by "
        "side.",
        "<b>Costs are estimates</b>: token counts × dated list prices per model "
        "(<code>nvgw_nb.pricing</code>, each price with its source; the documentation "
        "site's <code>docs/reference/facts.md</code> lists them). NVIDIA publishes no per-token "
        "price for its hosted API, so NIM uses a third-party list price "
        "(<code>NVGW_PRICING_MODE=nvidia_trial</code> prices it at $0). Billed failed attempts "
        "count too.",
    ]
    if cmp.simulated:
        items.append(
            "<b>Simulated</b>: latencies, failures and answers come from the simulator's model "
            "(modelling choices of <code>nvgw_nb.sim</code>, not measurements), usually with "
            "latencies scaled down (see the note at the top). Use the numbers to learn the "
            "tools; run against the real endpoints for numbers about NIM and the gateway."
        )
    return '<ul class="read">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _num(value: float, digits: int = 3) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0%}"
