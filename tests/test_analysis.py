"""experiments.analysis: hand-worked examples, scipy cross-checks (tests only), the verdict
rules, escaping in the notebook reprs, and statistical properties on seeded data."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pytest
from scipy import stats as scipy_stats

from nvgw_nb import bradley_terry as bt
from nvgw_nb.experiments import analysis
from nvgw_nb.experiments.analysis import PairOutcome


def _binary_arms(seed: int, p_a: float, p_b: float, n: int = 60) -> tuple[dict, dict]:  # type: ignore[type-arg]
    rng = random.Random(seed)
    a = {f"c{i}": [int(rng.random() < p_a)] for i in range(n)}
    b = {f"c{i}": [int(rng.random() < p_b)] for i in range(n)}
    return a, b


def _compare(a, b, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("metric", "expected")
    kw.setdefault("label_a", "nim")
    kw.setdefault("label_b", "gateway")
    return analysis.compare_paired(a, b, **kw)


# --- hand-worked examples ----------------------------------------------------------------------
def test_mcnemar_two_by_two_by_hand() -> None:
    """10 cases: 4 both pass, 4 only A (b), 1 only B (c), 1 both fail.
    Δ = (4 − 1)/10 = 0.3; SE = √(5 − 9/10)/10 = √4.1/10; CI = 0.3 ± t_{0.975,9}·SE
    = 0.3 ± 2.2621571628·0.2024845673; p = 2·P(Bin(5, ½) ≤ 1) = 2·6/32 = 0.375."""
    pattern = [(1, 1)] * 4 + [(1, 0)] * 4 + [(0, 1)] + [(0, 0)]
    a = {f"c{i}": [x] for i, (x, _) in enumerate(pattern)}
    b = {f"c{i}": [y] for i, (_, y) in enumerate(pattern)}
    result = _compare(a, b)
    half = 2.2621571628 * math.sqrt(4.1) / 10
    assert result.test == "McNemar exact"
    assert result.delta == pytest.approx(0.3)
    assert result.ci == pytest.approx((0.3 - half, 0.3 + half), abs=1e-9)
    assert result.p_value == pytest.approx(0.375)
    assert (result.n_cases, result.n_calls) == (10, 20)
    assert (result.mean_a, result.mean_b) == pytest.approx((0.8, 0.5))
    assert not result.significant


def test_paired_t_by_hand() -> None:
    """Differences 1, 2, 3 (repeats averaged first): mean 2, sd 1, SE 1/√3, t = 2√3, df 2.
    For df = 2 the t CDF is ½ + t/(2√(2 + t²)), so p = 1 − t/√(2 + t²) = 1 − √12/√14;
    CI = 2 ± 4.3026527297/√3."""
    a = {"c1": [2.0, 4.0], "c2": [4.0], "c3": [5.0, 5.0, 5.0]}  # means 3, 4, 5
    b = {"c1": [2.0], "c2": [2.0], "c3": [2.0]}
    result = _compare(a, b, metric="rubric", unit="")
    assert result.test == "paired t"
    assert result.delta == pytest.approx(2.0)
    assert result.p_value == pytest.approx(1 - math.sqrt(12 / 14), abs=1e-12)
    half = 4.3026527297 / math.sqrt(3)
    assert result.ci == pytest.approx((2 - half, 2 + half), abs=1e-9)
    assert (result.n_cases, result.n_calls) == (3, 9)


# --- scipy cross-checks on random data (tests only) ----------------------------------------------
@pytest.mark.parametrize("df", [1, 2, 3.5, 7, 29, 120, 1000])
def test_t_p_value_matches_scipy(df: float) -> None:
    """The two-sided t p-value agrees with 2·scipy.stats.t.sf(|t|) to 1e-9 (relative for tiny p)."""
    for t in (-40.0, -6.0, -2.1, -0.3, 0.0, 0.01, 1.0, 1.96, 3.3, 12.0):
        expected = 2 * scipy_stats.t.sf(abs(t), df)
        assert analysis.t_p_value(t, df) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_paired_t_matches_scipy_ttest_rel_and_t_interval(seed: int) -> None:
    """Continuous scores with repeats: p from scipy.stats.ttest_rel on per-case means, the
    interval from scipy.stats.t.interval on the differences, to 1e-9."""
    rng = random.Random(seed)
    n = rng.randint(5, 80)
    a = {f"c{i}": [rng.gauss(0.6, 0.2) for _ in range(rng.randint(1, 4))] for i in range(n)}
    b = {f"c{i}": [rng.gauss(0.55, 0.2) for _ in range(rng.randint(1, 4))] for i in range(n)}
    result = _compare(a, b, metric="rubric", unit="")
    mean_a = [sum(a[k]) / len(a[k]) for k in a]
    mean_b = [sum(b[k]) / len(b[k]) for k in a]
    reference = scipy_stats.ttest_rel(mean_a, mean_b)
    d = [x - y for x, y in zip(mean_a, mean_b, strict=True)]
    low, high = scipy_stats.t.interval(0.95, n - 1, loc=sum(d) / n, scale=scipy_stats.sem(d))
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)
    assert result.ci == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert result.n_calls == sum(len(v) for v in a.values()) + sum(len(v) for v in b.values())


def test_binary_repeats_use_the_paired_t() -> None:
    """Pass/fail with repeats: per-case pass shares, then the paired t (not McNemar)."""
    a = {f"c{i}": [1, i % 2, 1] for i in range(12)}
    b = {f"c{i}": [0, 1, i % 3 == 0] for i in range(12)}
    result = _compare(a, b)  # type: ignore[arg-type]
    assert result.test == "paired t"
    assert result.binary


def test_mde_follows_r7() -> None:
    """MDE = (z_.975 + z_.8)·sd(d)/√n from the observed differences."""
    a, b = _binary_arms(3, 0.7, 0.7, n=50)
    result = _compare(a, b, binary=False)
    d = [a[k][0] - b[k][0] for k in a]
    sd = scipy_stats.tstd(d)
    expected = (scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) * sd / math.sqrt(50)
    assert result.mde == pytest.approx(expected, rel=1e-9)


def test_clusters_use_the_clustered_standard_error() -> None:
    """Clustered cases: SE from stats.clustered_standard_error, C − 1 degrees of freedom;
    correlated clusters make the interval wider than the naive one."""
    rng = random.Random(9)
    a: dict[str, list[float]] = {}
    b: dict[str, list[float]] = {}
    clusters: dict[str, str] = {}
    for c in range(6):
        shift = rng.gauss(0, 0.3)
        for i in range(8):
            key = f"k{c}-{i}"
            a[key] = [0.5 + shift + rng.gauss(0, 0.05)]
            b[key] = [0.5 + rng.gauss(0, 0.05)]
            clusters[key] = f"k{c}"
    naive = _compare(a, b, unit="")
    clustered = _compare(a, b, unit="", clusters=clusters)
    assert clustered.clusters == 6
    assert clustered.delta == pytest.approx(naive.delta)
    assert clustered.ci[1] - clustered.ci[0] > 2 * (naive.ci[1] - naive.ci[0])
    assert "clustered, 6 clusters" in clustered._repr_markdown_()
    one = _compare(a, b, unit="", clusters=dict.fromkeys(a, "same"))
    assert math.isnan(one.ci[0])
    assert "come from one cluster" in one.verdict


# --- verdict rules -----------------------------------------------------------------------------
_STRONG = _binary_arms(1, 0.6, 0.9)
_EQUAL = _binary_arms(2, 0.7, 0.7, n=40)
_FAST = {f"c{i}": [1.0 + i % 3 * 0.1] for i in range(30)}
_SLOW = {f"c{i}": [2.0 + i % 5 * 0.1] for i in range(30)}
_NOISY = {f"c{i}": [1.0 + (i * 7 % 11) / 10] for i in range(30)}


@pytest.mark.parametrize(
    ("name", "make", "must", "must_not"),
    [
        (
            "significant pass rate",
            lambda: _compare(*_STRONG),
            [
                "On 60 cases, nim passes `expected`",
                "less often than gateway",
                "95% CI",
                "McNemar exact p = 0.00",
                "gateway is better on this metric",
            ],
            ["No difference", "SIMULATED", "Left out"],
        ),
        (
            "not significant",
            lambda: _compare(*_EQUAL),
            [
                "No difference shown",
                "over 40 cases",
                "could miss a difference of up to",
                "80% power needs ≥",
                "points",
            ],
            ["better"],
        ),
        (
            "simulated",
            lambda: _compare(*_EQUAL, simulated=True),
            ["SIMULATED — No difference shown"],
            ["better"],
        ),
        (
            "left out",
            lambda: _compare(*_STRONG, left_out={"fell back": 3, "failed": 1}),
            ["3 calls that fell back to another provider", "1 failed call", "is better"],
            [],
        ),
        (
            "too few cases",
            lambda: _compare({"c1": [1]}, {"c1": [0]}),
            ["Too few shared cases", "1 case"],
            ["better", "No difference shown"],
        ),
        (
            "ratio significant",
            lambda: analysis.compare_ratio(
                _FAST, _SLOW, metric="latency_s", label_a="nim", label_b="gateway"
            ),
            [
                "nim's `latency_s` is",
                "× gateway's",
                "paired bootstrap p =",
                "nim is better on this metric",
            ],
            ["No difference"],
        ),
        (
            "ratio not significant",
            lambda: analysis.compare_ratio(
                _NOISY,
                {f"c{i}": [1.0 + (i * 3 % 11) / 10] for i in range(30)},
                metric="latency_s",
                label_a="nim",
                label_b="gateway",
            ),
            ["No difference shown", "ratio nim/gateway =", "could miss a ratio as far from 1 as"],
            ["better"],
        ),
    ],
)
def test_verdict_wording(name: str, make, must: list[str], must_not: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Each kind of result says what it must, and never "better" without a shown difference."""
    result = make()
    for text in must:
        assert text in result.verdict, (name, result.verdict)
    for text in must_not:
        assert text not in result.verdict, (name, result.verdict)
    assert str(result) == result.verdict
    low, high = result.ci
    if "better" in result.verdict:
        assert result.significant
        assert not low <= result.null <= high


