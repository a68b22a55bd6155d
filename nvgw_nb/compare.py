"""`Comparison`: the same prompts pinned to each provider, repeated, with honest statistics.

A comparison is an experiment that varies the provider (`nvgw_nb.experiments`: one
engine): every prompt runs on every provider with no fallback (so each column really is
that provider), `repeats` times, never from the cache. Scorers given to `compare()` add
answer quality: `Comparison.run` is the experiment's `Run`, and the summary gains a
quality table and the paired verdicts. The summary reports n, success rate, median latency with a
bootstrap 95% CI, p90, tokens, cost per 1k requests and, against the first provider, a
paired latency ratio: the geometric mean of per-prompt ratios with a prompt-level bootstrap
95% CI (`PairedLatency`), stated as a conclusion in words from its interval. Anything from
the simulator is marked simulated.
"""

from __future__ import annotations

import csv
import difflib
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from nvgw_nb import resampling, stats
from nvgw_nb.batch import BatchPrompt, normalise_prompts
from nvgw_nb.comparison_summary import (
    PAIRED_RESAMPLES,
    PAIRED_SEED,
    PairedLatency,
    ProviderSummary,
    Summary,
    cost_statement,
    why_figures_differ,
)
from nvgw_nb.config import check_provider_order
from nvgw_nb.errors import ConfigError
from nvgw_nb.private_files import open_private
from nvgw_nb.results import Attempt

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.experiments.records import CallRecord
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.experiments.summary import RunSummary

__all__ = [
    "Comparison",
    "ComparisonRow",
    "PairedLatency",
    "ProviderSummary",
    "Summary",
    "comparison_cases",
]

CSV_COLUMNS = (
    "prompt_index",
    "role",
    "provider",
    "repeat",
    "ok",
    "failure_kind",
    "latency_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "model",
    "simulated",
    "prompt",
    "content",
    "error",
)


class ComparisonRow(BaseModel):
    """One prompt × provider × repeat."""

    model_config = ConfigDict(frozen=True)

    prompt_index: int
    prompt: str
    role: str | None = None
    provider: str
    repeat: int
    ok: bool
    failure_kind: str | None = None
    error: str | None = None
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None
    content: str = ""
    simulated: bool = False
    attempts: list[Attempt] = []

    @classmethod
    def from_record(cls, record: CallRecord, *, prompt_index: int, prompt: str) -> ComparisonRow:
        """A row from one call of the comparison's experiment (a result or a failure)."""
        return cls(
            prompt_index=prompt_index,
            prompt=prompt,
            role=record.role,
            provider=str(record.provider_asked),
            repeat=record.repeat,
            ok=record.ok,
            failure_kind=record.error_kind,
            error=record.error,
            latency_s=record.latency_s or 0.0,
            prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens,
            cost_usd=record.cost_usd,
            model=record.model,
            content=record.text or "",
            simulated=record.simulated,
            attempts=record.attempts,
        )


def comparison_cases(
    prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
    providers: Sequence[str],
    role: object,
) -> tuple[tuple[str, ...], list[BatchPrompt], list[Case]]:
    """The providers, prompts and the experiment's cases of a comparison, checked."""
    from nvgw_nb.experiments.cases import Case

    names = check_provider_order(providers) if providers else ()
    if not names:
        raise ConfigError("compare() needs at least one provider")
    if role is not None and not isinstance(role, str):
        raise ConfigError("batch() and compare() take a role name; set roles= on the Session")
    if isinstance(prompts, str):
        raise ConfigError("prompts must be a list of prompts, not one string")
    items = normalise_prompts(prompts, role)
    cases = [
        Case(item.prompt, id=f"prompt-{index + 1}", role=item.role)
        for index, item in enumerate(items)
    ]
    return names, items, cases


