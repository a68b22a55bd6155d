"""Experiments through the public API, on the loopback simulator: the grid, the plan,
running (resume, budget, call cap, cancellation, cache per repeat), results, statistics
that hold up (power and false positives), and saved runs compared."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb.experiments import checks
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.records import CallRecord
from nvgw_nb.experiments.run import Run
from nvgw_nb.experiments.scoring import Score
from nvgw_nb.sim import Simulator

BOTH = {"provider": ["nvidia-nim", "nvidia-gateway"]}
NIM, GATEWAY = {"provider": "nvidia-nim"}, {"provider": "nvidia-gateway"}


def facts(n: int, *, cluster: bool = False) -> list[Case]:
    """`n` distinct questions with gold answers the simulator can learn."""
    return [
        Case(
            f"In our runbook, which port does service number {i} listen on?",
            id=f"q{i:03d}",
            reference=str(8000 + i),
            check="contains",
            cluster=f"team-{i % 6}" if cluster else None,
        )
        for i in range(n)
    ]


@pytest.fixture
def graded() -> Iterator[nv.Session]:
    """A Session on a simulator whose NIM is right 60% of the time and the gateway 90%."""
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.6, "nvidia-gateway": 0.9})
    with sim, sim.session(retry=nv.RetryPolicy.no_wait()) as session:
        yield session


# --- the grid -----------------------------------------------------------------------------
def test_grid_crosses_every_axis_and_pins_each_cell(session: nv.Session) -> None:
    """provider × system × temperature cells, each pinned to its provider, no fallback."""
    exp = session.experiment(
        facts(3),
        vary={**BOTH, "system": {"plain": "", "terse": "Answer only."}, "temperature": [0, 0.7]},
    )
    assert len(exp.cells) == 8
    jobs = exp.jobs()
    assert len(jobs) == 3 * 8
    for job in jobs:
        assert [s.provider for s in job.steps if not s.skip] == [job.cell.provider]
    terse = [j for j in jobs if j.cell.axes["system"] == "terse"]
    assert all(j.request.messages[0].content == "Answer only." for j in terse)
    plain = [j for j in jobs if j.cell.axes["system"] == "plain"]
    assert all(j.request.messages[0].role == "user" for j in plain)


def test_model_axis_per_provider_and_template_axis(session: nv.Session) -> None:
    """A model dict varies models inside each provider; a template wraps the prompt."""
    exp = session.experiment(
        [Case("Is {x} a prime?", vars={"x": 7})],
        vary={
            **BOTH,
            "model": {"nvidia-gateway": ["gpt-4o", "gpt-4o-mini"]},
            "template": {"bare": "{prompt}", "careful": "Think first. {prompt}"},
        },
    )
    labels = [c.label for c in exp.cells]
    assert len(labels) == 6
    jobs = exp.jobs()
    models = {(j.cell.provider, j.steps[0].model) for j in jobs}
    assert ("nvidia-gateway", "gpt-4o") in models
    assert ("nvidia-gateway", "gpt-4o-mini") in models
    careful = [j for j in jobs if j.cell.axes["template"] == "careful"]
    assert all(j.request.messages[-1].content == "Think first. Is 7 a prime?" for j in careful)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vary": {"providers": ["nvidia-nim"]}}, "vary 'provider'"),
        ({"vary": {"provider": "nvidia-nim"}}, "must be a list"),
        ({"vary": {"temperature": []}}, "has no values"),
        ({"vary": {"model": ["a", "b"], **BOTH}}, "give a dict"),
        ({"vary": {"temperature": [0, 1]}, "temperature": 0}, "both varied and fixed"),
        ({"repeats": 0}, "repeats"),
        ({"scorers": [checks.expected]}, "call it"),
        ({"bogus": 1}, "unexpected keyword"),
        ({"vary": {"temperature": ["hot"]}}, "temperature"),
    ],
)
def test_bad_experiments_fail_before_any_call(
    session: nv.Session, kwargs: dict[str, object], message: str
) -> None:
    """Every mistake is caught when the experiment is made, with a message that says what."""
    with pytest.raises((nv.ConfigError, TypeError, ValueError)) as err:
        session.experiment(facts(2), **kwargs)  # type: ignore[arg-type]
    assert message in str(err.value)


# --- plan before spending -----------------------------------------------------------------
def test_plan_counts_calls_cost_time_and_power(session: nv.Session) -> None:
    """The plan counts calls, prices them, states NIM's pace and the detectable effect."""
    session.rate_limiter = nv.session.RateLimiter({"nvidia-nim": "40/min"})
    exp = session.experiment(facts(150), vary=BOTH, repeats=2, scorers=[checks.expected()])
    plan = exp.plan()
    assert plan.subject_calls == 600
    assert plan.judge_calls == 0
    assert plan.subject_cost_usd > 0
    text = str(plan)
    assert "600 subject calls" in text
    # 300 NIM calls at ~40/min (the limiter keeps a small safety margin) ≈ 7.5+ min
    assert 7 <= plan.minutes <= 9
    assert "nvidia-nim paced at" in text
    assert "provider" in plan.mde
    assert 0.1 < plan.mde["provider"] < 0.3
    assert "SIMULATED" in text