def test_too_few_cases_is_not_an_error() -> None:
    """n < 2 (or no shared case at all): NaN interval, a verdict, no exception."""
    for a, b in [({"c1": [1]}, {"c1": [0]}), ({}, {}), ({"x": [1]}, {"y": [1]})]:
        result = _compare(a, b)
        assert math.isnan(result.ci[0])
        assert math.isnan(result.ci[1])
        assert not result.significant
        assert "Too few" in result.verdict
    ratio = analysis.compare_ratio(
        {"c1": [1.0]}, {"c1": [2.0]}, metric="m", label_a="x", label_b="y"
    )
    assert "Too few" in ratio.verdict


def test_could_miss_is_the_largest_bound_and_names_the_mde() -> None:
    """'Could miss up to X': X is the larger |bound| of the interval; the MDE is named."""
    result = _compare(*_EQUAL)
    worst = max(abs(result.ci[0]), abs(result.ci[1]))
    assert f"could miss a difference of up to {worst * 100:.1f} points" in result.verdict
    assert f"80% power needs ≥ {result.mde * 100:.1f} points" in result.verdict


def test_not_shared_cases_are_counted() -> None:
    """Cases only one arm answered are left out and counted, added to the caller's counts."""
    a = {"c1": [1], "c2": [0], "c3": [1], "only_a": [1]}
    b = {"c1": [0], "c2": [0], "c3": [1], "only_b": [1], "empty": []}
    result = _compare(a, b, left_out={"not shared": 1})
    assert result.n_cases == 3
    assert result.left_out == {"not shared": 3}
    assert "3 cases not answered by both arms" in result.verdict