class Comparison:
    """Rows of a pinned, repeated comparison, and what to do with them."""

    def __init__(
        self,
        rows: Sequence[ComparisonRow],
        *,
        providers: Sequence[str],
        prompts: Sequence[BatchPrompt],
        repeats: int,
        run: Run | None = None,
    ) -> None:
        self.rows = list(rows)
        self.providers = tuple(providers)
        self.prompts = list(prompts)
        self.repeats = repeats
        #: the experiment behind the comparison (its scores, when scorers were given)
        self.run = run

    @classmethod
    def from_run(
        cls, run: Run, providers: Sequence[str], prompts: Sequence[BatchPrompt]
    ) -> Comparison:
        """The comparison of an experiment that varied the provider (`Session.compare`)."""
        index = {f"prompt-{i + 1}": i for i in range(len(prompts))}
        rows = [
            ComparisonRow.from_record(
                record,
                prompt_index=index[record.case_id],
                prompt=prompts[index[record.case_id]].prompt,
            )
            for record in run.records
        ]
        return cls(rows, providers=providers, prompts=prompts, repeats=run.header.repeats, run=run)

    @property
    def simulated(self) -> bool:
        """True when any row came from the built-in simulator."""
        return any(row.simulated for row in self.rows)

    def rows_for(self, provider: str, *, ok: bool | None = None) -> list[ComparisonRow]:
        """The rows of one provider (only successes with ok=True)."""
        return [r for r in self.rows if r.provider == provider and (ok is None or r.ok == ok)]

    # --- statistics -------------------------------------------------------------------
    def summary(self) -> Summary:
        """Per provider: n, success rate, median latency with a bootstrap 95% CI, p90,
        tokens, cost per 1k requests; and against the first provider, each other's paired
        latency (`paired_latency`) and cost, concluded in words."""
        per = [self._provider_summary(p) for p in self.providers]
        first = per[0]
        paired = [self.paired_latency(first.provider, p.provider) for p in per[1:]]
        statements: list[str] = []
        for pair, other in zip(paired, per[1:], strict=True):
            statements.append(pair.conclusion())
            why = why_figures_differ(pair, first, other)
            if why:
                statements.append(why)
        statements += [cost_statement(first, other) for other in per[1:]]
        quality, verdicts = self._quality()
        return Summary(
            per,
            [s for s in statements if s],
            self.simulated,
            quality=quality,
            verdicts=verdicts,
            paired=paired,
        )

    def _quality(self) -> tuple[RunSummary | None, list[str]]:
        """With scorers: quality per provider, and each score's paired verdict of every
        provider against the first."""
        if self.run is None or not self.run.scorer_names:
            return None, []
        quality = self.run.summary(by="provider")
        first = self.providers[0]
        verdicts = [
            self.run.compare(a={"provider": other}, b={"provider": first}, metric=name).verdict
            for name in self.run.scorer_names
            for other in self.providers[1:]
        ]
        return quality, verdicts

    def _provider_summary(self, provider: str) -> ProviderSummary:
        rows = self.rows_for(provider)
        good = [r for r in rows if r.ok]
        latencies = [r.latency_s for r in good]
        failures: dict[str, int] = {}
        for row in rows:
            if not row.ok:
                failures[row.failure_kind or "error"] = (
                    failures.get(row.failure_kind or "error", 0) + 1
                )
        return ProviderSummary(
            provider=provider,
            n=len(rows),
            ok=len(good),
            median_latency_s=stats.median(latencies),
            latency_ci=stats.bootstrap_ci(latencies),
            p90_latency_s=stats.percentile(latencies, 90),
            mean_prompt_tokens=_mean([r.prompt_tokens for r in good]),
            mean_completion_tokens=_mean([r.completion_tokens for r in good]),
            cost_per_1k_usd=1000 * _mean([r.cost_usd for r in rows]),
            failures=failures,
        )

    def paired_latencies(self, baseline: str, other: str) -> tuple[list[float], list[float]]:
        """Per prompt, the median successful latency on each provider (prompts with both)."""
        a, b = self._latencies_by_prompt(baseline), self._latencies_by_prompt(other)
        shared = [i for i in a if i in b]
        return [stats.median(a[i]) for i in shared], [stats.median(b[i]) for i in shared]

    def paired_latency(
        self, baseline: str, other: str, *, seed: int = PAIRED_SEED
    ) -> PairedLatency:
        """`other`'s latency as a multiple of `baseline`'s on the same prompts: the geometric
        mean of per-prompt ratios (each prompt's median over its successful repeats) with a
        prompt-level bootstrap 95% CI (recipe R5, seeded)."""
        base = self._latencies_by_prompt(baseline)
        mine = self._latencies_by_prompt(other)
        logs = resampling.log_ratios(mine, base)
        interval = resampling.ratio_interval(mine, base, seed=seed, resamples=PAIRED_RESAMPLES)
        ci = (
            (interval.low, interval.high)
            if len(logs) >= stats.MIN_N_FOR_CI
            else (
                math.nan,
                math.nan,
            )
        )
        return PairedLatency(
            baseline=baseline,
            other=other,
            ratio=interval.estimate,
            ci=ci,
            n=len(logs),
            ratios={i: math.exp(v) for i, v in sorted(logs.items())},
            simulated=self.simulated,
            seed=seed,
        )

    def _latencies_by_prompt(self, provider: str) -> dict[int, list[float]]:
        """Per prompt index, the successful (positive) latencies of `provider`."""
        out: dict[int, list[float]] = {}
        for row in self.rows_for(provider, ok=True):
            if row.latency_s > 0:
                out.setdefault(row.prompt_index, []).append(row.latency_s)
        return out

    def agreement(self) -> list[float]:
        """Per prompt, the mean word-level similarity between providers' first answers."""
        scores = []
        for index in range(len(self.prompts)):
            answers = [
                next(
                    (r.content for r in self.rows_for(p, ok=True) if r.prompt_index == index), None
                )
                for p in self.providers
            ]
            present = [a for a in answers if a is not None]
            pairs = [
                stats.similarity(a, b) for i, a in enumerate(present) for b in present[i + 1 :]
            ]
            scores.append(stats.median(pairs) if pairs else math.nan)
        return scores

    # --- export -----------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per row (the CSV columns)."""
        return [{key: getattr(row, key) for key in CSV_COLUMNS} for row in self.rows]

    def to_pandas(self) -> pandas.DataFrame:
        """A DataFrame, one row per prompt × provider × repeat (needs pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError(
                "Comparison.to_pandas() needs pandas: pip install 'nvgw_nb[pandas]' "
                "(or pip install pandas)"
            ) from None
        frame: pandas.DataFrame = pandas.DataFrame.from_records(
            self.to_records(), columns=list(CSV_COLUMNS)
        )
        return frame

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV; returns the path. A new file is readable by its owner
        only; an existing one keeps its mode (`nvgw_nb.private_files`)."""
        target = Path(path)
        with open_private(target, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS))
            writer.writeheader()
            writer.writerows(self.to_records())
        return target

    def to_jsonl(self, path: str | Path) -> Path:
        """Write everything (attempts included) as JSON lines; `Comparison.load` reads it.
        A new file is readable by its owner only (`nvgw_nb.private_files`)."""
        target = Path(path)
        meta = {
            "providers": self.providers,
            "repeats": self.repeats,
            "prompts": [p.model_dump() for p in self.prompts],
        }
        with open_private(target, "w") as handle:
            handle.write(json.dumps({"comparison": meta}) + "\n")
            for row in self.rows:
                handle.write(row.model_dump_json() + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Comparison:
        """Read back what `to_jsonl` wrote."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        meta = json.loads(lines[0])["comparison"]
        rows = [ComparisonRow.model_validate_json(line) for line in lines[1:] if line.strip()]
        prompts = [BatchPrompt.model_validate(p) for p in meta["prompts"]]
        return cls(rows, providers=meta["providers"], prompts=prompts, repeats=meta["repeats"])

    # --- views ------------------------------------------------------------------------
    def plot(self) -> Figure:
        """A 2×3 overview: latency, the paired ratio, outcomes; tokens, cost, agreement."""
        from nvgw_nb.plots import overview

        figure: Figure = overview(self)
        return figure

    def side_by_side_html(self, *, limit: int = 10) -> str:
        """The first answers of the first two providers per prompt, word differences marked."""
        if len(self.providers) < 2:
            return ""
        left, right = self.providers[:2]
        scores = self.agreement()
        blocks = []
        for index, prompt in enumerate(self.prompts[:limit]):
            a = _first(self.rows_for(left), index)
            b = _first(self.rows_for(right), index)
            a_html, b_html = _diff_html(a, b)
            score = "" if math.isnan(scores[index]) else f" · agreement {scores[index]:.2f}"
            blocks.append(
                f"<tr><td colspan=2><b>#{index}</b> {html.escape(prompt.prompt)}"
                f"<small>{score}</small></td></tr>"
                f'<tr><td style="{_ANSWER_CELL}">{a_html}</td>'
                f'<td style="{_ANSWER_CELL}">{b_html}</td></tr>'
            )
        head = f"<tr><th>{html.escape(left)}</th><th>{html.escape(right)}</th></tr>"
        return (
            '<table class="nvgw-compare" style="font-size:12px;table-layout:fixed;width:100%">'
            f"{head}{''.join(blocks)}</table>"
        )

    def _repr_html_(self) -> str:
        mark = (
            '<p style="color:#b35900"><b>SIMULATED</b> — built-in simulator, not real endpoints</p>'
            if self.simulated
            else ""
        )
        return f"{mark}{self.summary().to_html()}{self.side_by_side_html()}"

    def __repr__(self) -> str:
        mark = ", simulated" if self.simulated else ""
        return (
            f"<Comparison {len(self.prompts)} prompts × {len(self.providers)} providers × "
            f"{self.repeats} repeats = {len(self.rows)} rows{mark}>"
        )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _first(rows: list[ComparisonRow], index: int) -> str | None:
    row = next((r for r in rows if r.prompt_index == index), None)
    if row is None:
        return None
    return row.content if row.ok else None


#: words and the whitespace between them, so a diff can keep line breaks and indentation
_TOKENS = re.compile(r"\S+|\s+")
#: an answer cell: left-aligned and top-aligned, keeping the answer's own line breaks
_ANSWER_CELL = "text-align:left;vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere"


def _diff_html(a: str | None, b: str | None) -> tuple[str, str]:
    """Both texts as HTML, words only in one side highlighted (deleted red, inserted green);
    spacing and line breaks kept as written (show them in a `white-space:pre-wrap` cell)."""
    if a is None or b is None:
        failed = "<i>failed</i>"
        return (
            html.escape(a) if a is not None else failed,
            html.escape(b) if b is not None else failed,
        )
    left, right = _TOKENS.findall(a), _TOKENS.findall(b)
    matcher = difflib.SequenceMatcher(
        None, [w.casefold() for w in left], [w.casefold() for w in right], autojunk=False
    )
    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        chunk_a = html.escape("".join(left[i1:i2]))
        chunk_b = html.escape("".join(right[j1:j2]))
        if op == "equal":
            out_a.append(chunk_a)
            out_b.append(chunk_b)
            continue
        out_a.append(
            f'<span style="background:#fbd3d0">{chunk_a}</span>' if chunk_a.strip() else chunk_a
        )
        out_b.append(
            f'<span style="background:#d4f4d2">{chunk_b}</span>' if chunk_b.strip() else chunk_b
        )
    return "".join(out_a), "".join(out_b)
