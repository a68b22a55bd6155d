"""The answer-quality section of a report: pass rates with intervals, the paired verdict,
and a pairwise judge with its bias diagnostics — on a file of labelled cases.

`make demo` and `nvgw-nb compare --cases FILE` add it to the comparison report.

>>> section = measure_quality(session, load_cases("examples/cases.jsonl"),
...                           judge="anthropic")                     # doctest: +SKIP
>>> print(section.markdown())                                        # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nvgw_nb.experiments.summary import escape_markdown

if TYPE_CHECKING:
    from nvgw_nb.experiments.analysis import PairedComparison, PairwiseResult
    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.experiments.summary import RunSummary
    from nvgw_nb.session import Session

__all__ = ["TERSE_SYSTEM", "QualitySection", "measure_quality"]

#: the system prompt the quality section asks with: the example cases are graded exactly
TERSE_SYSTEM = "Answer with only the label, the JSON or the code asked for; no explanation."
METRIC = "expected"


@dataclass(frozen=True)
class QualitySection:
    """What the report says about answer quality, and the run behind it."""

    run: Run
    summary: RunSummary
    comparisons: list[PairedComparison]
    pairwise: PairwiseResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        return self.run.simulated

    def statements(self) -> list[str]:
        """The verdicts in words: the paired differences, then the judge's."""
        out = [c.verdict for c in self.comparisons]
        if self.pairwise is not None:
            out.append(self.pairwise.verdict)
            out += [f"Judge warning: {w}" for w in self.pairwise.warnings]
        return out

    def judge_facts(self) -> list[tuple[str, str]]:
        """The pairwise judge's diagnostics as (label, value) rows."""
        p = self.pairwise
        if p is None:
            return []

        def share(value: float | None) -> str:
            return "—" if value is None else f"{value:.0%}"

        return [
            ("judge", p.judge),
            ("cases judged (both orders)", str(p.n_cases)),
            ("win rate", f"{p.win_rate:.2f} (95% CI {p.ci[0]:.2f}–{p.ci[1]:.2f})"),
            ("length-controlled win rate", f"{p.length_controlled_win_rate or 0:.2f}"),
            ("position consistency", share(p.position_consistency)),
            ("first-slot win rate", share(p.first_slot_rate)),
        ]

    def markdown(self) -> str:
        """The section as Markdown (`$` and other active characters escaped)."""
        lines = ["## Answer quality", ""]
        lines += [f"- {escape_markdown(n)}" for n in self.notes] + [""]
        table = self.summary.to_markdown().replace(
            "**SIMULATED data** (built-in simulator, not real endpoints).\n\n", ""
        )
        lines += [table.rstrip(), ""]
        lines += [f"- {escape_markdown(s)}" for s in self.statements()]
        facts = self.judge_facts()
        if facts:
            lines += ["", "| judge diagnostic | value |", "|---|---|"]
            lines += [f"| {escape_markdown(k)} | {escape_markdown(v)} |" for k, v in facts]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        """The section as HTML (everything escaped)."""
        esc = html.escape
        parts = ["<h2>Answer quality</h2>"]
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>")
        parts.append(self.summary._repr_html_())
        parts.append(
            '<ul class="verdicts">'
            + "".join(f"<li>{esc(s)}</li>" for s in self.statements())
            + "</ul>"
        )
        facts = self.judge_facts()
        if facts:
            rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
            parts.append(f'<table class="summary">{rows}</table>')
        return "\n".join(parts)


def measure_quality(
    session: Session,
    cases: Sequence[Case],
    *,
    providers: Sequence[str] = ("nvidia-nim", "nvidia-gateway"),
    judge: str | None = None,
    repeats: int = 1,
    seed: int = 0,
    concurrency: int = 8,
    progress: bool = False,
    save_to: str | Path | None = None,
) -> QualitySection:
    """Ask every case of `cases` on each provider (pinned, with `TERSE_SYSTEM`), grade it
    by its own check (`checks.expected()`), compare each provider with the first, paired,
    and — with `judge` (a provider of another model family) — judge the first two providers'
    answers pairwise in both orders."""
    from nvgw_nb.experiments import checks, judges
    from nvgw_nb.experiments.analysis import PairwiseResult

    experiment = session.experiment(
        cases,
        vary={"provider": list(providers)},
        repeats=repeats,
        scorers=[checks.expected(name=METRIC)],
        seed=seed,
        system=TERSE_SYSTEM,
        temperature=0,
    )
    run = experiment.run(concurrency=concurrency, progress=progress, save_to=save_to)
    first = providers[0]
    comparisons = [
        run.compare(a={"provider": other}, b={"provider": first}, metric=METRIC)
        for other in providers[1:]
    ]
    pairwise = None
    if judge is not None and len(providers) >= 2:
        found = run.pairwise(
            "provider",
            judges.pairwise(
                "Which answer answers the question correctly and in the form asked for?",
                judge=judge,
            ),
            values=list(providers[:2]),
        )
        pairwise = found if isinstance(found, PairwiseResult) else None
    notes = [
        f"{len(run.cases)} labelled cases, each graded by its own check "
        "(label, JSON fields, code tests, or the fact asked for); n is the number of cases.",
        f"Every case asked once per provider ({repeats} repeat{'s' if repeats != 1 else ''}), "
        "pinned, at temperature 0, with the system prompt: " + TERSE_SYSTEM,
    ]
    return QualitySection(
        run=run,
        summary=run.summary(by="provider"),
        comparisons=comparisons,
        pairwise=pairwise,
        notes=notes,
    )
