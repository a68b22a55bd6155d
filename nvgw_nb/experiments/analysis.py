"""Paired comparisons of two arms, pairwise judge results and multi-arm rankings — each
result carrying the sentence that says what it shows, generated from its interval.

The rules the verdicts follow (recipes R1–R8 of the experiments' design notes):

- repeats are averaged per case first; n is the number of shared cases, calls are counted
  apart (R1);
- A and B are compared on the cases both answered (paired, R3/R4);
- a result is called *better* only when its interval excludes "no difference" (0, or 1 for
  a ratio) **and** its p-value (Holm-adjusted when `adjust` was applied) is below
  1 − confidence. Otherwise the verdict says "no difference shown" and how large a difference
  the data could still miss, with the minimum detectable effect at 80% power (R7).

Example::

    from nvgw_nb.experiments.analysis import compare_paired

    result = compare_paired(
        {"c1": [1], "c2": [1], "c3": [0]}, {"c1": [0], "c2": [1], "c3": [0]},
        metric="expected", label_a="nim", label_b="gateway",
    )
    print(result)  # "No difference shown on 3 cases: ..."
"""

from __future__ import annotations

import dataclasses
import html
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nvgw_nb import bradley_terry, resampling, stats
from nvgw_nb.markdown import escape_markdown

__all__ = [
    "PairOutcome",
    "PairedComparison",
    "PairwiseResult",
    "RankRow",
    "Ranking",
    "adjust",
    "compare_paired",
    "compare_ratio",
    "pairwise_result",
    "rank_arms",
    "t_p_value",
]

#: the power the minimum detectable effect is quoted at
POWER = 0.8
_MINUS = "\u2212"
_LEFT_OUT_PHRASES = {
    "fell back": (
        "call that fell back to another provider",
        "calls that fell back to another provider",
    ),
    "failed": ("failed call", "failed calls"),
    "not shared": ("case not answered by both arms", "cases not answered by both arms"),
    "not positive": ("case with a non-positive value", "cases with a non-positive value"),
}


