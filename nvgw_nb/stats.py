"""Small, dependency-free statistics for honest comparisons: medians, percentiles,
bootstrap confidence intervals, paired ratios and text similarity; and for answer
quality: t and Wilson intervals, paired differences, McNemar's exact and the sign test,
clustered standard errors, Holm's correction, the minimum detectable effect, Cohen's κ.

Pure Python on purpose: comparisons hold hundreds of numbers, not millions, and
`import nvgw_nb` must stay light (no numpy or pandas at import time).
"""

from __future__ import annotations

import difflib
import math
import random
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "MIN_N_FOR_CI",
    "Interval",
    "bootstrap_ci",
    "clustered_standard_error",
    "cohen_kappa",
    "holm",
    "mcnemar_exact",
    "mean_interval",
    "median",
    "minimum_detectable_effect",
    "normal_quantile",
    "paired_difference",
    "paired_geometric_ratio",
    "paired_ratio",
    "percentile",
    "rule_of_three",
    "sign_test",
    "similarity",
    "t_quantile",
    "wilson_interval",
    "words",
]

_WORD = re.compile(r"\w+|[^\w\s]")
#: fewer values than this get no confidence interval
MIN_N_FOR_CI = 5


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between order statistics."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[Sequence[float]], float] = median,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of `statistic`.

    NaNs for fewer than `MIN_N_FOR_CI` values: an interval from 2-4 samples looks far
    more precise than it is. Seeded, so the same data always gives the same interval.
    """
    if len(values) < MIN_N_FOR_CI:
        return math.nan, math.nan
    rng = random.Random(seed)
    n = len(values)
    estimates = sorted(
        statistic([values[rng.randrange(n)] for _ in range(n)]) for _ in range(resamples)
    )
    tail = (1 - level) / 2 * 100
    return percentile(estimates, tail), percentile(estimates, 100 - tail)


def paired_ratio(
    baseline: Sequence[float],
    other: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Median of per-pair ratios other/baseline, with a bootstrap CI over the pairs.

    Pairs are the same prompt on both providers, so prompt difficulty cancels out. Prefer
    `paired_geometric_ratio` (what `Comparison.summary()` reports): when the ratios fall in
    two groups, their median jumps from one group to the other between reruns.
    """
    ratios = [o / b for b, o in zip(baseline, other, strict=True) if b > 0]
    low, high = bootstrap_ci(ratios, level=level, resamples=resamples, seed=seed)
    return median(ratios), low, high


