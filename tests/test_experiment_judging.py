"""Judging pairs through `Run.pairwise` on the simulator: both orders by default, the
position-bias diagnostics, self-preference warnings, judge verdicts kept, and rankings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.experiments import checks, judges
from nvgw_nb.experiments.analysis import PairwiseResult, Ranking
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.run import Run
from nvgw_nb.sim import Simulator

TERSE = "Answer with only the value asked for."
BOTH = {"provider": ["nvidia-nim", "nvidia-gateway"]}


def facts(n: int) -> list[Case]:
    """`n` questions with gold answers the simulator learns."""
    return [
        Case(
            f"Which port does internal service {i} listen on?",
            id=f"q{i:03d}",
            reference=str(9000 + i),
            check="contains",
        )
        for i in range(n)
    ]


def equal_answers(bias: dict[str, float]) -> Iterator[tuple[Simulator, nv.Session]]:
    """Both providers always right and always terse: their answers are equal."""
    sim = Simulator(
        time_scale=0,
        accuracy={"nvidia-nim": 1.0, "nvidia-gateway": 1.0, "openai": 1.0},
        obedience={"nvidia-nim": 1.0, "nvidia-gateway": 1.0},
        judge_bias=bias,
    )
    with sim, sim.session(retry=nv.RetryPolicy.no_wait(), allow_external=True) as session:
        yield sim, session


@pytest.fixture
def position_biased() -> Iterator[tuple[Simulator, nv.Session]]:
    """A judge that picks the first slot 30% of the time whatever it is shown."""
    yield from equal_answers({"position": 0.3})


def test_swapping_neutralises_a_position_biased_judge(
    position_biased: tuple[Simulator, nv.Session],
) -> None:
    """Equal answers, position bias 0.3: with the swap the win rate stays near 0.5 and the
    consistency drops below 1; judged in one order only, the bias shows as a 'winner'."""
    _, session = position_biased
    run = session.experiment(facts(120), vary=BOTH, system=TERSE).run(progress=False)
    judge = judges.pairwise("Which answer is correct?", judge="openai")
    swapped = run.pairwise("provider", judge)
    assert isinstance(swapped, PairwiseResult)
    assert swapped.swapped
    assert abs(swapped.win_rate - 0.5) < 0.08
    assert swapped.ci[0] <= 0.5 <= swapped.ci[1]
    assert swapped.position_consistency is not None
    assert swapped.position_consistency < 0.9
    assert swapped.first_slot_rate is not None
    assert swapped.first_slot_rate > 0.9  # only the bias picks a winner: always slot one
    one_order = run.pairwise("provider", judge, swap=False)
    assert isinstance(one_order, PairwiseResult)
    assert one_order.position_consistency is None
    assert one_order.win_rate > 0.58
    assert one_order.ci[0] > 0.5  # the bias alone makes nvidia-nim look better


def test_an_unbiased_judge_is_consistent() -> None:
    """No bias, equal answers: every case is a consistent tie."""
    for _, session in equal_answers({}):
        run = session.experiment(facts(20), vary=BOTH, system=TERSE).run(progress=False)
        result = run.pairwise("provider", judges.pairwise("Correct?", judge="openai"))
        assert isinstance(result, PairwiseResult)
        assert result.win_rate == 0.5
        assert result.position_consistency == 1.0


def test_the_judge_follows_correctness() -> None:
    """NIM right 30%, the gateway 95%: the judge prefers the gateway, significantly."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.3, "nvidia-gateway": 0.95})
    with sim, sim.session(allow_external=True) as session:
        run = session.experiment(facts(60), vary=BOTH, system=TERSE).run(progress=False)
        result = run.pairwise("provider", judges.pairwise("Correct?", judge="openai"))
    assert isinstance(result, PairwiseResult)
    assert result.win_rate < 0.35
    assert result.ci[1] < 0.5
    assert "nvidia-gateway" in result.verdict


def test_a_contestant_judge_draws_a_self_preference_warning(
    position_biased: tuple[Simulator, nv.Session],
) -> None:
    """The gateway's gpt-4o-mini judging gpt vs llama answers: warned, and pointed elsewhere."""
    _, session = position_biased
    run = session.experiment(facts(6), vary=BOTH, system=TERSE).run(progress=False)
    result = run.pairwise("provider", judges.pairwise("Correct?", judge="nvidia-gateway"))
    assert isinstance(result, PairwiseResult)
    assert any("self-preference" in w for w in result.warnings)
    plan = session.experiment(
        facts(6), vary=BOTH, scorers=[judges.rubric("Correct?", judge="nvidia-gateway")]
    ).plan()
    assert any("contestant" in w for w in plan.warnings)
    assert plan.judge_calls > 0


def test_verdicts_are_kept_so_asking_again_is_free(
    position_biased: tuple[Simulator, nv.Session], tmp_path: Path
) -> None:
    """Judge verdicts go into the run file; asking again (or after loading) sends nothing."""
    sim, session = position_biased
    path = tmp_path / "run.jsonl"
    run = session.experiment(facts(8), vary=BOTH, system=TERSE).run(progress=False, save_to=path)
    judge = judges.pairwise("Correct?", judge="openai")
    first = run.pairwise("provider", judge)
    sim.reset_stats()
    again = Run.load(path, session=session).pairwise("provider", judge)
    assert sim.stats()["requests"]["openai"]["chat"] == 0
    assert isinstance(first, PairwiseResult)
    assert isinstance(again, PairwiseResult)
    assert again.win_rate == first.win_rate
    assert len(Run.load(path).judgements) == 16


def test_three_arms_are_ranked(position_biased: tuple[Simulator, nv.Session]) -> None:
    """More than two values of an axis: every pair judged, a Bradley–Terry ranking."""
    _, session = position_biased
    run = session.experiment(
        facts(10), vary={"provider": ["nvidia-nim", "nvidia-gateway", "openai"]}, system=TERSE
    ).run(progress=False)
    ranking = run.pairwise("provider", judges.pairwise("Correct?", judge="anthropic"))
    assert isinstance(ranking, Ranking)
    assert {row.arm for row in ranking.rows} == {"nvidia-nim", "nvidia-gateway", "openai"}


def test_pairwise_needs_one_cell_per_value(position_biased: tuple[Simulator, nv.Session]) -> None:
    """With another axis varying, pairwise asks for where= to fix it."""
    _, session = position_biased
    run = session.experiment(facts(3), vary={**BOTH, "system": {"plain": "", "terse": TERSE}}).run(
        progress=False
    )
    judge = judges.pairwise("Correct?", judge="openai")
    with pytest.raises(nv.ConfigError, match="where="):
        run.pairwise("provider", judge)
    result = run.pairwise("provider", judge, where={"system": "terse"})
    assert isinstance(result, PairwiseResult)
    assert result.n_cases == 3


def test_rubric_scores_with_judge_cost_apart(position_biased: tuple[Simulator, nv.Session]) -> None:
    """A rubric judge scores each answer; its tokens and cost are the scorer's, not the call's."""
    _, session = position_biased
    run = session.experiment(
        facts(4), vary=BOTH, scorers=[checks.expected(), judges.reference(judge="openai")]
    ).run(progress=False)
    scores = [r.scores["reference"] for r in run.records]
    assert all(s.kind == "judge" and s.tokens > 0 for s in scores)
    assert all(s.passed is not None for s in scores)
    summary = run.summary()
    assert all(row.scoring_cost_usd > 0 for row in summary.rows)
