"""The case-level bootstrap and the geometric-mean ratio: determinism, clusters, coverage."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence

import pytest

from nvgw_nb import resampling


def _mean_of(scores: dict[str, float]) -> Callable[[Sequence[str]], float]:
    def mean(ids: Sequence[str]) -> float:
        return statistics.fmean(scores[i] for i in ids)

    return mean


def test_same_seed_same_interval_other_seed_other_interval() -> None:
    """The bootstrap is seeded: same seed, same bounds; another seed moves them a little."""
    rng = random.Random(3)
    scores = {f"c{i}": rng.random() for i in range(30)}
    first = resampling.bootstrap_interval(list(scores), _mean_of(scores), seed=5)
    again = resampling.bootstrap_interval(list(scores), _mean_of(scores), seed=5)
    other = resampling.bootstrap_interval(list(scores), _mean_of(scores), seed=6)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.estimate == pytest.approx(statistics.fmean(scores.values()))
    assert first.low < first.estimate < first.high
    assert first.n == 30


def test_coverage_of_a_mean_is_near_nominal() -> None:
    """Over 200 seeded samples of 40 normal values, the 95% interval covers the true mean
    in roughly 95% of them (percentile bootstrap runs a little narrow at n = 40)."""
    covered = 0
    for trial in range(200):
        rng = random.Random(trial)
        scores = {f"c{i}": rng.gauss(1.0, 2.0) for i in range(40)}
        interval = resampling.bootstrap_interval(
            list(scores), _mean_of(scores), resamples=400, seed=trial
        )
        covered += interval.low <= 1.0 <= interval.high
    assert 176 <= covered <= 200  # 88% .. 100%


def test_clusters_are_drawn_whole() -> None:
    """With clusters, a resample holds whole clusters: every drawn id comes with its mates."""
    units = ["a1", "a2", "b1", "b2", "b3", "c1"]
    clusters = {u: u[0] for u in units}
    seen: list[list[str]] = []

    def record(ids: Sequence[str]) -> float:
        seen.append(list(ids))
        return float(len(ids))

    resampling.bootstrap_samples(units, record, resamples=50, seed=1, clusters=clusters)
    for drawn in seen:
        for cluster in "abc":
            members = [u for u in units if u[0] == cluster]
            count = sum(u in members for u in drawn)
            assert count % len(members) == 0
            assert all(drawn.count(m) == drawn.count(members[0]) for m in members)


def test_clustered_interval_is_wider_when_clusters_move_together() -> None:
    """Cases within a cluster share their score: the cluster bootstrap is wider than the
    case bootstrap, which wrongly treats them as independent."""
    rng = random.Random(0)
    scores: dict[str, float] = {}
    clusters: dict[str, str] = {}
    for c in range(8):
        level = rng.gauss(0, 1)
        for i in range(6):
            scores[f"k{c}-{i}"] = level + rng.gauss(0, 0.1)
            clusters[f"k{c}-{i}"] = f"k{c}"
    naive = resampling.bootstrap_interval(list(scores), _mean_of(scores))
    clustered = resampling.bootstrap_interval(list(scores), _mean_of(scores), clusters=clusters)
    assert clustered.high - clustered.low > 1.8 * (naive.high - naive.low)


def test_undefined_resamples_are_skipped_or_refused() -> None:
    """A few undefined resamples are skipped; mostly undefined raises ValueError."""
    units = [f"c{i}" for i in range(20)]

    def sometimes(ids: Sequence[str]) -> float:
        return math.nan if "c0" in ids and "c1" in ids and "c2" in ids else 1.0

    kept = resampling.bootstrap_samples(units, sometimes, resamples=200, seed=0)
    assert 100 < len(kept) < 200

    def mostly(ids: Sequence[str]) -> float:
        if "c0" in ids:
            raise ZeroDivisionError
        return 1.0

    # P(c0 drawn in 20 draws) = 1 − 0.95^20 ≈ 0.64: more than half undefined
    with pytest.raises(ValueError, match="undefined"):
        resampling.bootstrap_samples(units, mostly, resamples=200, seed=0)


def test_fewer_than_two_units_give_nan_bounds() -> None:
    """One case (or one cluster) has no bootstrap interval."""
    interval = resampling.bootstrap_interval(["c1"], lambda ids: 1.0)
    assert interval.estimate == 1.0
    assert math.isnan(interval.low)
    assert math.isnan(interval.high)
    one_cluster = resampling.bootstrap_interval(
        ["a", "b"], lambda ids: 1.0, clusters={"a": "x", "b": "x"}
    )
    assert math.isnan(one_cluster.low)


def test_geometric_mean_ratio_by_hand() -> None:
    """Medians per case first (repeats), then exp(mean log ratio) over shared cases only."""
    a = {"c1": [1.0, 2.0, 3.0], "c2": [8.0], "only_a": [5.0]}
    b = {"c1": [1.0], "c2": [2.0], "only_b": [1.0]}
    # c1: 2/1, c2: 8/2 → exp((log 2 + log 4)/2) = √8
    assert resampling.geometric_mean_ratio(a, b) == pytest.approx(math.sqrt(8))
    assert resampling.geometric_mean_ratio({"x": [2.0], "y": [1.0]}, {"x": [1.0], "y": [2.0]}) == (
        pytest.approx(1.0)
    )
    assert math.isnan(resampling.geometric_mean_ratio({"x": [1.0]}, {"y": [1.0]}))


def test_ratio_refuses_non_positive_values() -> None:
    """A zero latency has no ratio: the error names the case."""
    with pytest.raises(ValueError, match="c2"):
        resampling.geometric_mean_ratio({"c1": [1.0], "c2": [0.0]}, {"c1": [1.0], "c2": [1.0]})


def test_ratio_interval_brackets_a_known_ratio() -> None:
    """Arm a is 2× arm b with multiplicative noise: the interval is around 2 and excludes 1."""
    rng = random.Random(11)
    a: dict[str, list[float]] = {}
    b: dict[str, list[float]] = {}
    for i in range(50):
        base = rng.uniform(0.5, 3.0)
        a[f"c{i}"] = [2 * base * math.exp(rng.gauss(0, 0.2)) for _ in range(3)]
        b[f"c{i}"] = [base * math.exp(rng.gauss(0, 0.2)) for _ in range(3)]
    interval = resampling.ratio_interval(a, b, seed=2)
    assert interval.n == 50
    assert interval.low < 2.0 < interval.high
    assert interval.excludes(1.0)
    assert interval.estimate == pytest.approx(resampling.geometric_mean_ratio(a, b))
    assert resampling.ratio_interval(a, b, seed=2) == interval