def paired_geometric_ratio(
    baseline: Sequence[float],
    other: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Geometric mean of per-pair ratios other/baseline (exp of the mean log ratio), with
    a seeded percentile bootstrap CI over the pairs (NaNs under `MIN_N_FOR_CI` pairs).

    Stable where the median of ratios is not: 2× and 0.5× cancel, and a gap between two
    groups of ratios moves it smoothly. Pairs with a non-positive value are left out (a
    ratio to 0 means nothing).

    >>> ratio, low, high = paired_geometric_ratio([1, 1, 1, 1, 1], [2, 2, 2, 2, 2])
    >>> round(ratio, 9), round(low, 9), round(high, 9)
    (2.0, 2.0, 2.0)
    """
    logs = [math.log(o / b) for b, o in zip(baseline, other, strict=True) if b > 0 and o > 0]
    low, high = bootstrap_ci(logs, _exp_mean, level=level, resamples=resamples, seed=seed)
    return _exp_mean(logs), low, high


def _exp_mean(logs: Sequence[float]) -> float:
    return math.exp(statistics.fmean(logs)) if logs else math.nan


def words(text: str) -> list[str]:
    """Word and punctuation tokens, case-folded."""
    return _WORD.findall(text.casefold())


def similarity(a: str, b: str) -> float:
    """Word-level similarity in [0, 1] (difflib's ratio over word tokens)."""
    left, right = words(a), words(b)
    if not left and not right:
        return 1.0
    return difflib.SequenceMatcher(None, left, right, autojunk=False).ratio()


# --- answer-quality statistics (the recipes of the experiments' design notes) ----------------
@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval, and the n it rests on."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def excludes(self, value: float = 0.0) -> bool:
        """True when `value` lies outside the interval (a difference is shown)."""
        return not self.low <= value <= self.high


def normal_quantile(q: float) -> float:
    """The standard normal distribution's `q` quantile."""
    return NormalDist().inv_cdf(q)


def t_quantile(q: float, df: float) -> float:
    """Student's t distribution's `q` quantile with `df` degrees of freedom.

    Hand-written (bisection on the CDF, from the regularised incomplete beta function)
    because `import nvgw_nb` must not pull in scipy; tests compare it with scipy to 1e-9.
    """
    if not 0 < q < 1 or df <= 0:
        raise ValueError("t_quantile needs 0 < q < 1 and df > 0")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_quantile(1 - q, df)
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < q:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if _t_cdf(mid, df) < q:
            low = mid
        else:
            high = mid
        if high - low < 1e-13 * max(1.0, high):
            break
    return (low + high) / 2


def _t_cdf(t: float, df: float) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (Lentz's continued fraction)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):  # the continued fraction converges fast on this side
        return 1 - _incomplete_beta(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 1000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1) < 1e-16:
            break
    return math.exp(log_front) * fraction / a


def mean_interval(values: Sequence[float], *, level: float = 0.95) -> Interval:
    """The mean with its t interval (n − 1 degrees of freedom); NaN bounds under n = 2.

    Give one value per case (repeats averaged first): n is the number of cases.
    """
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = statistics.fmean(values)
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, level)
    half = t_quantile(0.5 + level / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


def paired_difference(a: Sequence[float], b: Sequence[float], *, level: float = 0.95) -> Interval:
    """Mean of the per-case differences a − b with its t interval: the paired comparison
    (hard cases hard for both cancel out). `a[i]` and `b[i]` are the same case."""
    if len(a) != len(b):
        raise ValueError("paired_difference needs one value per case in each arm")
    return mean_interval([x - y for x, y in zip(a, b, strict=True)], level=level)


def wilson_interval(passed: int, n: int, *, level: float = 0.95) -> Interval:
    """A pass rate with its Wilson score interval (sound at 0 or n passes, unlike ±1.96·SE)."""
    if n <= 0 or not 0 <= passed <= n:
        raise ValueError("wilson_interval needs 0 <= passed <= n and n > 0")
    z = normal_quantile(0.5 + level / 2)
    rate = passed / n
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(rate, max(0.0, centre - half), min(1.0, centre + half), n, level)


def rule_of_three(n: int) -> float:
    """The ~95% upper bound on a failure rate after `n` passes and no failure: 3/n."""
    if n <= 0:
        raise ValueError("rule_of_three needs n > 0")
    return 3 / n


def clustered_standard_error(values: Sequence[float], clusters: Sequence[object]) -> float:
    """The standard error of the mean when cases come in clusters (one template or topic):
    √(C/(C−1) · Σ_c (Σ_{i∈c} (x_i − x̄))²) / n. It can be several times the naive one."""
    if len(values) != len(clusters):
        raise ValueError("clustered_standard_error needs one cluster per value")
    n = len(values)
    sums: dict[object, float] = {}
    mean = statistics.fmean(values) if n else math.nan
    for value, cluster in zip(values, clusters, strict=True):
        sums[cluster] = sums.get(cluster, 0.0) + (value - mean)
    count = len(sums)
    if count < 2:
        return math.nan
    return math.sqrt(count / (count - 1) * sum(s * s for s in sums.values())) / n


def _binomial_tail(k: int, n: int) -> float:
    """P(Binomial(n, ½) ≤ k)."""
    total: int = sum(math.comb(n, j) for j in range(k + 1))
    return total / (1 << n)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact p-value for paired pass/fail: `a_only` cases only A passed,
    `b_only` only B passed (the concordant cases carry no information)."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return min(1.0, 2 * _binomial_tail(min(a_only, b_only), discordant))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided sign-test p-value for wins against losses (ties dropped before)."""
    return mcnemar_exact(wins, losses)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the given order (for many comparisons)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def minimum_detectable_effect(
    sd_difference: float, n: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest paired difference `n` cases detect with this power (≈ 2.8·σ_d/√n):
    what a run "could have missed" when its interval contains zero."""
    if n <= 0:
        return math.inf
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    return z * sd_difference / math.sqrt(n)


def cohen_kappa(first: Sequence[object], second: Sequence[object]) -> float:
    """Cohen's κ between two raters of the same items (e.g. a judge and a human):
    (p_o − p_e)/(1 − p_e); 1 = full agreement, 0 = chance."""
    if len(first) != len(second) or not first:
        raise ValueError("cohen_kappa needs two equally long, non-empty lists of labels")
    n = len(first)
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    labels = set(first) | set(second)
    expected = sum((list(first).count(k) / n) * (list(second).count(k) / n) for k in labels)
    if expected == 1:
        return 1.0
    return (observed - expected) / (1 - expected)
