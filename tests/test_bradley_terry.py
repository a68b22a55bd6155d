"""Bradley–Terry: hand-made data, scipy.optimize on the same likelihood (tests only),
ties, separation, the length covariate, and the case bootstrap."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import optimize

from nvgw_nb import bradley_terry as bt


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_two_arms_is_the_logit_of_the_win_share() -> None:
    """Two arms, no ridge: β is the log-odds of the (tie-halved) win share."""
    battles = (
        [bt.Battle(f"w{i}", "a", "b", 1.0) for i in range(3)]
        + [bt.Battle("l", "a", "b", 0.0)]
        + [bt.Battle(f"t{i}", "b", "a", 0.5) for i in range(2)]
    )
    result = bt.fit(battles, ridge=0.0)
    # a: 3 wins + 2 half-wins in 6 battles = 4/6
    assert result.strengths["a"] == 0.0
    assert result.strengths["b"] == pytest.approx(-_logit(4 / 6), abs=1e-9)
    assert bt.win_probability(result, "a", "b") == pytest.approx(4 / 6, abs=1e-9)
    assert result.n_battles == 6
    assert result.n_cases == 6


def test_orientation_does_not_matter() -> None:
    """A battle (b, a, 0) is the same fact as (a, b, 1)."""
    one = bt.fit(
        [
            bt.Battle("c1", "a", "b", 1.0),
            bt.Battle("c2", "a", "b", 0.0),
            bt.Battle("c3", "a", "b", 1.0),
        ]
    )
    two = bt.fit(
        [
            bt.Battle("c1", "b", "a", 0.0),
            bt.Battle("c2", "b", "a", 1.0),
            bt.Battle("c3", "a", "b", 1.0),
        ],
        arms=["a", "b"],
    )
    assert one.strengths["b"] == pytest.approx(two.strengths["b"], abs=1e-9)


def _random_battles(seed: int, *, arms: int = 4, n: int = 150) -> list[bt.Battle]:
    rng = random.Random(seed)
    names = [f"arm{i}" for i in range(arms)]
    truth = {name: rng.gauss(0, 1) for name in names}
    battles = []
    for i in range(n):
        first, second = rng.sample(names, 2)
        len_first, len_second = rng.randint(20, 400), rng.randint(20, 400)
        lean = 0.8 * (len_first - len_second) / (len_first + len_second)
        p = 1 / (1 + math.exp(-(truth[first] - truth[second] + lean)))
        u = rng.random()
        outcome = 0.5 if abs(u - p) < 0.1 else (1.0 if u < p else 0.0)
        battles.append(bt.Battle(f"c{i // 2}", first, second, outcome, len_first, len_second))
    return battles


def _scipy_fit(battles: list[bt.Battle], arms: tuple[str, ...], length: bool, ridge: float):  # type: ignore[no-untyped-def]
    index = {arm: i - 1 for i, arm in enumerate(arms)}
    size = len(arms) - 1 + (1 if length else 0)
    x = np.zeros((len(battles), size))
    raw = np.array([(b.len_first - b.len_second) / (b.len_first + b.len_second) for b in battles])
    for row, battle in enumerate(battles):
        if index[battle.first_arm] >= 0:
            x[row, index[battle.first_arm]] += 1
        if index[battle.second_arm] >= 0:
            x[row, index[battle.second_arm]] -= 1
    if length:
        x[:, -1] = raw / math.sqrt(np.mean(raw**2))
    y = np.array([b.outcome for b in battles])

    def negative(theta: np.ndarray) -> float:
        eta = x @ theta
        return float(
            -np.sum(y * -np.logaddexp(0, -eta) + (1 - y) * -np.logaddexp(0, eta))
            + ridge / 2 * theta @ theta
        )

    def gradient(theta: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-(x @ theta)))
        return -(x.T @ (y - p)) + ridge * theta

    return optimize.minimize(
        negative, np.zeros(size), jac=gradient, method="BFGS", options={"gtol": 1e-11}
    ).x


@pytest.mark.parametrize("length", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_on_the_same_likelihood(seed: int, length: bool) -> None:
    """Random battles with ties and lengths: same optimum as scipy.optimize to 1e-6."""
    battles = _random_battles(seed)
    result = bt.fit(battles, length_control=length)
    expected = _scipy_fit(battles, result.arms, length, bt.DEFAULT_RIDGE)
    got = [result.strengths[arm] for arm in result.arms[1:]]
    if length:
        got.append(result.gamma)
        assert result.gamma > 0  # the generated lean toward the longer answer is found
    assert got == pytest.approx(list(expected), abs=1e-6)


def test_separation_stays_finite() -> None:
    """An arm that wins every battle gets a large, finite strength thanks to the ridge."""
    battles = [bt.Battle(f"c{i}", "champ", "other", 1.0) for i in range(10)] + [
        bt.Battle(f"d{i}", "other", "third", 0.5) for i in range(4)
    ]
    result = bt.fit(battles)
    assert all(math.isfinite(v) for v in result.strengths.values())
    assert bt.win_probability(result, "champ", "other") > 0.999
    # the ridge pulls the far-off arms a little, so "even" is even to within 1e-3
    assert bt.win_probability(result, "other", "third") == pytest.approx(0.5, abs=1e-3)


def test_length_control_removes_a_pure_length_preference() -> None:
    """Equal arms, a judge that prefers the longer answer and arm a usually longer: the raw
    win rate favours a; the length-controlled prediction is back near 0.5."""
    rng = random.Random(4)
    battles = []
    for i in range(400):
        a_longer = rng.random() < 0.75
        len_a, len_b = (300, 150) if a_longer else (150, 300)
        longer_wins = rng.random() < 0.8
        outcome = 1.0 if a_longer == longer_wins else 0.0
        battles.append(bt.Battle(f"c{i}", "a", "b", outcome, len_a, len_b))
    raw = bt.fit(battles)
    controlled = bt.fit(battles, length_control=True)
    assert bt.win_probability(raw, "a", "b") > 0.57  # 0.75·0.8 + 0.25·0.2 = 0.65 expected
    assert bt.win_probability(controlled, "a", "b") == pytest.approx(0.5, abs=0.06)
    assert controlled.gamma > 0
    # at the observed difference the prediction favours the longer answer again
    assert bt.win_probability(controlled, "a", "b", length_diff=1 / 3) > 0.7


def test_arms_fix_the_reference_and_must_all_play() -> None:
    """`arms[0]` is the zero point; an arm with no battle has no strength (ValueError)."""
    battles = [bt.Battle("c1", "a", "b", 1.0), bt.Battle("c2", "b", "c", 0.5)]
    result = bt.fit(battles, arms=["c", "b", "a"])
    assert result.strengths["c"] == 0.0
    assert result.arms == ("c", "b", "a")
    with pytest.raises(ValueError, match="without any battle"):
        bt.fit(battles, arms=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="not in"):
        bt.fit(battles, arms=["a", "b"])
    with pytest.raises(ValueError, match="outcome"):
        bt.Battle("c", "a", "b", 2.0)


def test_bootstrap_intervals_are_seeded_and_contain_the_fit() -> None:
    """Case-level bootstrap: deterministic per seed, each interval brackets its estimate."""
    battles = _random_battles(7, arms=3, n=120)
    first = bt.bootstrap(battles, resamples=150, seed=3)
    again = bt.bootstrap(battles, resamples=150, seed=3)
    assert first.intervals == again.intervals
    assert len(first.replicates) == 150
    reference = first.fit.arms[0]
    assert first.intervals[reference].low == first.intervals[reference].high == 0.0
    for arm in first.fit.arms[1:]:
        interval = first.intervals[arm]
        assert interval.low < interval.estimate < interval.high
        assert interval.n == 60
