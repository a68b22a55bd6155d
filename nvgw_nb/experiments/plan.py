"""`Plan`: what an experiment will ask, spend and be able to tell — before any call.

Calls, estimated tokens and dollars split into subject / judge / embedding calls, the
wall time at the Session's rate limits, the minimum detectable effect of comparing two
values of each axis (R7: no pilot data assumed), and warnings.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nvgw_nb import stats
from nvgw_nb.errors import ConfigError
from nvgw_nb.pricing import estimate_usage
from nvgw_nb.ratelimit import SAFETY

if TYPE_CHECKING:
    import pandas

    from nvgw_nb.experiments.grid import Experiment

__all__ = ["ASSUMED_ANSWER_TOKENS", "NIM_FREE_TIER_PER_MIN", "Plan", "make_plan"]

#: answer length assumed per call when max_tokens does not bound it lower
ASSUMED_ANSWER_TOKENS = 200
#: NIM's hosted free tier counts about 40 requests in any minute (see the README)
NIM_FREE_TIER_PER_MIN = 40
#: seconds per call assumed when the Session has not measured a provider yet
ASSUMED_LATENCY_S = 2.0
#: sd of paired pass/fail differences with no pilot data (independent arms at p = 0.5)
NO_PILOT_SD = math.sqrt(0.5)


@dataclass(frozen=True)
class PlanRow:
    """One cell: its calls, tokens and estimated dollars."""

    cell: str
    provider: str
    model: str
    calls: int
    tokens: int
    cost_usd: float
    priced: bool


@dataclass(frozen=True)
class Plan:
    """What `run()` will do and cost; shown as text or HTML, `to_pandas` per cell."""

    n_cases: int
    n_cells: int
    repeats: int
    rows: list[PlanRow]
    judge_calls: int
    judge_tokens: int
    judge_cost_usd: float
    embedding_calls: int
    embedding_tokens: int
    embedding_cost_usd: float
    minutes: float
    time_note: str
    mde: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    simulated: bool = False

    @property
    def subject_calls(self) -> int:
        return sum(r.calls for r in self.rows)

    @property
    def subject_cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.rows)

    @property
    def total_cost_usd(self) -> float:
        return self.subject_cost_usd + self.judge_cost_usd + self.embedding_cost_usd

    @property
    def calls(self) -> int:
        return self.subject_calls + self.judge_calls + self.embedding_calls

    def lines(self) -> list[str]:
        """The plan in plain sentences."""
        out = [
            f"{self.n_cases} cases × {self.n_cells} cells × {self.repeats} repeats = "
            f"{self.subject_calls} subject calls"
            + (f", {self.judge_calls} judge calls" if self.judge_calls else "")
            + (f", {self.embedding_calls} embedding calls" if self.embedding_calls else "")
            + ".",
            f"Estimated cost: {_usd(self.total_cost_usd)} — subjects "
            f"{_usd(self.subject_cost_usd)}, judges {_usd(self.judge_cost_usd)}, embeddings "
            f"{_usd(self.embedding_cost_usd)} (answers assumed ≤ {ASSUMED_ANSWER_TOKENS} "
            "tokens; prices from nvgw_nb.pricing).",
            f"Wall time: about {_minutes(self.minutes)} ({self.time_note}).",
        ]
        for name, mde in self.mde.items():
            out.append(
                f"Comparing two values of {name} on {self.n_cases} cases can detect a "
                f"pass-rate difference of about {mde * 100:.0f} points or more (80% power, "
                "no pilot data; pairing usually makes this smaller)."
            )
        out += [f"Warning: {w}" for w in self.warnings]
        if self.simulated:
            out.insert(0, "SIMULATED: this Session talks to the built-in simulator.")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return f"Plan({self.calls} calls, ~{_usd(self.total_cost_usd)}, ~{_minutes(self.minutes)})"

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines())
        head = "".join(
            f"<th style='padding:2px 8px'>{h}</th>"
            for h in ("cell", "provider", "model", "calls", "tokens", "cost $")
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td style='padding:2px 8px'>{html.escape(str(v))}</td>"
                for v in (
                    r.cell,
                    r.provider,
                    r.model,
                    r.calls,
                    r.tokens,
                    f"{r.cost_usd:.4f}" if r.priced else "unpriced",
                )
            )
            + "</tr>"
            for r in self.rows
        )
        return f"<ul>{items}</ul><table><tr>{head}</tr>{body}</table>"

    def to_pandas(self) -> pandas.DataFrame:
        """One row per cell (needs pandas)."""
        from nvgw_nb.experiments.summary import data_frame

        return data_frame([r.__dict__ for r in self.rows], "Plan")


def make_plan(experiment: Experiment) -> Plan:
    """The Plan of `experiment` (no call is made)."""
    session = experiment.session
    jobs = experiment.jobs()
    per_cell: dict[str, dict[str, Any]] = {}
    calls_per_provider: dict[str, int] = defaultdict(int)
    warnings: list[str] = []
    refused: set[str] = set()
    for job in jobs:
        step = next((s for s in job.steps if not s.skip), None)
        if step is None:
            refused.add(job.cell.label)
            continue
        answer = min(job.request.max_tokens or ASSUMED_ANSWER_TOKENS, ASSUMED_ANSWER_TOKENS)
        usage = estimate_usage(job.request, "")
        tokens = usage.prompt_tokens + answer
        price = session.pricing.price(step.provider, step.model)
        cost = (
            0.0
            if price is None
            else (usage.prompt_tokens * price.input + answer * price.output) / 1e6
        )
        row = per_cell.setdefault(
            job.cell.id,
            {
                "cell": job.cell.label,
                "provider": step.provider,
                "model": step.model,
                "calls": 0,
                "tokens": 0,
                "cost_usd": 0.0,
                "priced": price is not None,
            },
        )
        row["calls"] += 1
        row["tokens"] += tokens
        row["cost_usd"] += cost
        calls_per_provider[step.provider] += 1
    rows = [PlanRow(**r) for r in per_cell.values()]
    answers = sum(r.calls for r in rows)
    judge = _scoring(experiment, answers, "judge", calls_per_provider)
    embed = _scoring(experiment, answers, "embedding", calls_per_provider)
    minutes, note = _wall_time(experiment, calls_per_provider)
    if refused:
        warnings.append(
            f"the policy refuses the provider of {', '.join(sorted(refused))}: those calls "
            "would fail (set NVGW_ALLOW_EXTERNAL or drop the cell)"
        )
    if len(experiment.cases) < 10:
        warnings.append(
            f"only {len(experiment.cases)} cases: intervals will be wide; 30 or more "
            "cases are needed to see differences of 20–30 points"
        )
    warnings += _contestant_judges(experiment)
    mde = (
        {
            axis: stats.minimum_detectable_effect(NO_PILOT_SD, len(experiment.cases))
            for axis in _varied_axes(experiment)
        }
        if len(experiment.cases) >= 2
        else {}
    )
    return Plan(
        n_cases=len(experiment.cases),
        n_cells=len(experiment.cells),
        repeats=experiment.repeats,
        rows=rows,
        judge_calls=judge[0],
        judge_tokens=judge[1],
        judge_cost_usd=judge[2],
        embedding_calls=embed[0],
        embedding_tokens=embed[1],
        embedding_cost_usd=embed[2],
        minutes=minutes,
        time_note=note,
        mde=mde,
        warnings=warnings,
        simulated=experiment.simulated,
    )


def _scoring(
    experiment: Experiment, answers: int, kind: str, calls_per_provider: dict[str, int]
) -> tuple[int, int, float]:
    calls = tokens = 0
    cost = 0.0
    for scorer in experiment.scorers:
        if scorer.kind != kind:
            continue
        n_calls, n_tokens = scorer.estimate(answers)
        calls += n_calls
        tokens += n_tokens
        provider, model = _scorer_model(experiment, scorer, kind)
        if provider is not None:
            calls_per_provider[provider] += n_calls
        if provider is not None and model:
            price = experiment.session.pricing.price(provider, model)
            if price is not None:
                cost += n_tokens * price.input / 1e6
    return calls, tokens, cost


def _scorer_model(experiment: Experiment, scorer: Any, kind: str) -> tuple[str | None, str | None]:
    """The provider and model a scorer will call, as the run will resolve them."""
    resolve = getattr(scorer, "resolve", None)
    if kind == "judge" and callable(resolve):
        try:
            provider, model = resolve(experiment.session)
            return str(provider), str(model)
        except ConfigError:
            pass  # a judge that cannot be used fails at run time with its reason
    provider = getattr(scorer, "judge_provider", None) or (
        "nvidia-nim" if kind == "embedding" else None
    )
    model = getattr(scorer, "judge_model", None) or getattr(scorer, "model", None)
    return provider, model


def _wall_time(experiment: Experiment, calls: dict[str, int]) -> tuple[float, str]:
    """Minutes: the slowest of rate-limit pacing and latency at the default concurrency."""
    session = experiment.session
    worst, note = 0.0, "no rate limits configured; at 8 calls in flight"
    for provider, n in calls.items():
        interval = session.rate_limiter.interval(provider)
        if interval is not None:
            minutes = n * interval / 60
            # the limiter paces a little under the configured rate: name the rate as set
            reason = f"{provider} paced at {60 * SAFETY / interval:.0f} requests/min"
        elif provider == "nvidia-nim" and not session.simulated:
            minutes = n / NIM_FREE_TIER_PER_MIN
            reason = (
                f"NIM's free tier allows ~{NIM_FREE_TIER_PER_MIN} requests/min; set "
                "rate_limits={'nvidia-nim': '40/min'} to pace it"
            )
        else:
            p50 = session.latencies.percentile(provider, 50) or ASSUMED_LATENCY_S
            minutes = n * p50 / 8 / 60
            reason = f"{provider} at ~{p50:.1f} s per call, 8 in flight"
        if minutes > worst:
            worst, note = minutes, reason
    if session.simulated:
        note += "; the simulator's own latencies apply"
    return worst, note


def _contestant_judges(experiment: Experiment) -> list[str]:
    from nvgw_nb.experiments.judges import model_family

    families = {model_family(cell.axes.get("model") or cell.provider) for cell in experiment.cells}
    out = []
    for scorer in experiment.scorers:
        model = getattr(scorer, "judge_model", None) or getattr(scorer, "judge_provider", None)
        if scorer.kind == "judge" and model and model_family(str(model)) in families - {"other"}:
            out.append(
                f"the judge of {scorer.name!r} ({model}) is from a contestant's family: "
                "expect self-preference; prefer a judge from another family"
            )
    return out


def _varied_axes(experiment: Experiment) -> list[str]:
    axes: dict[str, set[str]] = defaultdict(set)
    for cell in experiment.cells:
        for axis, value in cell.axes.items():
            axes[axis].add(str(value))
    return [axis for axis, values in axes.items() if len(values) > 1]


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _minutes(value: float) -> str:
    if value < 1:
        return f"{max(value * 60, 1):.0f} s"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"
