"""The numbers of a comparison and what they say: `ProviderSummary` per provider,
`PairedLatency` (the geometric mean of per-prompt latency ratios with a prompt-level
bootstrap 95% CI) and `Summary`, which states its conclusions in words from the intervals.

`Comparison.summary()` (`nvgw_nb.compare`) makes them; they are importable from there too.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nvgw_nb import stats
from nvgw_nb.markdown import escape_markdown, table_row

if TYPE_CHECKING:
    from nvgw_nb.experiments.summary import RunSummary

__all__ = [
    "PAIRED_RESAMPLES",
    "PAIRED_SEED",
    "PairedLatency",
    "ProviderSummary",
    "Summary",
    "cost_statement",
    "why_figures_differ",
]

#: the seed of every paired bootstrap (stored, so a rerun gives the same interval)
PAIRED_SEED = 0
#: bootstrap resamples of the paired ratio
PAIRED_RESAMPLES = 2000
_SIM_MARK = "**SIMULATED data** (built-in simulator, not real endpoints).\n\n"


@dataclass(frozen=True)
class ProviderSummary:
    """The numbers for one provider."""

    provider: str
    n: int
    ok: int
    median_latency_s: float
    latency_ci: tuple[float, float]
    p90_latency_s: float
    mean_prompt_tokens: float
    mean_completion_tokens: float
    cost_per_1k_usd: float
    failures: dict[str, int]

    @property
    def success_rate(self) -> float:
        return self.ok / self.n if self.n else math.nan


@dataclass(frozen=True)
class PairedLatency:
    """How much longer (or shorter) `other` took than `baseline` on the same prompts.

    Per prompt, the median successful latency on each provider; `ratio` is the geometric
    mean over prompts of other / baseline (exp of the mean log ratio: 2× and 0.5× cancel,
    and one odd prompt cannot flip it the way it can flip a median of two clusters of
    ratios), `ci` its percentile bootstrap 95% interval over prompts (each prompt's repeats
    and both providers drawn together; `seed`, `resamples`). `ratios` holds each paired
    prompt's ratio, by prompt index.
    """

    baseline: str
    other: str
    ratio: float
    ci: tuple[float, float]
    n: int
    ratios: dict[int, float]
    simulated: bool = False
    seed: int = PAIRED_SEED
    resamples: int = PAIRED_RESAMPLES

    @property
    def enough(self) -> bool:
        """True with enough paired prompts for an interval (`stats.MIN_N_FOR_CI`)."""
        return self.n >= stats.MIN_N_FOR_CI and not math.isnan(self.ci[0])

    @property
    def direction(self) -> str:
        """ "slower" or "faster" when the interval excludes 1.00×, "unclear" when it
        contains it, "too few" without an interval."""
        if not self.enough:
            return "too few"
        low, high = self.ci
        if low > 1:
            return "slower"
        if high < 1:
            return "faster"
        return "unclear"

    def conclusion(self) -> str:
        """The conclusion in words, from the interval: never "faster" or "slower" when it
        contains 1.00×."""
        mark = "; simulated" if self.simulated else ""
        if not self.enough:
            return (
                f"{self.other} vs {self.baseline}: too few paired prompts (n={self.n}, need "
                f"{stats.MIN_N_FOR_CI}) for a latency comparison with a confidence interval"
                f"{' (simulated)' if self.simulated else ''}."
            )
        low, high = self.ci
        figure = (
            f"{self.ratio:.2f}× {self.baseline} per prompt (geometric mean, 95% CI "
            f"{low:.2f}–{high:.2f}×, n={self.n} paired prompts{mark})"
        )
        if self.direction == "unclear":
            return (
                f"No clear latency difference: {self.other} took {figure}; the interval "
                "contains 1.00×."
            )
        return f"{self.other} is {self.direction}: {figure}."


@dataclass(frozen=True)
class Summary:
    """Per-provider numbers and plain statements of the paired comparisons."""

    providers: list[ProviderSummary]
    statements: list[str]
    simulated: bool
    #: answer quality per provider, when the comparison had scorers
    quality: RunSummary | None = None
    #: each score's paired verdict, from its interval
    verdicts: list[str] = field(default_factory=list)
    #: each provider's paired latency against the first one
    paired: list[PairedLatency] = field(default_factory=list)

    def table_rows(self) -> list[tuple[str, ...]]:
        """The table as text cells, the header first (Markdown and HTML share it)."""
        head = (
            "provider",
            "n",
            "success",
            "median latency s (95% CI)",
            "p90 s",
            "tokens in / out",
            "cost per 1k requests",
        )
        body = [
            (
                p.provider,
                str(p.n),
                f"{p.success_rate:.0%}",
                f"{_num(p.median_latency_s)} ({_interval(p.latency_ci)})",
                _num(p.p90_latency_s),
                f"{p.mean_prompt_tokens:.0f} / {p.mean_completion_tokens:.0f}",
                f"${p.cost_per_1k_usd:.4f}",
            )
            for p in self.providers
        ]
        return [head, *body]

    def to_markdown(self) -> str:
        """A Markdown table, then the conclusions in words (what `summary.md` holds).

        Every cell and sentence is escaped (`nvgw_nb.markdown`): a `$` would start LaTeX
        in JupyterLab, VS Code and GitHub, a `|` would split a cell."""
        head, *body = self.table_rows()
        lines = [table_row(head), "|---|---:|---:|---|---:|---|---:|"]
        lines += [table_row(row) for row in body]
        mark = _SIM_MARK if self.simulated else ""
        notes = "".join(f"- {escape_markdown(s)}\n" for s in self.statements)
        return f"{mark}" + "\n".join(lines) + f"\n\n{notes}{self.quality_markdown()}"

    def to_html(self) -> str:
        """The table and the conclusions as HTML (everything escaped; `$` kept away from
        MathJax, which typesets HTML outputs in JupyterLab too)."""
        head, *body = self.table_rows()
        th = "".join(f"<th style='padding:2px 8px'>{html.escape(h)}</th>" for h in head)
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td style='padding:2px 8px;text-align:{'left' if i == 0 else 'right'}'>"
                f"{html.escape(c)}</td>"
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in body
        )
        mark = (
            "<p><b>SIMULATED data</b> (built-in simulator, not real endpoints).</p>"
            if self.simulated
            else ""
        )
        items = "".join(f"<li>{html.escape(s)}</li>" for s in self.statements)
        return (
            f'<div class="tex2jax_ignore mathjax_ignore">{mark}<table><tr>{th}</tr>{rows}'
            f"</table><ul>{items}</ul></div>"
        )

    def quality_markdown(self) -> str:
        """The answer-quality section (empty without scorers): the table and verdicts."""
        if self.quality is None:
            return ""
        table = self.quality.to_markdown().replace(_SIM_MARK, "")
        verdicts = "".join(f"- {escape_markdown(v)}\n" for v in self.verdicts)
        return f"\n### Answer quality\n\n{table}\n{verdicts}"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _num(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def _interval(ci: tuple[float, float]) -> str:
    if math.isnan(ci[0]):
        return f"CI needs n≥{stats.MIN_N_FOR_CI}"
    return f"{ci[0]:.3f}–{ci[1]:.3f}"


def why_figures_differ(
    pair: PairedLatency, baseline: ProviderSummary, other: ProviderSummary
) -> str:
    """One line when the table's pooled medians and the paired ratio point different ways
    (as printed: a ratio that rounds to 1.00× points nowhere)."""
    if not pair.enough or math.isnan(baseline.median_latency_s + other.median_latency_s):
        return ""
    pooled = round(other.median_latency_s / baseline.median_latency_s, 2)
    paired = round(pair.ratio, 2)
    if not ((pooled < 1 < paired) or (paired < 1 < pooled)):
        return ""
    return (
        "Why the table and the ratio point different ways: the table's medians pool every "
        f"successful request of each provider ({other.provider} "
        f"{other.median_latency_s:.3f} s vs {baseline.provider} "
        f"{baseline.median_latency_s:.3f} s), while the ratio compares each prompt with "
        "itself on both providers and averages over prompts; the paired ratio is the one "
        "that compares the providers on the same work."
    )


def cost_statement(baseline: ProviderSummary, other: ProviderSummary) -> str:
    """Estimated cost per 1k requests of `other` against `baseline`, in words ("USD", not
    "$": the statements are often pasted into Markdown, where two `$` start LaTeX)."""
    a, b = other.cost_per_1k_usd, baseline.cost_per_1k_usd
    if math.isnan(a) or math.isnan(b):
        return ""
    times = f" ({a / b:.1f}×)" if b > 0 else ""
    return (
        f"Estimated cost per 1k requests: {other.provider} {a:.4f} USD vs "
        f"{baseline.provider} {b:.4f} USD{times}; list-price estimates (nvgw_nb.pricing), "
        "not a bill."
    )