# --- formatting helpers -------------------------------------------------------------------------
def _number(value: float, digits: int = 1) -> str:
    if math.isnan(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text.replace("-", _MINUS) if text.startswith("-") else text


def _p(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value < 0.0001:
        return "< 0.0001"
    if value < 0.001:
        return f"{value:.4f}"
    if value < 0.01:
        return f"{value:.3f}"
    return f"{value:.2f}"


def _p_is(value: float) -> str:
    """ "= 0.03" or "< 0.0001", to follow a "p"."""
    text = _p(value)
    return text if text.startswith("<") else f"= {text}"


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _md(text: object) -> str:
    """Text made inert in Markdown (`nvgw_nb.markdown.escape_markdown`), parentheses and
    `#+!` escaped too, as these tables always did."""
    return escape_markdown(text, extra="()#+!")


def _markdown_table(rows: Sequence[tuple[str, str]], verdict: str) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {_md(key)} | {_md(value)} |" for key, value in rows]
    return "\n".join(lines) + "\n\n" + _md(verdict) + "\n"


def _html_table(rows: Sequence[tuple[str, str]], verdict: str) -> str:
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
        f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
        for key, value in rows
    )
    return f"<div><table>{cells}</table><p>{html.escape(verdict)}</p></div>"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _left_out_sentence(left_out: Mapping[str, int]) -> str:
    parts = []
    for key, count in left_out.items():
        if count <= 0:
            continue
        one, many = _LEFT_OUT_PHRASES.get(key, (key, key))
        parts.append(f"{count} {one if count == 1 else many}")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f" Left out: {listed}."


def t_p_value(t: float, df: float) -> float:
    """Two-sided p-value of Student's t statistic: P(|T_df| ≥ |t|) = I_{df/(df+t²)}(df/2, ½).

    Pure Python (the regularised incomplete beta function of `nvgw_nb.stats`), so the tiny
    p-values of large t keep their relative precision.
    """
    if df <= 0:
        raise ValueError("t_p_value needs df > 0")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return min(1.0, stats._incomplete_beta(df / 2, 0.5, df / (df + t * t)))


# --- paired comparison ----------------------------------------------------------------------------
TestName = Literal["McNemar exact", "paired t", "sign test", "paired bootstrap"]


@dataclass(frozen=True)
class PairedComparison:
    """A versus B on their shared cases: the difference, its interval, a test, and a verdict.

    `delta` is mean(a − b) over shared cases (a ratio a/b for `test="paired bootstrap"`,
    see `ratio`); `ci` its interval at `confidence`; `mde` the smallest difference the cases
    detect with 80% power (a ratio for ratios); `left_out` counts what was excluded and why;
    `p_adjusted` and `comparisons` are set by `adjust` (Holm). `str(result)` is the verdict.
    """

    metric: str
    a: str
    b: str
    delta: float
    ci: tuple[float, float]
    p_value: float
    test: TestName
    n_cases: int
    n_calls: int
    mde: float
    mean_a: float
    mean_b: float
    higher_is_better: bool = True
    simulated: bool = False
    left_out: dict[str, int] = field(default_factory=dict)
    confidence: float = 0.95
    verdict: str = ""
    unit: str = "points"
    ratio: bool = False
    binary: bool = False
    clusters: int | None = None
    p_adjusted: float | None = None
    comparisons: int = 1

    @property
    def null(self) -> float:
        """The value meaning "no difference": 1 for ratios, else 0."""
        return 1.0 if self.ratio else 0.0

    @property
    def p(self) -> float:
        """The p-value the verdict rests on: Holm-adjusted when `adjust` set one."""
        return self.p_adjusted if self.p_adjusted is not None else self.p_value

    @property
    def significant(self) -> bool:
        """True when the interval excludes "no difference" (0, or 1 for a ratio) and the
        p-value (adjusted when adjusted) is below 1 − confidence."""
        low, high = self.ci
        if math.isnan(low) or math.isnan(high):
            return False
        if low <= self.null <= high:
            return False
        return self.p < 1 - self.confidence  # a NaN p is never significant

    @property
    def winner(self) -> str | None:
        """The better arm's label when `significant`, else None."""
        if not self.significant:
            return None
        a_higher = self.delta > self.null
        return self.a if a_higher == self.higher_is_better else self.b

    def to_dict(self) -> dict[str, Any]:
        """Every field plus `significant` and `winner`; NaN and infinity become None (JSON)."""
        data = dataclasses.asdict(self)
        data["significant"] = self.significant
        data["winner"] = self.winner
        result: dict[str, Any] = _jsonable(data)
        return result

    def format(self, value: float, *, unit: bool = True) -> str:
        """A difference (or ratio) in this comparison's unit: "12.0 points", "0.25 s", "0.62×"
        (`unit=False`: the number alone, as for an interval's lower bound)."""
        if self.ratio:
            return "n/a" if math.isnan(value) else f"{_number(value, 2)}×"
        if self.unit == "points":
            text = _number(value * 100, 1)
            return f"{text} points" if unit else text
        text = _number(value, 3 if abs(value) < 1 else 2)
        return f"{text} {self.unit}".rstrip() if unit else text

    def interval_text(self) -> str:
        """The interval as "−33.4 to −10.0 points" (or "0.55× to 0.70×")."""
        low, high = self.ci
        return f"{self.format(low, unit=False)} to {self.format(high)}"

    def _rows(self) -> list[tuple[str, str]]:
        rows = [
            ("metric", self.metric),
            ("A", self.a),
            ("B", self.b),
            ("Δ (A vs B)" if not self.ratio else "ratio A/B", self.format(self.delta)),
            (f"{_percent(self.confidence)} CI", self.interval_text()),
            (
                "test",
                self.test + (f" (clustered, {self.clusters} clusters)" if self.clusters else ""),
            ),
            ("p", _p(self.p_value)),
        ]
        if self.p_adjusted is not None:
            rows.append((f"p (Holm, {self.comparisons} comparisons)", _p(self.p_adjusted)))
        rows += [
            ("cases", str(self.n_cases)),
            ("calls", str(self.n_calls)),
            ("MDE (80% power)", self.format(self.mde)),
        ]
        if any(v > 0 for v in self.left_out.values()):
            rows.append(("left out", ", ".join(f"{k}: {v}" for k, v in self.left_out.items())))
        if self.simulated:
            rows.append(("data", "SIMULATED"))
        return rows

    def __str__(self) -> str:
        return self.verdict

    def _repr_markdown_(self) -> str:
        return _markdown_table(self._rows(), self.verdict)

    def _repr_html_(self) -> str:
        return _html_table(self._rows(), self.verdict)


def _paired_verdict(c: PairedComparison) -> str:
    prefix = "SIMULATED — " if c.simulated else ""
    tail = _left_out_sentence(c.left_out)
    cases = f"{c.n_cases} case{'' if c.n_cases == 1 else 's'}"
    low, high = c.ci
    if c.clusters is not None and c.clusters < 2 and c.n_cases >= 2:
        return (
            f"{prefix}All {cases} shared by {c.a} and {c.b} come from one cluster, so a "
            f"clustered interval for `{c.metric}` cannot be formed: no verdict.{tail}"
        )
    if c.n_cases < 2 or math.isnan(low) or math.isnan(high):
        return (
            f"{prefix}Too few shared cases to compare {c.a} with {c.b} on `{c.metric}` "
            f"({cases}; at least 2 are needed): no interval, no verdict.{tail}"
        )
    level = _percent(c.confidence)
    holm = f"Holm's correction for {c.comparisons} comparisons" if c.p_adjusted is not None else ""
    p_text = f"{c.test} p {_p_is(c.p_value)}"
    if c.p_adjusted is not None:
        p_text += f", adjusted p {_p_is(c.p_adjusted)} after {holm}"
    if c.significant:
        if c.ratio:
            size = f"`{c.metric}` is {c.format(c.delta)} {c.b}'s"
            claim = f"{c.a}'s {size}"
        else:
            amount = c.format(abs(c.delta))
            if c.binary and c.unit == "points":
                direction = "more" if c.delta > 0 else "less"
                claim = f"{c.a} passes `{c.metric}` {amount} {direction} often than {c.b}"
            else:
                direction = "higher" if c.delta > 0 else "lower"
                claim = f"{c.a} scores {amount} {direction} than {c.b} on `{c.metric}`"
        return (
            f"{prefix}On {cases}, {claim} ({level} CI {c.interval_text()}; "
            f"{p_text}): {c.winner} is better on this metric.{tail}"
        )
    # not shown: either the interval covers the null, or the (adjusted) p-value is too large
    worst = max(low, high, key=lambda v: abs(math.log(v)) if c.ratio else abs(v))
    if c.ratio:
        effect = f"ratio {c.a}/{c.b} = {c.format(c.delta)}"
        miss = f"a ratio as far from 1 as {c.format(worst)}"
    else:
        effect = f"Δ = {c.format(c.delta)}"
        miss = f"a difference of up to {c.format(abs(worst))}"
    after = (
        " once corrected for multiple comparisons"
        if c.p_adjusted is not None and not low <= c.null <= high
        else ""
    )
    return (
        f"{prefix}No difference shown{after} between {c.a} and {c.b} on `{c.metric}` "
        f"over {cases}: {effect} ({level} CI {c.interval_text()}, {p_text}). "
        f"The data could miss {miss} (80% power needs ≥ {c.format(c.mde)}).{tail}"
    )


def _with_verdict(c: PairedComparison) -> PairedComparison:
    return dataclasses.replace(c, verdict=_paired_verdict(c))


def _shared(
    a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]]
) -> tuple[list[str], int]:
    present_a = {k for k, v in a.items() if len(v) > 0}
    present_b = {k for k, v in b.items() if len(v) > 0}
    shared = [k for k in a if k in present_a and k in present_b]
    return shared, len(present_a ^ present_b)


