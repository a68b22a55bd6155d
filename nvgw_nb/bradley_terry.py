"""Bradley–Terry strengths from pairwise judgements, with ties and a length covariate (R6).

The model: P(first beats second) = σ(β_first − β_second + γ·z), where z is the
standardised length difference (ℓ_first − ℓ_second)/(ℓ_first + ℓ_second) when
`length_control=True` (else γ = 0 and there is no z). "first" and "second" are the two
*arms* of a battle, not the judge's slots: the swap is handled before, by the caller.

Modelling choices, stated once:

- **Ties** count as half a win for each side (a fractional outcome of 0.5 in the logistic
  likelihood), as FastChat and arena-hard do.
- **Identification**: the first arm (of `arms`, else of first appearance) is fixed at
  β = 0; every other strength is relative to it.
- **Separation**: an arm that wins every battle has an infinite maximum-likelihood strength.
  A tiny ridge penalty (`ridge`/2 · Σθ², default 1e-4, on all free parameters) keeps the fit
  finite; it moves ordinary estimates by far less than their standard error, and an
  always-winning arm gets a large but finite strength (10 straight wins: win
  probability ≈ 0.9999).
- **Length covariate**: z is scaled by the root mean square of the raw differences over the
  fitted battles, *without centring*: centring would move the point "no length difference"
  and hand the length effect back to the strengths. Predictions at a raw difference of 0 are
  the length-controlled ones (AlpacaEval-LC, arena-hard style control).

Fitted by Newton's method on the penalised log-likelihood (few parameters, so the Hessian
is solved directly), with step halving so the objective never decreases. Pure Python.

Example::

    from nvgw_nb.bradley_terry import Battle, fit, win_probability

    battles = [Battle("c1", "nim", "gateway", 1.0), Battle("c2", "nim", "gateway", 0.5),
               Battle("c3", "gateway", "nim", 0.0)]
    result = fit(battles)
    win_probability(result, "nim", "gateway")  # ≈ 0.83
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nvgw_nb import stats
from nvgw_nb.resampling import bootstrap_samples

__all__ = ["DEFAULT_RIDGE", "Battle", "Bootstrap", "Fit", "bootstrap", "fit", "win_probability"]

#: the default ridge penalty that keeps separated data (an arm that always wins) finite
DEFAULT_RIDGE = 1e-4


@dataclass(frozen=True)
class Battle:
    """One judgement between two arms on one case.

    `outcome`: 1 when `first_arm` won, 0 when `second_arm` won, 0.5 for a tie (or two
    disagreeing verdicts). Lengths are the answers' lengths (characters or tokens), used only
    by the length-controlled fit.
    """

    case_id: str
    first_arm: str
    second_arm: str
    outcome: float
    len_first: int = 0
    len_second: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.outcome <= 1.0:
            raise ValueError(f"Battle outcome must be in [0, 1], got {self.outcome}")
        if self.first_arm == self.second_arm:
            raise ValueError(f"Battle between {self.first_arm!r} and itself")


@dataclass(frozen=True)
class Fit:
    """Fitted strengths (log-odds scale; `arms[0]` is 0) and the length coefficient.

    `gamma` is the effect of one standard unit of length difference (0 without length
    control); `length_scale` converts a raw difference into that unit.
    """

    arms: tuple[str, ...]
    strengths: dict[str, float]
    gamma: float
    length_scale: float
    length_controlled: bool
    n_battles: int
    n_cases: int
    log_likelihood: float
    ridge: float
    iterations: int


@dataclass(frozen=True)
class Bootstrap:
    """A fit with per-arm strength intervals from a case-level bootstrap.

    `replicates` are the fits on the resampled cases, for any derived quantity (such as a
    win probability) that needs its own interval.
    """

    fit: Fit
    intervals: dict[str, stats.Interval]
    replicates: tuple[Fit, ...]
    resamples: int
    seed: int


def _raw_length_difference(battle: Battle) -> float:
    total = battle.len_first + battle.len_second
    return (battle.len_first - battle.len_second) / total if total > 0 else 0.0


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is small and positive definite)."""
    size = len(vector)
    rows = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size + 1):
                rows[r][c] -= factor * rows[col][c]
    solution = [0.0] * size
    for r in range(size - 1, -1, -1):
        total = rows[r][size] - sum(rows[r][c] * solution[c] for c in range(r + 1, size))
        solution[r] = total / rows[r][r]
    return solution


def _arm_order(battles: Sequence[Battle], arms: Sequence[str] | None) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for battle in battles:
        seen.setdefault(battle.first_arm, None)
        seen.setdefault(battle.second_arm, None)
    if arms is None:
        return tuple(seen)
    order = tuple(arms)
    missing = [arm for arm in seen if arm not in order]
    if missing:
        raise ValueError(f"battles name arms not in `arms`: {missing}")
    absent = [arm for arm in order if arm not in seen]
    if absent:
        raise ValueError(f"arms without any battle have no strength: {absent}")
    return order


