"""Statistics on fixed data, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from nvgw_nb import stats


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 90, 3.7),  # 3 + 0.7·(4-3)
        ([10], 90, 10.0),
        ([5, 1, 3], 0, 1.0),
        ([5, 1, 3], 100, 5.0),
    ],
)
def test_percentile_interpolates(values: list[float], q: float, expected: float) -> None:
    """Linear interpolation between order statistics (numpy's default)."""
    assert stats.percentile(values, q) == pytest.approx(expected)


def test_median_and_empty() -> None:
    assert stats.median([3, 1, 2]) == 2
    assert math.isnan(stats.median([]))
    assert math.isnan(stats.percentile([], 50))


def test_bootstrap_ci_needs_five_values() -> None:
    """Two to four samples get no interval: it would look far more precise than it is."""
    assert all(math.isnan(x) for x in stats.bootstrap_ci([1.0, 2.0, 3.0, 4.0]))
    assert not any(math.isnan(x) for x in stats.bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0]))


def test_bootstrap_ci_of_constant_data_is_a_point() -> None:
    """No spread in the data, no spread in the interval."""
    assert stats.bootstrap_ci([2.0] * 10) == (2.0, 2.0)


def test_bootstrap_ci_brackets_the_median_and_is_reproducible() -> None:
    """The CI contains the sample median, lies within the data range, and is seeded."""
    data = [1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 10.0, 1.5, 2.2, 2.8]
    low, high = stats.bootstrap_ci(data)
    assert min(data) <= low <= stats.median(data) <= high <= max(data)
    assert stats.bootstrap_ci(data) == (low, high)
    assert stats.bootstrap_ci(data, seed=1) != (low, high)


def test_paired_ratio_hand_computed() -> None:
    """Per-prompt ratios 2, 2, 3, 4, 2 → median 2; the CI lies within [2, 4]."""
    ratio, low, high = stats.paired_ratio([1, 2, 1, 1, 5], [2, 4, 3, 4, 10])
    assert ratio == pytest.approx(2.0)
    assert 2 <= low <= ratio <= high <= 4


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("the cat sat", "the cat sat", 1.0),
        ("The cat sat.", "the CAT sat.", 1.0),  # case-folded
        ("a b c d", "a b x y", 0.5),  # 2·2 matches / 8 tokens
        ("", "", 1.0),
        ("alpha", "", 0.0),
    ],
)
def test_similarity(a: str, b: str, expected: float) -> None:
    """Word-level SequenceMatcher ratio."""
    assert stats.similarity(a, b) == pytest.approx(expected)