def test_direction_respects_higher_is_better() -> None:
    """A lower score for A is 'A is better' when lower is better (e.g. a latency in seconds)."""
    low = {f"c{i}": [1.0 + 0.01 * i] for i in range(20)}
    high = {f"c{i}": [2.0 + 0.02 * (i % 3)] for i in range(20)}
    result = _compare(low, high, metric="latency", unit="s", higher_is_better=False)
    assert result.winner == "nim"
    assert "nim scores" in result.verdict
    assert "s lower than gateway" in result.verdict
    assert result.verdict.endswith("nim is better on this metric.")


def test_holm_adjustment_rederives_the_verdict() -> None:
    """p = 0.01, 0.03, 0.04 with intervals excluding 0: Holm gives 0.03, 0.06, 0.06, so only
    the first may still be called better; the others say so 'after Holm's correction'."""
    base = _compare(*_STRONG)
    family = [dataclasses.replace(base, p_value=p) for p in (0.01, 0.03, 0.04)]
    adjusted = analysis.adjust(family)
    assert [c.p_adjusted for c in adjusted] == pytest.approx([0.03, 0.06, 0.06])
    assert adjusted[0].significant
    assert "is better" in adjusted[0].verdict
    for c in adjusted[1:]:
        assert not c.significant
        assert "better" not in c.verdict
        assert "No difference shown once corrected for multiple comparisons" in c.verdict
        assert "Holm's correction for 3 comparisons" in c.verdict
    too_few = _compare({"c1": [1]}, {"c1": [0]})
    assert analysis.adjust([too_few, base])[0] is too_few