def fit(
    battles: Sequence[Battle],
    *,
    arms: Sequence[str] | None = None,
    length_control: bool = False,
    ridge: float = DEFAULT_RIDGE,
    tolerance: float = 1e-10,
    max_iterations: int = 200,
) -> Fit:
    """Fit Bradley–Terry strengths (ties as half wins, `arms[0]` fixed at 0).

    With `length_control`, the standardised length difference enters as a covariate, and
    `win_probability(..., length_diff=0)` is the length-controlled prediction. Raises
    `ValueError` with fewer than two arms, or an arm in `arms` that has no battle.
    """
    if not battles:
        raise ValueError("Bradley–Terry needs at least one battle")
    order = _arm_order(battles, arms)
    if len(order) < 2:
        raise ValueError("Bradley–Terry needs at least two arms")
    index = {arm: i - 1 for i, arm in enumerate(order)}  # -1: the fixed reference arm
    raw = [_raw_length_difference(b) for b in battles]
    scale = math.sqrt(sum(r * r for r in raw) / len(raw)) if length_control else 0.0
    use_length = length_control and scale > 0
    z = [r / scale for r in raw] if use_length else [0.0] * len(battles)
    size = len(order) - 1 + (1 if use_length else 0)
    rows = [
        (index[b.first_arm], index[b.second_arm], b.outcome, zi)
        for b, zi in zip(battles, z, strict=True)
    ]

    def linear(theta: list[float], first: int, second: int, zi: float) -> float:
        eta = (theta[first] if first >= 0 else 0.0) - (theta[second] if second >= 0 else 0.0)
        return eta + (theta[-1] * zi if use_length else 0.0)

    def objective(theta: list[float]) -> float:
        total = 0.0
        for first, second, y, zi in rows:
            eta = linear(theta, first, second, zi)
            total += y * _log_sigmoid(eta) + (1 - y) * _log_sigmoid(-eta)
        return total - ridge / 2 * sum(t * t for t in theta)

    theta = [0.0] * size
    current = objective(theta)
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (reported in the Fit)
        gradient = [-ridge * t for t in theta]
        hessian = [[ridge if r == c else 0.0 for c in range(size)] for r in range(size)]
        for first, second, y, zi in rows:
            p = _sigmoid(linear(theta, first, second, zi))
            x: list[tuple[int, float]] = []
            if first >= 0:
                x.append((first, 1.0))
            if second >= 0:
                x.append((second, -1.0))
            if use_length:
                x.append((size - 1, zi))
            weight = p * (1 - p)
            for i, xi in x:
                gradient[i] += (y - p) * xi
                for j, xj in x:
                    hessian[i][j] += weight * xi * xj
        step = _solve(hessian, gradient)
        shrink = 1.0
        while True:
            candidate = [t + shrink * s for t, s in zip(theta, step, strict=True)]
            value = objective(candidate)
            if value >= current - 1e-12 or shrink < 1e-8:
                break
            shrink /= 2
        theta, current = candidate, value
        if max(abs(s) * shrink for s in step) < tolerance:
            break
    strengths = {arm: (theta[i] if i >= 0 else 0.0) for arm, i in index.items()}
    return Fit(
        arms=order,
        strengths=strengths,
        gamma=theta[-1] if use_length else 0.0,
        length_scale=scale,
        length_controlled=length_control,
        n_battles=len(battles),
        n_cases=len({b.case_id for b in battles}),
        log_likelihood=current + ridge / 2 * sum(t * t for t in theta),
        ridge=ridge,
        iterations=iterations,
    )


def win_probability(result: Fit, a: str, b: str, length_diff: float = 0.0) -> float:
    """P(arm `a` beats arm `b`) under the fit; `length_diff` is the raw normalised length
    difference (ℓ_a − ℓ_b)/(ℓ_a + ℓ_b), 0 for the length-controlled prediction."""
    eta = result.strengths[a] - result.strengths[b]
    if result.length_scale > 0 and result.gamma:
        eta += result.gamma * length_diff / result.length_scale
    return _sigmoid(eta)


def bootstrap(
    battles: Sequence[Battle],
    *,
    arms: Sequence[str] | None = None,
    length_control: bool = False,
    resamples: int = 500,
    seed: int = 0,
    confidence: float = 0.95,
    ridge: float = DEFAULT_RIDGE,
) -> Bootstrap:
    """The fit with percentile intervals per arm strength, resampling case ids (R5).

    All battles of a drawn case are kept together. A resample in which an arm has no battle
    is skipped (its strength is undefined there); see `resampling.bootstrap_samples`.
    """
    point = fit(battles, arms=arms, length_control=length_control, ridge=ridge)
    by_case: dict[str, list[Battle]] = {}
    for battle in battles:
        by_case.setdefault(battle.case_id, []).append(battle)

    def refit(case_ids: Sequence[str]) -> Fit:
        drawn = [battle for case in case_ids for battle in by_case[case]]
        return fit(drawn, arms=point.arms, length_control=length_control, ridge=ridge)

    cases = list(by_case)
    if len(cases) < 2:
        replicates: list[Fit] = []
    else:
        replicates = bootstrap_samples(cases, refit, resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2 * 100
    intervals: dict[str, stats.Interval] = {}
    for arm in point.arms:
        values = sorted(r.strengths[arm] for r in replicates)
        low = stats.percentile(values, tail) if values else math.nan
        high = stats.percentile(values, 100 - tail) if values else math.nan
        intervals[arm] = stats.Interval(point.strengths[arm], low, high, len(cases), confidence)
    return Bootstrap(point, intervals, tuple(replicates), resamples, seed)
