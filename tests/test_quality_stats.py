"""The answer-quality statistics: hand-worked examples, and scipy on random data to 1e-9.

scipy is a test dependency only: `nvgw_nb.stats` stays pure Python.
"""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats as scipy_stats

from nvgw_nb import stats


# --- hand-worked examples ---------------------------------------------------------------------
def test_wilson_seven_of_ten_by_hand() -> None:
    """7/10: centre (0.7 + 1.96²/20)/(1 + 1.96²/10), half-width as the formula says."""
    z = stats.normal_quantile(0.975)
    centre = (0.7 + z * z / 20) / (1 + z * z / 10)
    half = z * math.sqrt(0.7 * 0.3 / 10 + z * z / 400) / (1 + z * z / 10)
    interval = stats.wilson_interval(7, 10)
    assert (interval.low, interval.high) == pytest.approx((centre - half, centre + half))
    assert interval.estimate == 0.7
    assert interval.n == 10


@pytest.mark.parametrize(("passed", "n"), [(0, 20), (20, 20)])
def test_wilson_stays_inside_zero_and_one(passed: int, n: int) -> None:
    """At 0 or n passes the interval is still a real interval inside [0, 1]."""
    interval = stats.wilson_interval(passed, n)
    assert 0.0 <= interval.low < interval.high <= 1.0
    assert interval.excludes(0.5)


def test_rule_of_three() -> None:
    """No failure in 60 cases: the failure rate is below ~5% (3/60)."""
    assert stats.rule_of_three(60) == 0.05


def test_mean_interval_by_hand() -> None:
    """[1, 2, 3, 4]: mean 2.5, sd √(5/3), half-width t(0.975, 3)·sd/2."""
    interval = stats.mean_interval([1, 2, 3, 4])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert interval.estimate == 2.5
    assert (interval.low, interval.high) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-9)


def test_paired_difference_cancels_case_difficulty() -> None:
    """Hard cases are hard for both arms: paired, a steady +0.1 is shown; the arms' own
    spread would hide it."""
    a = [0.1, 0.5, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4]
    b = [x - 0.1 + (0.01 if i % 2 else -0.01) for i, x in enumerate(a)]
    paired = stats.paired_difference(a, b)
    assert paired.estimate == pytest.approx(0.1)
    assert paired.excludes(0.0)
    unpaired_half = 1.96 * math.sqrt(
        (math.fsum((x - 0.4875) ** 2 for x in a) / 7 + math.fsum((y - 0.3875) ** 2 for y in b) / 7)
        / 8
    )
    assert unpaired_half > 0.1  # the unpaired interval would contain zero


def test_paired_difference_needs_pairs() -> None:
    """Arms of different length are not pairs."""
    with pytest.raises(ValueError, match="one value per case"):
        stats.paired_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("a_only", "b_only", "expected"),
    [
        (0, 0, 1.0),
        (5, 0, 2 * (1 / 32)),  # both tails of Binomial(5, ½) at the extreme
        (8, 2, 2 * (1 + 10 + 45) / 1024),
        (3, 3, 1.0),
    ],
)
def test_mcnemar_exact_by_hand(a_only: int, b_only: int, expected: float) -> None:
    """p = min(1, 2·Σ_{j≤min(b,c)} C(b+c, j)/2^(b+c))."""
    assert stats.mcnemar_exact(a_only, b_only) == pytest.approx(expected)


def test_holm_by_hand() -> None:
    """p = (0.01, 0.04, 0.03) → sorted 0.01·3, 0.03·2, 0.04·1 → monotone (0.03, 0.06, 0.06)."""
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_minimum_detectable_effect_matches_the_rule_of_thumb() -> None:
    """σ_d ≈ 0.71 (independent pass/fail arms at p ≈ 0.5): n = 20 → ~44 points, n = 100 → ~20."""
    assert stats.minimum_detectable_effect(0.71, 20) == pytest.approx(0.445, abs=0.005)
    assert stats.minimum_detectable_effect(0.71, 100) == pytest.approx(0.199, abs=0.005)


def test_clustered_standard_error_by_hand() -> None:
    """Two clusters of two: deviations sum to ±1 per cluster → √(2·2)/4 = 0.5."""
    values = [0.0, 0.0, 1.0, 1.0]
    assert stats.clustered_standard_error(values, ["a", "a", "b", "b"]) == pytest.approx(0.5)
    assert math.isnan(stats.clustered_standard_error(values, ["a"] * 4))


def test_cohen_kappa_by_hand() -> None:
    """Judge vs human on 10 items: p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5 → κ = 0.4."""
    judge = ["pass"] * 5 + ["fail"] * 5
    human = ["pass"] * 4 + ["fail"] + ["pass", "pass"] + ["fail"] * 3
    assert stats.cohen_kappa(judge, human) == pytest.approx(0.4)
    assert stats.cohen_kappa(judge, judge) == 1.0


def test_interval_excludes() -> None:
    """A difference is shown only when zero is outside the interval."""
    assert stats.Interval(0.2, 0.05, 0.35, 40).excludes(0.0)
    assert not stats.Interval(0.2, -0.05, 0.45, 40).excludes(0.0)


# --- against scipy, on random data ------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_t_quantile_matches_scipy(seed: int) -> None:
    """Student's t quantiles to 1e-9 over random degrees of freedom and levels."""
    rng = random.Random(seed)
    for _ in range(40):
        df = rng.choice([1, 2, 3, 4, 7, 12, 29, 60, 250]) + rng.random() * (seed % 2)
        q = rng.uniform(0.51, 0.9995)
        assert stats.t_quantile(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), abs=1e-9)
        assert stats.t_quantile(1 - q, df) == pytest.approx(scipy_stats.t.ppf(1 - q, df), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_mean_interval_matches_scipy(seed: int) -> None:
    """The t interval of a mean equals scipy's t.interval on the same sample."""
    rng = random.Random(seed)
    values = [rng.gauss(0.6, 0.2) for _ in range(rng.randint(3, 80))]
    interval = stats.mean_interval(values, level=0.9 if seed % 2 else 0.95)
    low, high = scipy_stats.t.interval(
        interval.level,
        len(values) - 1,
        loc=scipy_stats.tmean(values),
        scale=scipy_stats.sem(values),
    )
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_wilson_matches_scipy(seed: int) -> None:
    """Wilson intervals equal scipy's binomtest(...).proportion_ci(method='wilson')."""
    rng = random.Random(seed)
    for _ in range(20):
        n = rng.randint(1, 300)
        passed = rng.randint(0, n)
        ours = stats.wilson_interval(passed, n)
        ci = scipy_stats.binomtest(passed, n).proportion_ci(method="wilson")
        assert (ours.low, ours.high) == pytest.approx((ci.low, ci.high), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_mcnemar_and_sign_test_match_scipy(seed: int) -> None:
    """McNemar's exact test and the sign test are two-sided binomial tests at ½."""
    rng = random.Random(seed)
    for _ in range(20):
        a_only, b_only = rng.randint(0, 40), rng.randint(0, 40)
        if a_only + b_only == 0:
            continue
        expected = scipy_stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
        assert stats.mcnemar_exact(a_only, b_only) == pytest.approx(expected, abs=1e-9)
        assert stats.sign_test(a_only, b_only) == pytest.approx(expected, abs=1e-9)