def test_plan_names_the_rate_as_configured_and_prices_a_default_judge(
    session: nv.Session,
) -> None:
    """ "40/min" reads back as 40 requests/min (not the limiter's safety-margined 39), and a
    judge named without a model is priced at the model the run will resolve."""
    from nvgw_nb.experiments import judges

    session.rate_limiter = nv.session.RateLimiter({"nvidia-nim": "40/min"})
    exp = session.experiment(
        facts(20), vary=BOTH, scorers=[judges.reference(judge="nvidia-gateway")]
    )
    plan = exp.plan()
    assert "nvidia-nim paced at 40 requests/min" in str(plan)
    assert plan.judge_calls == 40
    assert plan.judge_cost_usd > 0


def test_an_empty_fixed_system_prompt_sends_none(session: nv.Session) -> None:
    """system="" fixed for the whole experiment means no system message, as on the axis."""
    jobs = session.experiment(facts(2), system="").jobs()
    assert all(job.request.messages[0].role == "user" for job in jobs)


def test_plan_warns_about_few_cases(session: nv.Session) -> None:
    """Fewer than 10 cases: the plan says intervals will be wide."""
    plan = session.experiment(facts(4), vary=BOTH).plan()
    assert any("only 4 cases" in w for w in plan.warnings)
    assert "<li>" in plan._repr_html_()


# --- running --------------------------------------------------------------------------------
def test_run_records_every_call_with_scores(graded: nv.Session, tmp_path: Path) -> None:
    """One record per call: cell, case, repeat, who answered, cost, text and scores."""
    exp = graded.experiment(facts(6), vary=BOTH, repeats=2, scorers=[checks.expected()])
    run = exp.run(progress=False, save_to=tmp_path / "run.jsonl")
    assert len(run.records) == 24
    rows = run.table()
    assert {r["provider_asked"] for r in rows} == {"nvidia-nim", "nvidia-gateway"}
    assert all(r["provider"] == r["provider_asked"] and r["simulated"] for r in rows)
    assert all(r["expected"] in (0.0, 1.0) for r in rows)
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "experiment"
    assert len(lines) == 25


