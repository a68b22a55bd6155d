"""Seeded case-level bootstrap (recipe R5) and the geometric-mean ratio of two arms.

The unit that is resampled is always a *case* (or a whole cluster of cases), never a single
call: the repeats of a case and both arms' answers to it travel together, so the interval
reflects how the result would move on other cases, not on other draws of the same cases.

Example::

    from nvgw_nb.resampling import ratio_interval

    latency = ratio_interval({"c1": [0.5, 0.6], "c2": [1.1]}, {"c1": [1.0], "c2": [2.0]})
    latency.estimate  # ≈ 0.53: arm a takes about half the time of arm b

Pure Python and seeded (`random.Random(seed)`): the same data and seed give the same interval.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from nvgw_nb import stats

__all__ = [
    "bootstrap_interval",
    "bootstrap_samples",
    "geometric_mean_ratio",
    "log_ratios",
    "ratio_interval",
]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def _resample(units: Sequence[K], groups: list[list[K]] | None, rng: random.Random) -> list[K]:
    if groups is None:
        n = len(units)
        return [units[rng.randrange(n)] for _ in range(n)]
    drawn: list[K] = []
    for _ in range(len(groups)):
        drawn.extend(groups[rng.randrange(len(groups))])
    return drawn


def _groups(units: Sequence[K], clusters: Mapping[K, str] | None) -> list[list[K]] | None:
    if clusters is None:
        return None
    by_cluster: dict[str, list[K]] = {}
    for unit in units:
        if unit not in clusters:
            raise ValueError(f"bootstrap: unit {unit!r} has no cluster")
        by_cluster.setdefault(clusters[unit], []).append(unit)
    return list(by_cluster.values())


def bootstrap_samples(
    units: Sequence[K],
    statistic: Callable[[Sequence[K]], T],
    *,
    resamples: int = 2000,
    seed: int = 0,
    clusters: Mapping[K, str] | None = None,
) -> list[T]:
    """`statistic` on `resamples` resamples of `units` drawn with replacement (whole
    clusters when `clusters` maps each unit to one), in draw order.

    A resample on which the statistic is undefined (it raises `ValueError` or
    `ArithmeticError`, or returns NaN) is skipped; a `ValueError` is raised when more than
    half are, since the surviving ones would no longer describe the data.
    """
    if resamples < 1:
        raise ValueError("bootstrap needs resamples >= 1")
    if not units:
        raise ValueError("bootstrap needs at least one unit")
    groups = _groups(units, clusters)
    rng = random.Random(seed)
    results: list[T] = []
    skipped = 0
    for _ in range(resamples):
        drawn = _resample(units, groups, rng)
        try:
            value = statistic(drawn)
        except (ValueError, ArithmeticError):
            skipped += 1
            continue
        if isinstance(value, float) and math.isnan(value):
            skipped += 1
            continue
        results.append(value)
    if skipped * 2 > resamples:
        raise ValueError(
            f"bootstrap: the statistic was undefined on {skipped} of {resamples} resamples"
        )
    return results


def bootstrap_interval(
    units: Sequence[K],
    statistic: Callable[[Sequence[K]], float],
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    clusters: Mapping[K, str] | None = None,
) -> stats.Interval:
    """Percentile bootstrap interval of `statistic` over resampled case ids (R5).

    `units` are case ids; `statistic` receives a resample of them (ids may repeat) and looks
    up whatever it needs (all repeats, both arms). With `clusters`, whole clusters are drawn.
    The estimate is the statistic on the original units; `n` is the number of units. Under
    two units (or two clusters) the bounds are NaN: a bootstrap of one case says nothing.

    >>> scores = {"c1": 1.0, "c2": 0.0, "c3": 1.0, "c4": 1.0}
    >>> mean = lambda ids: sum(scores[i] for i in ids) / len(ids)
    >>> bootstrap_interval(list(scores), mean, seed=1).estimate
    0.75
    """
    estimate = statistic(units) if units else math.nan
    independent = len(set(clusters[u] for u in units)) if clusters is not None else len(units)
    if independent < 2:
        return stats.Interval(estimate, math.nan, math.nan, len(units), confidence)
    values = sorted(
        bootstrap_samples(units, statistic, resamples=resamples, seed=seed, clusters=clusters)
    )
    tail = (1 - confidence) / 2 * 100
    return stats.Interval(
        estimate,
        stats.percentile(values, tail),
        stats.percentile(values, 100 - tail),
        len(units),
        confidence,
    )


def log_ratios(a: Mapping[K, Sequence[float]], b: Mapping[K, Sequence[float]]) -> dict[K, float]:
    """Per shared case, log(median of a's values / median of b's values).

    Cases missing from either arm, or with no values in one, are not shared and left out.
    Values must be positive (latencies, costs, token counts): a `ValueError` names the case
    otherwise, because a ratio to zero has no meaning and dropping it silently would hide it.
    """
    result: dict[K, float] = {}
    for case, values_a in a.items():
        values_b = b.get(case)
        if not values_a or not values_b:
            continue
        median_a, median_b = statistics.median(values_a), statistics.median(values_b)
        if median_a <= 0 or median_b <= 0:
            raise ValueError(
                f"ratio needs positive values; case {case!r} has medians {median_a} and {median_b}"
            )
        result[case] = math.log(median_a / median_b)
    return result


def geometric_mean_ratio(a: Mapping[K, Sequence[float]], b: Mapping[K, Sequence[float]]) -> float:
    """exp(mean over shared cases of log(median_a / median_b)): how many times a's value
    b's is, per case, averaged on the log scale (so 2× and 0.5× cancel). NaN with no shared
    case; positive values only (see `log_ratios`).

    >>> round(geometric_mean_ratio({"x": [2.0], "y": [1.0]}, {"x": [1.0], "y": [2.0]}), 9)
    1.0
    """
    logs = log_ratios(a, b)
    if not logs:
        return math.nan
    return math.exp(statistics.fmean(logs.values()))


def ratio_interval(
    a: Mapping[K, Sequence[float]],
    b: Mapping[K, Sequence[float]],
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    clusters: Mapping[K, str] | None = None,
) -> stats.Interval:
    """The geometric-mean ratio a/b with its case-level (or cluster) bootstrap interval.

    Each resample draws shared case ids with replacement and recomputes the ratio from those
    cases' per-case medians; `n` is the number of shared cases.
    """
    logs = log_ratios(a, b)
    cases = list(logs)

    def ratio(ids: Sequence[K]) -> float:
        return math.exp(statistics.fmean(logs[i] for i in ids)) if ids else math.nan

    return bootstrap_interval(
        cases, ratio, resamples=resamples, seed=seed, confidence=confidence, clusters=clusters
    )