def compare_paired(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    metric: str,
    label_a: str,
    label_b: str,
    binary: bool | None = None,
    clusters: Mapping[str, str] | None = None,
    higher_is_better: bool = True,
    seed: int = 0,
    simulated: bool = False,
    left_out: Mapping[str, int] | None = None,
    confidence: float = 0.95,
    unit: str = "points",
) -> PairedComparison:
    """Compare arm a with arm b on the cases both answered: a and b map case id → that case's
    values (its repeats). Repeats are averaged per case first (R1).

    - binary (all values 0/1; `binary=None` detects it) with one value per case per arm and no
      clusters: McNemar's exact test; Δ = (b − c)/n with SE = √(b + c − (b − c)²/n)/n (b, c
      the discordant counts, R4), the interval Δ ± t_{n−1}·SE (the t quantile rather than z,
      the same small-sample caution as the paired t);
    - otherwise (repeats, or continuous scores): the paired t interval and two-sided t
      p-value on the per-case differences (R3);
    - with `clusters` (case id → cluster): the clustered SE of the differences, with
      C − 1 degrees of freedom for C clusters.

    The MDE is (z_{1−α/2} + z_{0.8})·SE: the effect 80% power needs, from the observed
    spread of the differences. Cases answered by only one arm are counted in
    `left_out["not shared"]`. `unit="points"` reports rates in percentage points; give the
    metric's own unit (e.g. "s") for continuous values. `seed` is unused by these tests and
    kept for a uniform signature.
    """
    del seed  # the analytic tests are not random
    shared, unshared = _shared(a, b)
    excluded = dict(left_out or {})
    if unshared:
        excluded["not shared"] = excluded.get("not shared", 0) + unshared
    n_calls = sum(len(a[k]) + len(b[k]) for k in shared)
    if binary is None:
        binary = bool(shared) and all(v in (0, 1) for k in shared for v in (*a[k], *b[k]))
    means_a = [statistics.fmean(a[k]) for k in shared]
    means_b = [statistics.fmean(b[k]) for k in shared]
    n = len(shared)
    single = all(len(a[k]) == 1 and len(b[k]) == 1 for k in shared)
    alpha = 1 - confidence
    base = PairedComparison(
        metric=metric,
        a=label_a,
        b=label_b,
        delta=math.nan,
        ci=(math.nan, math.nan),
        p_value=math.nan,
        test="McNemar exact" if binary and single and clusters is None else "paired t",
        n_cases=n,
        n_calls=n_calls,
        mde=math.nan,
        mean_a=statistics.fmean(means_a) if n else math.nan,
        mean_b=statistics.fmean(means_b) if n else math.nan,
        higher_is_better=higher_is_better,
        simulated=simulated,
        left_out=excluded,
        confidence=confidence,
        unit=unit,
        binary=binary,
    )
    differences = [x - y for x, y in zip(means_a, means_b, strict=True)]
    if n == 0:
        return _with_verdict(base)
    delta = statistics.fmean(differences)
    if n < 2:
        return _with_verdict(dataclasses.replace(base, delta=delta))
    cluster_count: int | None = None
    if clusters is not None:
        labels = [clusters[k] for k in shared]
        cluster_count = len(set(labels))
        se = stats.clustered_standard_error(differences, labels)
        df = float(cluster_count - 1)
    elif base.test == "McNemar exact":
        only_a = sum(1 for d in differences if d > 0)
        only_b = sum(1 for d in differences if d < 0)
        se = math.sqrt(max(0.0, only_a + only_b - (only_a - only_b) ** 2 / n)) / n
        df = float(n - 1)
    else:
        se = statistics.stdev(differences) / math.sqrt(n)
        df = float(n - 1)
    if df < 1 or math.isnan(se):
        return _with_verdict(dataclasses.replace(base, delta=delta, clusters=cluster_count))
    half = stats.t_quantile(1 - alpha / 2, df) * se
    if base.test == "McNemar exact":
        p_value = stats.mcnemar_exact(only_a, only_b)
    elif se == 0:
        p_value = 1.0 if delta == 0 else 0.0
    else:
        p_value = t_p_value(delta / se, df)
    mde = stats.minimum_detectable_effect(se * math.sqrt(n), n, alpha=alpha, power=POWER)
    return _with_verdict(
        dataclasses.replace(
            base,
            delta=delta,
            ci=(delta - half, delta + half),
            p_value=p_value,
            mde=mde,
            clusters=cluster_count,
        )
    )