# --- repr and escaping -------------------------------------------------------------------------
_HOSTILE = "$5 *bold* <b>x</b> | `code` [link](http://e) & _u_ #h"


def test_markdown_and_html_escape_every_text() -> None:
    """Labels with Markdown/HTML syntax render inert: `$` as `\\$`, tags escaped."""
    a, b = _STRONG
    result = analysis.compare_paired(a, b, metric=_HOSTILE, label_a=_HOSTILE, label_b="gw")
    markdown = result._repr_markdown_()
    assert "\\$5" in markdown
    assert "\\*bold\\*" in markdown
    assert "<b>" not in markdown
    assert "\\|" in markdown
    assert "](http" not in markdown
    page = result._repr_html_()
    assert "<b>x" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "Δ" in page


def test_to_dict_is_json_with_nan_as_null() -> None:
    """to_dict carries the verdict, `significant` and `winner`; NaN becomes null."""
    data = _compare(*_STRONG).to_dict()
    assert data["significant"] is True
    assert data["winner"] == "gateway"
    assert data["test"] == "McNemar exact"
    json.dumps(data, allow_nan=False)
    few = _compare({"c1": [1]}, {"c1": [0]}).to_dict()
    assert few["ci"] == [None, None]
    json.dumps(few, allow_nan=False)


# --- statistical properties --------------------------------------------------------------------
def test_equal_arms_rarely_differ() -> None:
    """Equal accuracy, 40 seeds × 60 cases: the interval excludes 0 in at most 4 of 40."""
    false_alarms = 0
    for seed in range(40):
        result = _compare(*_binary_arms(1000 + seed, 0.75, 0.75))
        false_alarms += not result.ci[0] <= 0 <= result.ci[1]
    assert false_alarms <= 4


def test_a_large_difference_is_found() -> None:
    """Accuracy 0.6 against 0.9 over 60 cases: significant, B the winner."""
    result = _compare(*_binary_arms(1, 0.6, 0.9))
    assert result.significant
    assert result.ci[1] < 0
    assert result.winner == "gateway"


def test_compare_ratio_p_value_floor_and_mde() -> None:
    """A clear ratio: p at its floor 1/resamples; the MDE is a ratio above 1; seeded."""
    result = analysis.compare_ratio(
        _FAST, _SLOW, metric="latency_s", label_a="nim", label_b="gateway", resamples=500
    )
    assert result.p_value == pytest.approx(1 / 500)
    assert result.ci[1] < 1
    assert result.mde > 1
    assert result.delta == pytest.approx(
        math.exp(sum(math.log(_FAST[k][0] / _SLOW[k][0]) for k in _FAST) / 30)
    )
    again = analysis.compare_ratio(
        _FAST, _SLOW, metric="latency_s", label_a="nim", label_b="gateway", resamples=500
    )
    assert again == result


def test_compare_ratio_leaves_out_non_positive_cases() -> None:
    """A zero latency cannot form a ratio: the case is left out and counted."""
    fast = dict(_FAST) | {"zero": [0.0]}
    slow = dict(_SLOW) | {"zero": [1.0]}
    result = analysis.compare_ratio(fast, slow, metric="latency_s", label_a="a", label_b="b")
    assert result.n_cases == 30
    assert result.left_out == {"not positive": 1}
    assert "1 case with a non-positive value" in result.verdict