def test_rerun_with_the_same_file_makes_only_missing_calls(sim: Simulator, tmp_path: Path) -> None:
    """A call cap stops cleanly; running again with the same save_to finishes the rest."""
    path = tmp_path / "run.jsonl"
    with sim.session() as session:
        exp = session.experiment(facts(10), vary=BOTH, scorers=[checks.expected()])
        first = exp.run(progress=False, save_to=path, max_calls=7, concurrency=1)
        assert len(first.records) == 7
        assert first.stopped is not None
        assert "max_calls=7" in first.stopped
        assert "13 of 20 calls not made" in first.stopped
        sim.reset_stats()
        second = exp.run(progress=False, save_to=path)
        made = (
            sim.stats()["requests"]["nvidia-nim"]["chat"]
            + sim.stats()["requests"]["nvidia-gateway"]["chat"]
        )
        assert made == 13
        assert len(second.records) == 20
        assert second.stopped is None
        sim.reset_stats()
        third = exp.run(progress=False, save_to=path)
        assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 0
        assert len(third.records) == 20


def test_a_file_from_another_experiment_is_not_resumed(session: nv.Session, tmp_path: Path) -> None:
    """Resuming with different cases or scorers is refused, saying why."""
    path = tmp_path / "run.jsonl"
    session.experiment(facts(3), vary=BOTH).run(progress=False, save_to=path)
    with pytest.raises(nv.ConfigError, match="its cases differ"):
        session.experiment(facts(4), vary=BOTH).run(progress=False, save_to=path)
    with pytest.raises(nv.ConfigError, match="rescore"):
        session.experiment(facts(3), vary=BOTH, scorers=[checks.expected()]).run(
            progress=False, save_to=path
        )


def test_budget_stops_cleanly_and_says_so(session: nv.Session) -> None:
    """A budget stops starting calls once spent; the Run says how many were not made."""
    exp = session.experiment(facts(20), vary=BOTH)
    run = exp.run(progress=False, budget_usd=0.00005, concurrency=1)
    assert 0 < len(run.records) < 40
    assert run.stopped is not None
    assert "budget of $0.00005 reached" in run.stopped
    assert "calls not made" in run.stopped
    assert "stopped" in repr(run)


def test_cancelling_keeps_finished_calls(sim: Simulator, tmp_path: Path) -> None:
    """task.cancel() mid-run keeps every finished call, in last_run and in the file."""
    path = tmp_path / "run.jsonl"
    slow = Simulator(time_scale=1.0)
    with slow, slow.session() as session:
        exp = session.experiment(facts(40), vary=BOTH)

        async def main() -> None:
            task = asyncio.ensure_future(exp.arun(progress=False, save_to=path, concurrency=2))
            while not path.exists() or len(path.read_text().splitlines()) < 4:
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
    assert exp.last_run is not None
    assert exp.last_run.stopped == "interrupted"
    kept = len(exp.last_run.records)
    assert 3 <= kept < 80
    assert len(Run.load(path).records) == kept


def test_repeats_are_cached_apart(sim: Simulator, tmp_path: Path) -> None:
    """With a response cache, a re-run is free and no repeat replays another's answer."""
    cache = nv.ResponseCache(tmp_path / "cache.sqlite")
    with sim.session(cache=cache) as session:
        exp = session.experiment(facts(4), vary=BOTH, repeats=3, temperature=0.9)
        first = exp.run(progress=False)
        assert not any(r.cached for r in first.records)
        assert len({(r.cell, r.case_id, r.text) for r in first.records}) > 8  # repeats vary
        sim.reset_stats()
        again = exp.run(progress=False)
        assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 0
        assert all(r.cached for r in again.records)
        before = {(r.cell, r.case_id, r.repeat): r.text for r in first.records}
        assert all(before[(r.cell, r.case_id, r.repeat)] == r.text for r in again.records)


def test_the_simulator_learns_the_cases_so_accuracy_shows(graded: nv.Session) -> None:
    """SIMULATED: with accuracy 0.6 vs 0.9 the pass rates land near them."""
    run = graded.experiment(facts(60), vary=BOTH, scorers=[checks.expected()]).run(progress=False)
    rows = {r.group["provider"]: r for r in run.summary().rows}
    assert 0.4 <= rows["nvidia-nim"].metrics["expected"].mean <= 0.8
    assert rows["nvidia-gateway"].metrics["expected"].mean >= 0.8