def compare_ratio(
    a: Mapping[str, Sequence[float]],
    b: Mapping[str, Sequence[float]],
    *,
    metric: str,
    label_a: str,
    label_b: str,
    seed: int = 0,
    resamples: int = 2000,
    simulated: bool = False,
    left_out: Mapping[str, int] | None = None,
    lower_is_better: bool = True,
    confidence: float = 0.95,
    clusters: Mapping[str, str] | None = None,
) -> PairedComparison:
    """The geometric-mean ratio a/b of per-case medians (latency, cost, tokens) with its
    case-level paired bootstrap interval (R5); `test="paired bootstrap"`.

    The p-value is two-sided from the same resamples: twice the share of resampled
    log-ratios on the other side of 0 from the estimate, at least 1/resamples. The MDE is a
    ratio: exp((z_{1−α/2} + z_{0.8})·sd(log-ratios)/√n), the smallest factor (either way)
    80% power detects. Cases whose median is not positive cannot form a ratio; they are
    left out and counted in `left_out["not positive"]`. `mean_a`/`mean_b` are the geometric
    means of the per-case medians.
    """
    shared, unshared = _shared(a, b)
    excluded = dict(left_out or {})
    if unshared:
        excluded["not shared"] = excluded.get("not shared", 0) + unshared
    positive = [k for k in shared if statistics.median(a[k]) > 0 and statistics.median(b[k]) > 0]
    if len(positive) < len(shared):
        excluded["not positive"] = excluded.get("not positive", 0) + len(shared) - len(positive)
    a_kept = {k: a[k] for k in positive}
    b_kept = {k: b[k] for k in positive}
    logs = resampling.log_ratios(a_kept, b_kept)
    n = len(logs)
    alpha = 1 - confidence

    def geometric(values: Mapping[str, Sequence[float]]) -> float:
        if not n:
            return math.nan
        return math.exp(statistics.fmean(math.log(statistics.median(values[k])) for k in logs))

    base = PairedComparison(
        metric=metric,
        a=label_a,
        b=label_b,
        delta=resampling.geometric_mean_ratio(a_kept, b_kept),
        ci=(math.nan, math.nan),
        p_value=math.nan,
        test="paired bootstrap",
        n_cases=n,
        n_calls=sum(len(a[k]) + len(b[k]) for k in positive),
        mde=math.nan,
        mean_a=geometric(a_kept),
        mean_b=geometric(b_kept),
        higher_is_better=not lower_is_better,
        simulated=simulated,
        left_out=excluded,
        confidence=confidence,
        unit="×",
        ratio=True,
        clusters=len({clusters[k] for k in logs}) if clusters is not None else None,
    )
    independent = base.clusters if base.clusters is not None else n
    if independent < 2:
        return _with_verdict(base)
    cases = list(logs)

    def mean_log(ids: Sequence[str]) -> float:
        return statistics.fmean(logs[i] for i in ids)

    samples = sorted(
        resampling.bootstrap_samples(
            cases, mean_log, resamples=resamples, seed=seed, clusters=clusters
        )
    )
    tail = alpha / 2 * 100
    low = math.exp(stats.percentile(samples, tail))
    high = math.exp(stats.percentile(samples, 100 - tail))
    estimate = statistics.fmean(logs.values())
    other_side = sum(1 for s in samples if (s <= 0 if estimate > 0 else s >= 0))
    p_value = min(1.0, max(1 / resamples, 2 * other_side / len(samples)))
    sd = statistics.stdev(logs.values())
    mde = math.exp(stats.minimum_detectable_effect(sd, n, alpha=alpha, power=POWER))
    return _with_verdict(dataclasses.replace(base, ci=(low, high), p_value=p_value, mde=mde))