# --- pairwise ----------------------------------------------------------------------------------
def test_pairwise_by_hand() -> None:
    """w per case: (a, a) → 1, (b, b) → 0, (a, b) → ½, (tie, a) → ½; win rate 0.5 + ...;
    consistency = share g1 == g2; first slot = share of decided judgements won by slot 1."""
    outcomes = [
        PairOutcome("c1", "a", "a", 100, 100),  # w 1; slot 1 wins once, slot 2 once
        PairOutcome("c2", "b", "b", 100, 100),  # w 0
        PairOutcome("c3", "a", "b", 100, 100),  # w ½; slot 1 wins both
        PairOutcome("c4", "tie", "a", 100, 100),  # w ½; the decided one won by slot 2
    ]
    result = analysis.pairwise_result(outcomes, label_a="nim", label_b="gw", judge="j")
    assert result.win_rate == pytest.approx(0.5)
    assert (result.wins, result.losses, result.ties) == (1, 1, 2)
    assert result.position_consistency == pytest.approx(0.5)
    # decided judgements: c1 (slot1, slot2), c2 (slot2, slot1), c3 (slot1, slot1), c4 (slot2)
    assert result.first_slot_rate == pytest.approx(4 / 7)
    assert result.p_value == pytest.approx(1.0)
    assert result.swapped
    assert result.n_cases == 4


def _first_slot_judge(n: int, swap: bool) -> list[PairOutcome]:
    # equal answers, a judge that always picks whichever answer it saw first
    return [PairOutcome(f"c{i}", "a", "b" if swap else None, 200, 200) for i in range(n)]


def test_position_bias_is_cancelled_by_the_swap_and_reported() -> None:
    """A first-slot judge on equal answers: swapped, the win rate is 0.5, consistency 0 and
    the verdict names the bias; unswapped, A would appear to win every case."""
    swapped = analysis.pairwise_result(
        _first_slot_judge(30, swap=True), label_a="nim", label_b="gw", judge="j"
    )
    assert swapped.win_rate == 0.5
    assert swapped.position_consistency == 0.0
    assert swapped.first_slot_rate == 1.0
    assert not swapped.significant
    assert "No preference shown" in swapped.verdict
    # every case a tie: the interval (0.5–0.5) says nothing, the verdict says why
    assert "every case was a tie" in swapped.verdict
    assert "as far from 0.5" not in swapped.verdict
    assert "0% of cases" in swapped.verdict
    assert "first slot 100% of its wins" in swapped.verdict
    once = analysis.pairwise_result(
        _first_slot_judge(30, swap=False), label_a="nim", label_b="gw", judge="j"
    )
    assert once.win_rate == 1.0
    assert once.position_consistency is None
    assert not once.swapped
    assert once.significant
    assert "one order only" in once.verdict


def test_pairwise_significant_wording_and_simulated() -> None:
    """A clear preference, both orders agreeing: 'better by this judge', SIMULATED prefix."""
    outcomes = [PairOutcome(f"c{i}", "a", "a" if i % 5 else "tie", 100, 100) for i in range(30)]
    result = analysis.pairwise_result(
        outcomes, label_a="nim", label_b="gw", judge="judge-x", simulated=True, warnings=["w1"]
    )
    assert result.verdict.startswith("SIMULATED — On 30 cases, judge-x prefers nim")
    assert "nim is better by this judge" in result.verdict
    assert result.warnings == ["w1"]
    assert "Judge bias" not in result.verdict
    assert "w1" in result._repr_markdown_()
    json.dumps(result.to_dict(), allow_nan=False)


def test_pairwise_length_control() -> None:
    """Equal arms, a judge that likes longer answers, A usually longer: the raw win rate
    favours A; the length-controlled one is near 0.5."""
    rng = random.Random(5)
    outcomes = []
    for i in range(300):
        a_longer = rng.random() < 0.75
        len_a, len_b = (400, 200) if a_longer else (200, 400)
        verdicts = []
        for _ in range(2):
            longer_wins = rng.random() < 0.8
            verdicts.append("a" if a_longer == longer_wins else "b")
        outcomes.append(PairOutcome(f"c{i}", verdicts[0], verdicts[1], len_a, len_b))  # type: ignore[arg-type]
    result = analysis.pairwise_result(outcomes, label_a="a", label_b="b", judge="j", resamples=300)
    assert result.win_rate > 0.56
    assert result.length_controlled_win_rate == pytest.approx(0.5, abs=0.07)


