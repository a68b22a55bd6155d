"""`RunSummary`: one row per cell (or group of cells) — cases, calls, what was left out,
each score with its 95% interval, latency and cost (the answers' and the scorers' apart).

Repeats are averaged per case first (n is the number of cases, calls are reported apart);
pass rates get a Wilson interval (the rule of three at no failures), other means a t
interval, with a clustered standard error when cases carry a `cluster`.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nvgw_nb import stats
from nvgw_nb.experiments.records import CallRecord
from nvgw_nb.markdown import escape_markdown

if TYPE_CHECKING:
    import pandas

    from nvgw_nb.experiments.cases import Case

__all__ = [
    "MetricSummary",
    "RunSummary",
    "SummaryRow",
    "case_means",
    "escape_markdown",
    "summarise",
]


@dataclass(frozen=True)
class MetricSummary:
    """One score of one group: the mean over cases with its interval, and how it was got."""

    name: str
    mean: float
    low: float
    high: float
    n_cases: int
    binary: bool
    method: str

    def text(self) -> str:
        if math.isnan(self.mean):
            return "—"
        if self.binary:
            return f"{self.mean:.0%} ({self.low:.0%}–{self.high:.0%})"
        return f"{self.mean:.3g} ({self.low:.3g}–{self.high:.3g})"


@dataclass(frozen=True)
class SummaryRow:
    """One group of calls (a cell, or the cells sharing the `by` axes)."""

    group: dict[str, Any]
    label: str
    n_cases: int
    n_calls: int
    failed: int
    fell_back: int
    metrics: dict[str, MetricSummary]
    median_latency_s: float
    cost_usd: float
    scoring_cost_usd: float
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSummary:
    """Per-group numbers of a run, with the rules used to get them."""

    rows: list[SummaryRow]
    metrics: list[str]
    simulated: bool

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per row (what `to_pandas` shows)."""
        out = []
        for row in self.rows:
            data: dict[str, Any] = {
                **row.group,
                "n_cases": row.n_cases,
                "n_calls": row.n_calls,
                "failed": row.failed,
                "fell_back_left_out": row.fell_back,
            }
            for name in self.metrics:
                m = row.metrics.get(name)
                data[name] = None if m is None else m.mean
                data[f"{name}_low"] = None if m is None else m.low
                data[f"{name}_high"] = None if m is None else m.high
            data.update(
                median_latency_s=row.median_latency_s,
                cost_usd=row.cost_usd,
                scoring_cost_usd=row.scoring_cost_usd,
                simulated=self.simulated,
            )
            out.append(data)
        return out

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a DataFrame (needs pandas)."""
        return data_frame(self.to_records(), "RunSummary")

    def notes(self) -> list[str]:
        """What the table leaves out and how to read it, in words."""
        notes = [
            "n is the number of cases; repeats are averaged per case first. Intervals are "
            "95%: Wilson for pass rates, t for means (clustered when cases have a cluster)."
        ]
        left = sum(r.fell_back for r in self.rows)
        if left:
            notes.append(
                f"{left} calls answered by a provider other than the one their cell pinned "
                "were left out of the quality numbers."
            )
        failed = sum(r.failed for r in self.rows)
        if failed:
            notes.append(f"{failed} calls failed; they have no answer to score.")
        return notes

    def to_markdown(self) -> str:
        """A Markdown table plus notes; `$` and other Markdown-active characters escaped."""
        head = [
            "cell",
            "cases",
            "calls",
            "failed",
            "left out",
            *self.metrics,
            "median latency s",
            "cost $",
            "scoring cost $",
        ]
        lines = [
            "| " + " | ".join(escape_markdown(h) for h in head) + " |",
            "|" + "---|" * len(head),
        ]
        for row in self.rows:
            cells = [
                row.label,
                str(row.n_cases),
                str(row.n_calls),
                str(row.failed),
                str(row.fell_back),
            ]
            cells += [row.metrics[m].text() if m in row.metrics else "—" for m in self.metrics]
            cells += [
                _num(row.median_latency_s),
                f"{row.cost_usd:.4f}",
                f"{row.scoring_cost_usd:.4f}",
            ]
            lines.append("| " + " | ".join(escape_markdown(c) for c in cells) + " |")
        mark = (
            "**SIMULATED data** (built-in simulator, not real endpoints).\n\n"
            if (self.simulated)
            else ""
        )
        notes = "".join(f"- {escape_markdown(n)}\n" for n in self.notes())
        return f"{mark}" + "\n".join(lines) + f"\n\n{notes}"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        head = [
            "cell",
            "cases",
            "calls",
            "failed",
            "left out",
            *self.metrics,
            "median latency s",
            "cost $",
            "scoring cost $",
        ]
        th = "".join(f"<th style='padding:2px 8px'>{html.escape(h)}</th>" for h in head)
        body = []
        for row in self.rows:
            cells = [row.label, row.n_cases, row.n_calls, row.failed, row.fell_back]
            cells += [row.metrics[m].text() if m in row.metrics else "—" for m in self.metrics]
            cells += [
                _num(row.median_latency_s),
                f"{row.cost_usd:.4f}",
                f"{row.scoring_cost_usd:.4f}",
            ]
            tds = "".join(
                f"<td style='padding:2px 8px;text-align:left'>{html.escape(str(c))}</td>"
                for c in cells
            )
            body.append(f"<tr>{tds}</tr>")
        mark = (
            "<p><b>SIMULATED data</b> (built-in simulator, not real endpoints).</p>"
            if (self.simulated)
            else ""
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        return f"{mark}<table><tr>{th}</tr>{''.join(body)}</table><ul>{notes}</ul>"

    def __str__(self) -> str:
        return self.to_markdown()


def data_frame(rows: list[dict[str, Any]], owner: str) -> pandas.DataFrame:
    """`rows` as a DataFrame; a clear ImportError naming `owner` without pandas."""
    try:
        import pandas
    except ImportError:
        raise ImportError(
            f"{owner}.to_pandas() needs pandas: pip install 'nvgw_nb[pandas]'"
        ) from None
    frame: pandas.DataFrame = pandas.DataFrame.from_records(rows)
    return frame


def case_means(records: Sequence[CallRecord], metric: str) -> dict[str, list[float]]:
    """Per case, the values of `metric` over its usable calls (repeats not yet averaged)."""
    values: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if not record.usable:
            continue
        value = metric_value(record, metric)
        if value is not None and math.isfinite(value):
            values[record.case_id].append(value)
    return dict(values)


def metric_value(record: CallRecord, metric: str) -> float | None:
    """A record's value of `metric`: a scorer's name, or latency_s / cost_usd / tokens."""
    if metric == "latency_s":
        return record.latency_s
    if metric == "cost_usd":
        return record.cost_usd
    if metric == "completion_tokens":
        return float(record.completion_tokens)
    return record.score(metric)


def metric_summary(
    name: str, per_case: Mapping[str, Sequence[float]], clusters: Mapping[str, str | None]
) -> MetricSummary:
    """The mean over cases of `per_case` (repeats averaged first) with its 95% interval."""
    means = {case: sum(v) / len(v) for case, v in per_case.items() if v}
    n = len(means)
    if n == 0:
        return MetricSummary(name, math.nan, math.nan, math.nan, 0, False, "no data")
    single = all(len(v) == 1 for v in per_case.values() if v)
    binary = all(x in (0.0, 1.0) for v in per_case.values() for x in v)
    values = list(means.values())
    mean = sum(values) / n
    keys = [clusters.get(case) for case in means]
    if binary and single and not any(keys):
        interval = stats.wilson_interval(round(sum(values)), n)
        return MetricSummary(name, mean, interval.low, interval.high, n, True, "Wilson")
    if any(keys) and n >= 2:
        labels = [k if k is not None else f"case:{c}" for k, c in zip(keys, means, strict=True)]
        se = stats.clustered_standard_error(values, labels)
        groups = len(set(labels))
        q = stats.t_quantile(0.975, max(groups - 1, 1))
        low, high = mean - q * se, mean + q * se
        if binary:
            low, high = _no_narrower_than_wilson(low, high, values)
        return MetricSummary(name, mean, low, high, n, binary, "clustered t")
    if n < 2:
        return MetricSummary(name, mean, math.nan, math.nan, n, binary, "t")
    interval = stats.mean_interval(values)
    low, high = interval.low, interval.high
    if binary:
        low, high = _no_narrower_than_wilson(low, high, values)
    return MetricSummary(name, mean, low, high, n, binary, "t")


def _no_narrower_than_wilson(
    low: float, high: float, values: Sequence[float]
) -> tuple[float, float]:
    """A pass rate's t interval, clipped to [0, 1] and widened to at least Wilson's.

    When every case passes (or none does) the t interval has zero width: "100% (100%–100%)"
    would claim certainty that n cases cannot give. Wilson's interval on the same n does not.
    """
    wilson = stats.wilson_interval(round(sum(values)), len(values))
    return max(0.0, min(low, wilson.low)), min(1.0, max(high, wilson.high))


def summarise(
    records: Sequence[CallRecord],
    groups: Sequence[tuple[str, dict[str, Any], Sequence[str]]],
    metrics: Sequence[str],
    cases: Mapping[str, Case],
    simulated: bool,
) -> RunSummary:
    """The summary of `records` for each (label, group axes, cell ids) in `groups`."""
    clusters = {case_id: case.cluster for case_id, case in cases.items()}
    rows = []
    for label, group, cell_ids in groups:
        chosen = [r for r in records if r.cell in cell_ids]
        usable = [r for r in chosen if r.usable]
        failures: dict[str, int] = defaultdict(int)
        for r in chosen:
            if not r.ok:
                failures[r.error_kind or "error"] += 1
        latencies = [r.latency_s for r in usable if r.latency_s is not None]
        rows.append(
            SummaryRow(
                group=group,
                label=label,
                n_cases=len({r.case_id for r in usable}),
                n_calls=len(chosen),
                failed=sum(1 for r in chosen if not r.ok),
                fell_back=sum(1 for r in chosen if r.ok and r.fell_back),
                metrics={m: metric_summary(m, case_means(chosen, m), clusters) for m in metrics},
                median_latency_s=stats.median(latencies) if latencies else math.nan,
                cost_usd=sum(r.cost_usd for r in chosen),
                scoring_cost_usd=sum(s.cost_usd for r in chosen for s in r.scores.values()),
                failures=dict(failures),
            )
        )
    return RunSummary(rows, list(metrics), simulated)


def _num(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"