# --- statistics that hold up ----------------------------------------------------------------
def test_compare_finds_a_real_difference(graded: nv.Session) -> None:
    """Accuracy 0.6 vs 0.9 on 60 cases: the paired interval excludes zero."""
    run = graded.experiment(facts(60), vary=BOTH, scorers=[checks.expected()]).run(progress=False)
    result = run.compare(a=NIM, b=GATEWAY)
    assert result.n_cases == 60
    assert result.ci[1] < 0
    assert result.significant
    assert "nvidia-gateway is better" in result.verdict
    assert result.verdict.startswith("SIMULATED")


def test_equal_accuracy_rarely_shows_a_difference() -> None:
    """Equal accuracy, 40 seeds × 60 cases: the interval excludes zero in ≤ ~5% of runs."""
    false_alarms = 0
    for seed in range(40):
        with (
            Simulator(
                time_scale=0, seed=seed, accuracy={"nvidia-nim": 0.75, "nvidia-gateway": 0.75}
            ) as sim,
            sim.session() as session,
        ):
            exp = session.experiment(facts(60), vary=BOTH, scorers=[checks.expected()], seed=seed)
            result = exp.run(progress=False, concurrency=16).compare(a=NIM, b=GATEWAY)
            false_alarms += result.significant
            if not result.significant:
                assert "better" not in result.verdict
                assert "could miss" in result.verdict
    assert false_alarms <= 4


def test_fell_back_calls_are_left_out_and_counted() -> None:
    """A call served by another provider than its cell pinned is not that cell's quality."""
    case = Case("q", id="q1", reference="x", check="contains")
    header = nv.experiments.store.Header(
        cases=[case, case.model_copy(update={"id": "q2"}), case.model_copy(update={"id": "q3"})],
        cells=[
            {"id": "provider=a", "label": "a", "axes": {"provider": "a"}, "provider": "a"},
            {"id": "provider=b", "label": "b", "axes": {"provider": "b"}, "provider": "b"},
        ],
        repeats=1,
        scorers=["expected"],
        seed=0,
        simulated=False,
    )

    def record(cell: str, case_id: str, served: str, value: float) -> CallRecord:
        asked = cell.split("=")[1]
        return CallRecord(
            cell=cell,
            axes={"provider": asked},
            case_id=case_id,
            repeat=0,
            provider_asked=asked,
            provider=served,
            fell_back=served != asked,
            text="x",
            scores={"expected": Score(value, value == 1.0)},
            key=f"{cell}{case_id}",
        )

    run = Run(
        header=header,
        records=[
            record("provider=a", "q1", "a", 1.0),
            record("provider=b", "q1", "b", 0.0),
            record("provider=a", "q2", "b", 1.0),
            record("provider=b", "q2", "b", 0.0),
            record("provider=a", "q3", "a", 1.0),
            record("provider=b", "q3", "b", 1.0),
        ],
    )
    result = run.compare(a={"provider": "a"}, b={"provider": "b"})
    assert result.n_cases == 2
    assert result.left_out.get("fell back to another provider") == 1
    assert "fell back" in result.verdict
    summary = run.summary()
    assert summary.rows[0].fell_back == 1
    assert summary.rows[0].n_cases == 2


# --- saved runs -----------------------------------------------------------------------------
def test_two_saved_runs_compare_paired_on_case_ids(graded: nv.Session, tmp_path: Path) -> None:
    """Before/after a prompt change: load both files, compare on shared case ids."""
    cases = facts(40)
    old = graded.experiment(cases, vary={"provider": ["nvidia-nim"]}, scorers=[checks.expected()])
    old.run(progress=False, save_to=tmp_path / "old.jsonl")
    new = graded.experiment(
        cases, vary={"provider": ["nvidia-gateway"]}, scorers=[checks.expected()]
    )
    new.run(progress=False, save_to=tmp_path / "new.jsonl")
    before, after = Run.load(tmp_path / "old.jsonl"), Run.load(tmp_path / "new.jsonl")
    result = after.compare(against=before)
    assert result.n_cases == 40
    assert result.delta > 0
    assert result.simulated