def test_pairwise_too_few_and_mixed_swap() -> None:
    """One case: no interval, a verdict saying so; a half-swapped run gets a warning."""
    one = analysis.pairwise_result(
        [PairOutcome("c1", "a", "a")], label_a="x", label_b="y", judge="j"
    )
    assert math.isnan(one.ci[0])
    assert "Too few" in one.verdict
    mixed = analysis.pairwise_result(
        [PairOutcome("c1", "a", "a"), PairOutcome("c2", "b", None), PairOutcome("c3", "a", "b")],
        label_a="x",
        label_b="y",
        judge="j",
    )
    assert not mixed.swapped
    assert "1 of 3 cases were judged in one order only." in mixed.warnings
    with pytest.raises(ValueError, match="verdicts"):
        PairOutcome("c1", "first", None)  # type: ignore[arg-type]


def test_pairwise_bootstrap_is_seeded() -> None:
    """Same seed, same interval."""
    outcomes = [
        PairOutcome(f"c{i}", "a" if i % 3 else "b", "a" if i % 4 else "tie") for i in range(40)
    ]
    first = analysis.pairwise_result(outcomes, label_a="x", label_b="y", judge="j", seed=4)
    again = analysis.pairwise_result(outcomes, label_a="x", label_b="y", judge="j", seed=4)
    assert first.ci == again.ci


# --- ranking -----------------------------------------------------------------------------------
def _battles(seed: int) -> list[bt.Battle]:
    rng = random.Random(seed)
    truth = {"weak": -1.5, "mid": 0.0, "strong": 1.5}
    battles = []
    for i in range(150):
        first, second = rng.sample(list(truth), 2)
        p = 1 / (1 + math.exp(-(truth[first] - truth[second])))
        battles.append(bt.Battle(f"c{i}", first, second, 1.0 if rng.random() < p else 0.0))
    return battles


def test_rank_arms_orders_and_reports() -> None:
    """Three arms of clearly different strength: ranked strongest first, lead shown, seeded."""
    ranking = analysis.rank_arms(_battles(1), seed=2, resamples=200, arms=["mid", "weak", "strong"])
    assert [row.arm for row in ranking.rows] == ["strong", "mid", "weak"]
    assert ranking.reference == "mid"
    assert ranking.lead[0] > 0
    assert "strong ranks first; its lead over mid is shown" in ranking.verdict
    for row in ranking.rows:
        assert row.win_low <= row.win_probability <= row.win_high
    assert (
        analysis.rank_arms(_battles(1), seed=2, resamples=200, arms=["mid", "weak", "strong"])
        == ranking
    )
    assert "| strong |" in ranking._repr_markdown_()
    assert "<td>strong</td>" in ranking._repr_html_()
    assert "P(beats mid)" in str(ranking)
    json.dumps(ranking.to_dict(), allow_nan=False)


def test_rank_arms_escapes_arm_names() -> None:
    """Arm names are escaped in both reprs."""
    battles = [bt.Battle(f"c{i}", "<i>x</i>", "$y", float(i % 3 != 0)) for i in range(12)]
    ranking = analysis.rank_arms(battles, resamples=50, simulated=True)
    assert "<i>" not in ranking._repr_html_()
    assert "\\$y" in ranking._repr_markdown_()
    assert ranking.verdict.startswith("SIMULATED — ")


@pytest.mark.parametrize(
    ("ci", "p_value"),
    [((-0.01, 0.2), 0.001), ((0.05, 0.2), 0.2), ((math.nan, math.nan), 0.001)],
)
def test_better_needs_both_the_interval_and_the_p_value(
    ci: tuple[float, float], p_value: float
) -> None:
    """An interval containing 0 with a small p, or an interval excluding 0 with a large p (the
    exact test and the interval can disagree at the margin), is not called better."""
    base = _compare(*_STRONG)
    result = analysis._with_verdict(dataclasses.replace(base, ci=ci, p_value=p_value))
    assert not result.significant
    assert result.winner is None
    assert "better" not in result.verdict