def adjust(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """Holm's correction over a family of comparisons (R8): each result gets `p_adjusted`
    and a verdict re-derived from it, so one that is "better" only before the correction
    is no longer called better. Comparisons without a p-value (too few cases) are returned
    as they are and do not count in the family."""
    tested = [i for i, c in enumerate(comparisons) if not math.isnan(c.p_value)]
    adjusted = stats.holm([comparisons[i].p_value for i in tested])
    result = list(comparisons)
    for i, p in zip(tested, adjusted, strict=True):
        result[i] = _with_verdict(
            dataclasses.replace(comparisons[i], p_adjusted=p, comparisons=len(tested))
        )
    return result


# --- pairwise judging ------------------------------------------------------------------------
Winner = Literal["a", "b", "tie"]


@dataclass(frozen=True)
class PairOutcome:
    """One case judged pairwise: `g1` the verdict with arm a in the first slot, `g2` with
    arm b in the first slot (None when the swap was off), each naming the winning *arm*."""

    case_id: str
    g1: Winner
    g2: Winner | None
    len_a: int = 0
    len_b: int = 0

    def __post_init__(self) -> None:
        for verdict in (self.g1, self.g2):
            if verdict is not None and verdict not in ("a", "b", "tie"):
                raise ValueError(f"PairOutcome verdicts are 'a', 'b' or 'tie', got {verdict!r}")

    @property
    def w(self) -> float:
        """1 when a won both orders, 0 when b did, ½ otherwise (R6); g1 alone without swap."""
        verdicts = [self.g1] if self.g2 is None else [self.g1, self.g2]
        if all(v == "a" for v in verdicts):
            return 1.0
        if all(v == "b" for v in verdicts):
            return 0.0
        return 0.5


@dataclass(frozen=True)
class PairwiseResult:
    """A pairwise judge's verdict on arm a against arm b, with its bias diagnostics.

    `win_rate` is the mean of per-case w (R6) with a case-bootstrap `ci`; `p_value` the sign
    test on the cases that are not ½; `position_consistency` the share of cases whose two
    orders agree (None without the swap); `first_slot_rate` the share of non-tie judgements
    won by whichever answer was shown first (≈ 0.5 for an unbiased judge);
    `length_controlled_win_rate` the Bradley–Terry prediction at equal lengths.
    """

    a: str
    b: str
    judge: str
    n_cases: int
    win_rate: float
    ci: tuple[float, float]
    p_value: float
    wins: int
    losses: int
    ties: int
    position_consistency: float | None
    first_slot_rate: float | None
    length_controlled_win_rate: float | None
    swapped: bool
    warnings: list[str] = field(default_factory=list)
    simulated: bool = False
    verdict: str = ""
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0.5 and the sign test's p is below 1 − confidence."""
        low, high = self.ci
        if math.isnan(low) or math.isnan(high) or low <= 0.5 <= high:
            return False
        return self.p_value < 1 - self.confidence

    @property
    def biased(self) -> bool:
        """The judge's order diagnostics are poor: consistency < 0.8, or the first slot wins
        outside 40–60% of decided judgements."""
        inconsistent = self.position_consistency is not None and self.position_consistency < 0.8
        slot = self.first_slot_rate is not None and not 0.4 <= self.first_slot_rate <= 0.6
        return inconsistent or slot

    def to_dict(self) -> dict[str, Any]:
        """Every field plus `significant`; NaN becomes None (JSON)."""
        data = dataclasses.asdict(self)
        data["significant"] = self.significant
        result: dict[str, Any] = _jsonable(data)
        return result

    def _rows(self) -> list[tuple[str, str]]:
        def share(value: float | None) -> str:
            return "n/a (no swap)" if value is None else _number(value, 2)

        low, high = self.ci
        rows = [
            ("A", self.a),
            ("B", self.b),
            ("judge", self.judge),
            ("win rate of A", _number(self.win_rate, 2)),
            (f"{_percent(self.confidence)} CI", f"{_number(low, 2)} to {_number(high, 2)}"),
            ("sign test p", _p(self.p_value)),
            ("A wins / B wins / split", f"{self.wins} / {self.losses} / {self.ties}"),
            ("cases", str(self.n_cases)),
            ("position consistency", share(self.position_consistency)),
            ("first-slot win rate", _number(self.first_slot_rate or math.nan, 2)),
            (
                "length-controlled win rate",
                "n/a"
                if self.length_controlled_win_rate is None
                else _number(self.length_controlled_win_rate, 2),
            ),
            ("both orders judged", "yes" if self.swapped else "no"),
        ]
        rows += [("warning", w) for w in self.warnings]
        if self.simulated:
            rows.append(("data", "SIMULATED"))
        return rows

    def __str__(self) -> str:
        return self.verdict

    def _repr_markdown_(self) -> str:
        return _markdown_table(self._rows(), self.verdict)

    def _repr_html_(self) -> str:
        return _html_table(self._rows(), self.verdict)


def _pairwise_verdict(r: PairwiseResult) -> str:
    prefix = "SIMULATED — " if r.simulated else ""
    cases = f"{r.n_cases} case{'' if r.n_cases == 1 else 's'}"
    low, high = r.ci
    if r.n_cases < 2 or math.isnan(low):
        head = (
            f"{prefix}Too few cases judged to compare {r.a} with {r.b} ({cases}; at least 2 "
            "are needed): no interval, no verdict."
        )
    elif r.significant:
        better = r.a if r.win_rate > 0.5 else r.b
        head = (
            f"{prefix}On {cases}, {r.judge} prefers {better}: win rate of {r.a} over {r.b} "
            f"{_number(r.win_rate, 2)} ({_percent(r.confidence)} CI {_number(low, 2)} to "
            f"{_number(high, 2)}; sign test p {_p_is(r.p_value)}): {better} is better by "
            "this judge."
        )
    elif r.wins == 0 and r.losses == 0:
        head = (
            f"{prefix}No preference shown on {cases}: every case was a tie (the same verdict "
            "for both, or different verdicts in the two orders), so the judge separated "
            f"{r.a} and {r.b} on none of them."
        )
    else:
        worst = max(low, high, key=lambda v: abs(v - 0.5))
        head = (
            f"{prefix}No preference shown on {cases}: win rate of {r.a} over {r.b} "
            f"{_number(r.win_rate, 2)} ({_percent(r.confidence)} CI {_number(low, 2)} to "
            f"{_number(high, 2)}, sign test p {_p_is(r.p_value)}). The data could miss a "
            f"win rate as far from 0.5 as {_number(worst, 2)}."
        )
    notes = []
    if not r.swapped:
        notes.append("Judged in one order only, so position bias is not cancelled.")
    if r.biased:
        parts = []
        if r.position_consistency is not None:
            parts.append(
                f"gave the same verdict in both orders on {r.position_consistency:.0%} of cases"
            )
        if r.first_slot_rate is not None:
            parts.append(f"gave the first slot {r.first_slot_rate:.0%} of its wins")
        notes.append(
            f"Judge bias: {r.judge} " + " and ".join(parts) + "; read the verdict with care."
        )
    if r.length_controlled_win_rate is not None and r.n_cases >= 2:
        notes.append(f"Length-controlled win rate {_number(r.length_controlled_win_rate, 2)}.")
    return " ".join([head, *notes])


def pairwise_result(
    outcomes: Sequence[PairOutcome],
    *,
    label_a: str,
    label_b: str,
    judge: str,
    seed: int = 0,
    warnings: Sequence[str] = (),
    simulated: bool = False,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> PairwiseResult:
    """Summarise pairwise judgements of arm a against arm b (R6): the win rate with a seeded
    case-bootstrap interval, the sign test, position consistency, the first-slot rate and a
    length-controlled win rate (Bradley–Terry with the length covariate, at equal lengths).

    Several outcomes for one case id are resampled together. Cases judged in one order only
    count from g1 and are named in a warning when others were swapped.
    """
    notes = list(warnings)
    n = len(outcomes)
    w = [o.w for o in outcomes]
    wins = sum(1 for x in w if x == 1.0)
    losses = sum(1 for x in w if x == 0.0)
    ties = n - wins - losses
    swapped_count = sum(1 for o in outcomes if o.g2 is not None)
    swapped = n > 0 and swapped_count == n
    if 0 < swapped_count < n:
        notes.append(f"{n - swapped_count} of {n} cases were judged in one order only.")
    both = [o for o in outcomes if o.g2 is not None]
    consistency = sum(1 for o in both if o.g1 == o.g2) / len(both) if both else None
    first_wins = decided = 0
    for o in outcomes:
        if o.g1 != "tie":
            decided += 1
            first_wins += o.g1 == "a"
        if o.g2 is not None and o.g2 != "tie":
            decided += 1
            first_wins += o.g2 == "b"
    first_slot = first_wins / decided if decided else None
    win_rate = statistics.fmean(w) if n else math.nan
    by_case: dict[str, list[float]] = {}
    for o in outcomes:
        by_case.setdefault(o.case_id, []).append(o.w)
    ci: tuple[float, float] = (math.nan, math.nan)
    if len(by_case) >= 2:

        def mean_w(ids: Sequence[str]) -> float:
            values = [x for i in ids for x in by_case[i]]
            return statistics.fmean(values)

        interval = resampling.bootstrap_interval(
            list(by_case), mean_w, resamples=resamples, seed=seed, confidence=confidence
        )
        ci = (interval.low, interval.high)
    p_value = stats.sign_test(wins, losses) if n else math.nan
    controlled: float | None = None
    if n >= 2 and any(o.len_a + o.len_b > 0 for o in outcomes):
        battles = [_battle(o) for o in outcomes]
        result = bradley_terry.fit(battles, arms=["a", "b"], length_control=True)
        controlled = bradley_terry.win_probability(result, "a", "b", 0.0)
    pairwise = PairwiseResult(
        a=label_a,
        b=label_b,
        judge=judge,
        n_cases=len(by_case),
        win_rate=win_rate,
        ci=ci,
        p_value=p_value,
        wins=wins,
        losses=losses,
        ties=ties,
        position_consistency=consistency,
        first_slot_rate=first_slot,
        length_controlled_win_rate=controlled,
        swapped=swapped,
        warnings=notes,
        simulated=simulated,
        confidence=confidence,
    )
    return dataclasses.replace(pairwise, verdict=_pairwise_verdict(pairwise))


def _battle(outcome: PairOutcome) -> bradley_terry.Battle:
    """A pair outcome as one Bradley–Terry battle of arm "a" against arm "b" (w as outcome)."""
    return bradley_terry.Battle(outcome.case_id, "a", "b", outcome.w, outcome.len_a, outcome.len_b)


# --- more than two arms ----------------------------------------------------------------------
@dataclass(frozen=True)
class RankRow:
    """One arm of a ranking: strength (log-odds against the reference arm) and the
    probability of beating the reference arm, each with a bootstrap interval."""

    arm: str
    strength: float
    low: float
    high: float
    win_probability: float
    win_low: float
    win_high: float


@dataclass(frozen=True)
class Ranking:
    """Bradley–Terry ranking of several arms from pairwise battles, strongest first."""

    rows: tuple[RankRow, ...]
    reference: str
    n_cases: int
    n_battles: int
    length_controlled: bool
    gamma: float
    lead: tuple[float, float] = (math.nan, math.nan)
    simulated: bool = False
    confidence: float = 0.95
    resamples: int = 500
    seed: int = 0

    @property
    def verdict(self) -> str:
        """One sentence: who leads, and whether its lead over the runner-up is shown."""
        prefix = "SIMULATED — " if self.simulated else ""
        if len(self.rows) < 2:
            return f"{prefix}Nothing to rank."
        top, second = self.rows[0], self.rows[1]
        lc = " (length-controlled)" if self.length_controlled else ""
        low, high = self.lead
        level = _percent(self.confidence)
        if math.isnan(low) or math.isnan(high):
            shown = "no interval (too few cases)"
        elif low > 0:
            shown = (
                f"its lead over {second.arm} is shown ({level} CI of the strength difference "
                f"{_number(low, 2)} to {_number(high, 2)})"
            )
        else:
            shown = (
                f"its lead over {second.arm} is not shown ({level} CI of the strength "
                f"difference {_number(low, 2)} to {_number(high, 2)} includes 0)"
            )
        return (
            f"{prefix}Bradley–Terry{lc} over {self.n_battles} judgements on {self.n_cases} "
            f"cases: {top.arm} ranks first; {shown}."
        )

    def _table(self) -> list[tuple[str, str, str, str, str]]:
        level = _percent(self.confidence)
        header = (
            "arm",
            "strength",
            f"{level} CI",
            f"P(beats {self.reference})",
            f"{level} CI",
        )
        body = [
            (
                row.arm,
                _number(row.strength, 2),
                f"{_number(row.low, 2)} to {_number(row.high, 2)}",
                _number(row.win_probability, 2),
                f"{_number(row.win_low, 2)} to {_number(row.win_high, 2)}",
            )
            for row in self.rows
        ]
        return [header, *body]

    def to_dict(self) -> dict[str, Any]:
        """Every field plus the verdict; NaN becomes None (JSON)."""
        data = dataclasses.asdict(self)
        data["verdict"] = self.verdict
        result: dict[str, Any] = _jsonable(data)
        return result

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in self._table()) for i in range(5)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in self._table()
        ]
        return "\n".join([*lines, "", self.verdict])

    def _repr_markdown_(self) -> str:
        table = self._table()
        lines = ["| " + " | ".join(_md(c) for c in table[0]) + " |", "|---" * 5 + "|"]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in table[1:]]
        return "\n".join(lines) + "\n\n" + _md(self.verdict) + "\n"

    def _repr_html_(self) -> str:
        table = self._table()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in table[1:]
        )
        return f"<div><table><tr>{head}</tr>{body}</table><p>{html.escape(self.verdict)}</p></div>"