def test_rescore_scores_stored_answers_without_calling(sim: Simulator, tmp_path: Path) -> None:
    """rescore() adds scores to stored answers and sends nothing."""
    with sim.session() as session:
        run = session.experiment(facts(5), vary=BOTH).run(
            progress=False, save_to=tmp_path / "r.jsonl"
        )
    sim.reset_stats()
    loaded = Run.load(tmp_path / "r.jsonl")
    again = loaded.rescore([checks.contains("port", name="mentions_port")])
    assert sim.stats()["requests"]["nvidia-nim"]["chat"] == 0
    assert "mentions_port" in again.scorer_names
    assert len(again.records) == len(run.records)
    assert all(r.scores["mentions_port"].passed is not None for r in again.records)


def test_human_ratings_persist_and_measure_the_judge(graded: nv.Session, tmp_path: Path) -> None:
    """rate() and prefer() are saved to the file; judge_agreement gives kappa on them."""
    path = tmp_path / "r.jsonl"
    run = graded.experiment(facts(6), vary=BOTH, scorers=[checks.expected()]).run(
        progress=False, save_to=path
    )
    for r in run.records:
        run.rate(r.case_id, r.cell, passed=bool(r.scores["expected"].passed))
    run.prefer("q000", run.cells[0].id, run.cells[1].id, "tie")
    loaded = Run.load(path)
    assert len([x for x in loaded.ratings if x.kind == "pass"]) == 12
    assert any(x.kind == "prefer" for x in loaded.ratings)
    agreement = loaded.judge_agreement("expected")
    assert agreement.n == 12
    assert agreement.agreement == 1.0
    human = loaded.rescore([checks.human()])
    assert all(r.scores["human"].value in (0.0, 1.0) for r in human.records)
    with pytest.raises(nv.ConfigError, match="no case"):
        run.rate("nope", run.cells[0].id, passed=True)
    with pytest.raises(nv.ConfigError, match="winner"):
        run.prefer("q000", run.cells[0].id, run.cells[1].id, "left")  # type: ignore[arg-type]


def test_summary_by_axis_pools_the_other_axes(graded: nv.Session) -> None:
    """summary(by="provider") pools cells over the other axes; markdown escapes $."""
    run = graded.experiment(
        facts(5),
        vary={**BOTH, "system": {"plain": "", "terse": "Answer only."}},
        scorers=[checks.expected()],
    ).run(progress=False)
    summary = run.summary(by="provider")
    assert [r.label for r in summary.rows] == ["nvidia-nim", "nvidia-gateway"]
    assert all(r.n_calls == 10 for r in summary.rows)
    text = summary.to_markdown()
    assert "\\$" in text
    assert " $" not in text.replace("\\$", "")
    with pytest.raises(nv.ConfigError, match="no axis"):
        run.summary(by="colour")


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("clustered", [False, True])
def test_a_pass_rate_of_0_or_100_percent_keeps_a_real_interval(
    value: float, clustered: bool
) -> None:
    """Every case passing on every repeat (or none) must not read "100% (100%–100%)": the
    interval is never narrower than Wilson's on the same cases."""
    from nvgw_nb import stats
    from nvgw_nb.experiments.summary import metric_summary

    per_case = {f"c{i}": [value, value] for i in range(12)}  # two repeats: the t path
    clusters = {f"c{i}": (f"g{i % 3}" if clustered else None) for i in range(12)}
    result = metric_summary("expected", per_case, clusters)
    wilson = stats.wilson_interval(round(12 * value), 12)
    assert result.high - result.low > 0.1
    assert result.low <= wilson.low + 1e-12
    assert result.high >= wilson.high - 1e-12
    assert 0.0 <= result.low <= result.mean <= result.high <= 1.0
