"""Small, dependency-free statistics for honest comparisons: medians, percentiles,
bootstrap confidence intervals, paired ratios and text similarity.

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

__all__ = [
    "MIN_N_FOR_CI",
    "bootstrap_ci",
    "median",
    "paired_ratio",
    "percentile",
    "similarity",
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

    Pairs are the same prompt on both providers, so prompt difficulty cancels out.
    """
    ratios = [o / b for b, o in zip(baseline, other, strict=True) if b > 0]
    low, high = bootstrap_ci(ratios, level=level, resamples=resamples, seed=seed)
    return median(ratios), low, high


def words(text: str) -> list[str]:
    """Word and punctuation tokens, case-folded."""
    return _WORD.findall(text.casefold())


def similarity(a: str, b: str) -> float:
    """Word-level similarity in [0, 1] (difflib's ratio over word tokens)."""
    left, right = words(a), words(b)
    if not left and not right:
        return 1.0
    return difflib.SequenceMatcher(None, left, right, autojunk=False).ratio()