def rank_arms(
    battles: Sequence[bradley_terry.Battle],
    *,
    seed: int = 0,
    resamples: int = 500,
    length_control: bool = False,
    simulated: bool = False,
    confidence: float = 0.95,
    arms: Sequence[str] | None = None,
) -> Ranking:
    """Rank more than two arms from pairwise battles (Bradley–Terry, ties as half wins),
    with case-bootstrap intervals on each strength and on each arm's probability of beating
    the reference arm (`arms[0]`, else the first arm seen)."""
    boot = bradley_terry.bootstrap(
        battles,
        arms=arms,
        length_control=length_control,
        resamples=resamples,
        seed=seed,
        confidence=confidence,
    )
    point = boot.fit
    reference = point.arms[0]
    tail = (1 - confidence) / 2 * 100
    rows = []
    for arm in point.arms:
        probabilities = sorted(
            bradley_terry.win_probability(r, arm, reference) for r in boot.replicates
        )
        interval = boot.intervals[arm]
        rows.append(
            RankRow(
                arm=arm,
                strength=point.strengths[arm],
                low=interval.low,
                high=interval.high,
                win_probability=bradley_terry.win_probability(point, arm, reference),
                win_low=stats.percentile(probabilities, tail),
                win_high=stats.percentile(probabilities, 100 - tail),
            )
        )
    rows.sort(key=lambda r: r.strength, reverse=True)
    lead: tuple[float, float] = (math.nan, math.nan)
    if boot.replicates and len(rows) >= 2:
        first, second = rows[0].arm, rows[1].arm
        gaps = sorted(r.strengths[first] - r.strengths[second] for r in boot.replicates)
        lead = (stats.percentile(gaps, tail), stats.percentile(gaps, 100 - tail))
    return Ranking(
        rows=tuple(rows),
        reference=reference,
        n_cases=point.n_cases,
        n_battles=point.n_battles,
        length_controlled=length_control,
        gamma=point.gamma,
        lead=lead,
        simulated=simulated,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
