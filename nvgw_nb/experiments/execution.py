"""Running an experiment: the calls, their scores, the file, the budget, resuming.

Calls run on the Session's loop, at most `concurrency` at once, in the order of
`Experiment.jobs()`. Each finished call is scored at once, appended to `save_to` and
ticks the progress bar; a budget or call cap stops starting new calls (those running
finish) and the Run says why it stopped. Running again with the same `save_to` makes
only the calls the file lacks.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvgw_nb.batch import progress_bar
from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.experiments.records import CallRecord
from nvgw_nb.experiments.scoring import Score, ScoringContext, Subject, not_applicable
from nvgw_nb.experiments.store import Header, append, cell_dict, read_run
from nvgw_nb.results import ChatResult

if TYPE_CHECKING:
    from nvgw_nb.experiments.grid import Experiment, ExperimentJob
    from nvgw_nb.experiments.run import Run

__all__ = ["aexecute", "execute", "score_answer"]


def execute(
    experiment: Experiment,
    *,
    concurrency: int,
    budget_usd: float | None,
    max_calls: int | None,
    save_to: str | Path | None,
    progress: bool,
) -> Run:
    """`Experiment.run`: block until done (Ctrl-C keeps finished calls in `last_run`)."""
    work = _Work(experiment, concurrency, budget_usd, max_calls, save_to, progress)
    coro = work.calls()
    try:
        experiment.session._portal.run(coro)
    except BaseException:
        coro.close()  # never started when interrupted early: no "never awaited" warning
        work.finish(interrupted=True)
        raise
    return work.finish()


async def aexecute(
    experiment: Experiment,
    *,
    concurrency: int,
    budget_usd: float | None,
    max_calls: int | None,
    save_to: str | Path | None,
    progress: bool,
) -> Run:
    """`Experiment.arun` (task cancellation keeps finished calls in `last_run`)."""
    work = _Work(experiment, concurrency, budget_usd, max_calls, save_to, progress)
    coro = work.calls()
    try:
        await experiment.session._portal.arun(coro)
    except BaseException:
        coro.close()
        work.finish(interrupted=True)
        raise
    return work.finish()


class _Work:
    """One run's jobs, the records made so far (the file's first) and why it stopped."""

    def __init__(
        self,
        experiment: Experiment,
        concurrency: int,
        budget_usd: float | None,
        max_calls: int | None,
        save_to: str | Path | None,
        progress: bool,
    ) -> None:
        self.experiment = experiment
        self.jobs, done, self.target = _prepare(
            experiment, concurrency, budget_usd, max_calls, save_to
        )
        self.records: list[CallRecord] = list(done.values())
        experiment.session.last_calls = self.records  # progress views poll its length
        self.todo = [job for job in self.jobs if job.key not in done]
        label = experiment.label
        self.bar = progress_bar(len(self.todo), label) if progress and self.todo else None
        self.stopped: list[str] = []
        self.limits = (concurrency, budget_usd, max_calls)

    def calls(self) -> Coroutine[Any, Any, None]:
        concurrency, budget_usd, max_calls = self.limits
        return _run(
            self.experiment,
            self.todo,
            self.records,
            self.stopped,
            concurrency,
            budget_usd,
            max_calls,
            self.target,
            self.bar,
        )

    def finish(self, *, interrupted: bool = False) -> Run:
        stopped = ["interrupted"] if interrupted else self.stopped
        return _finish(self.experiment, self.jobs, self.records, stopped, self.target)


def _prepare(
    experiment: Experiment,
    concurrency: int,
    budget_usd: float | None,
    max_calls: int | None,
    save_to: str | Path | None,
) -> tuple[list[ExperimentJob], dict[str, CallRecord], Path | None]:
    """Check the arguments, the jobs and the file; the records the file already has."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be a whole number ≥ 1, got {concurrency!r}")
    if budget_usd is not None and (
        isinstance(budget_usd, bool)
        or not isinstance(budget_usd, (int, float))
        or not math.isfinite(budget_usd)
        or budget_usd < 0
    ):
        raise ConfigError(f"budget_usd must be dollars ≥ 0, got {budget_usd!r}")
    if max_calls is not None and (
        isinstance(max_calls, bool) or not isinstance(max_calls, int) or max_calls < 0
    ):
        raise ConfigError(f"max_calls must be a whole number ≥ 0, got {max_calls!r}")
    jobs = experiment.jobs()
    header = _header(experiment)
    done: dict[str, CallRecord] = {}
    target = Path(save_to) if save_to is not None else None
    if target is not None and target.exists() and target.stat().st_size > 0:
        contents = read_run(target)
        assert contents.header is not None
        _check_resumable(target, contents.header, header)
        wanted = {job.key for job in jobs}
        done = {r.key: r for r in contents.records if r.key in wanted}
    elif target is not None:
        append(target, header)
    _teach_simulator(experiment)
    return jobs, done, target


def _header(experiment: Experiment) -> Header:
    return Header(
        cases=list(experiment.cases),
        cells=[cell_dict(c) for c in experiment.cells],
        repeats=experiment.repeats,
        scorers=[s.name for s in experiment.scorers],
        seed=experiment.seed,
        simulated=experiment.simulated,
    )


def _check_resumable(path: Path, stored: Header, current: Header) -> None:
    """A file may be resumed by the experiment that wrote it (more repeats allowed)."""
    problems = []
    if [c.id for c in stored.cases] != [c.id for c in current.cases]:
        problems.append("its cases differ")
    if [c["id"] for c in stored.cells] != [c["id"] for c in current.cells]:
        problems.append("its cells differ")
    if stored.scorers != current.scorers:
        problems.append(
            f"its scorers differ ({', '.join(stored.scorers) or 'none'} there); "
            "use Run.load(path).rescore([...]) to score stored answers again"
        )
    if stored.simulated != current.simulated:
        problems.append("one was run on the simulator, the other on real endpoints")
    if problems:
        raise ConfigError(
            f"{path} holds another experiment ({'; '.join(problems)}): resume it with the "
            "same experiment, or save to a new file"
        )


def _teach_simulator(experiment: Experiment) -> None:
    """On the built-in simulator, tell it the cases' gold answers, so its answers are
    right with the probability its `accuracy` says (a SIMULATED modelling choice)."""
    simulator = experiment.session.simulator
    learn = getattr(simulator, "learn", None)
    if learn is None:
        return
    templates = {cell.template for cell in experiment.cells}
    learn(
        [
            {
                "text": case.text(template),
                "reference": case.reference,
                "check": case.check,
                "vars": case.vars,
                "cluster": case.cluster,
            }
            for case in experiment.cases
            for template in templates
        ]
    )


async def _run(
    experiment: Experiment,
    jobs: Sequence[ExperimentJob],
    records: list[CallRecord],
    stopped: list[str],
    concurrency: int,
    budget_usd: float | None,
    max_calls: int | None,
    target: Path | None,
    bar: Any,
) -> None:
    """Run `jobs`, appending each scored record to `records` (and the file) as it ends."""
    session = experiment.session
    context = ScoringContext(session=session, seed=experiment.seed)
    gate = asyncio.Semaphore(concurrency)
    spent = [0.0]
    tasks: list[asyncio.Task[None]] = []

    async def one(job: ExperimentJob) -> None:
        try:
            record = await _call(experiment, job, context)
            spent[0] += record.cost_usd + sum(s.cost_usd for s in record.scores.values())
            records.append(record)
            if target is not None:
                append(target, record)
            if bar is not None:
                bar.update(1)
        finally:
            gate.release()

    try:
        for made, job in enumerate(jobs):
            await gate.acquire()
            reason = _stop_reason(made, spent[0], budget_usd, max_calls, len(jobs))
            if reason is not None:
                gate.release()
                stopped.append(reason)
                break
            tasks.append(asyncio.ensure_future(one(job)))
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        if bar is not None:
            bar.close()


def _stop_reason(
    made: int, spent: float, budget: float | None, cap: int | None, total: int
) -> str | None:
    left = total - made
    if cap is not None and made >= cap:
        return f"max_calls={cap} reached: {left} of {total} calls not made"
    if budget is not None and spent >= budget:
        return (
            f"budget of {_dollars(budget)} reached ({_dollars(spent)} spent): {left} of "
            f"{total} calls not made"
        )
    return None


def _dollars(value: float) -> str:
    """Dollars with the digits that matter: $0.00005, $0.0123, $12.50."""
    if value >= 1:
        return f"${value:.2f}"
    return "$" + (f"{value:.6f}".rstrip("0").rstrip(".") or "0")


async def _call(experiment: Experiment, job: ExperimentJob, context: ScoringContext) -> CallRecord:
    session = experiment.session
    base: dict[str, Any] = {
        "cell": job.cell.id,
        "axes": job.cell.axes,
        "case_id": job.case.id,
        "repeat": job.repeat,
        "provider_asked": job.cell.provider,
        "role": _role(experiment, job),
        "simulated": experiment.simulated,
        "key": job.key,
    }
    try:
        result = await session._engine.chat(job.request, job.steps, job.policy)
    except NvgwError as err:
        record = CallRecord(
            **base,
            ok=False,
            error_kind=err.kind,
            error=str(err),
            # what the failure took and cost: it counts against the budget too
            latency_s=sum(a.elapsed_s + a.backoff_s for a in err.attempts),
            cost_usd=sum(a.cost_usd for a in err.attempts),
            attempts=err.attempts,
        )
        scores = await score_answer(experiment.scorers, _subject(job, None), context)
        return record.model_copy(update={"scores": scores})
    record = CallRecord(**{**base, **_answered(result, job.cell.provider)})
    subject = _subject(job, result)
    scores = await score_answer(experiment.scorers, subject, context)
    return record.model_copy(update={"scores": scores})


def _answered(result: ChatResult, asked: str) -> dict[str, Any]:
    return {
        "provider": result.served_by,
        "model": result.model,
        "fell_back": result.served_by != asked,
        "simulated": result.simulated,
        "cached": result.cached,
        "latency_s": result.original_latency_s if result.cached else result.latency_s,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "cost_usd": result.cost_usd,
        "text": result.content,
        "attempts": result.attempts,
    }


def _role(experiment: Experiment, job: ExperimentJob) -> str | None:
    role = job.cell.options.get("role") or experiment.options.get("role") or job.case.role
    return role if isinstance(role, str) else getattr(role, "name", None)


def _subject(job: ExperimentJob, result: ChatResult | None) -> Subject:
    return Subject(
        case=job.case,
        text=None if result is None else result.content,
        provider=None if result is None else result.served_by,
        model=None if result is None else result.model,
        cell=job.cell.id,
        repeat=job.repeat,
    )


async def score_answer(
    scorers: Sequence[Any], subject: Subject, context: ScoringContext
) -> dict[str, Score]:
    """Every scorer's Score of one answer; a scorer that raises is recorded, not raised
    (the answer is kept either way)."""
    scores: dict[str, Score] = {}
    for scorer in scorers:
        try:
            scores[scorer.name] = await scorer.ascore(subject, context)
        except (NvgwError, ValueError, TypeError, KeyError, RuntimeError, OSError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            scores[scorer.name] = not_applicable(f"scorer failed: {first}", kind=scorer.kind)
    return scores


def _finish(
    experiment: Experiment,
    jobs: Sequence[ExperimentJob],
    records: Sequence[CallRecord],
    stopped: Sequence[str],
    target: Path | None,
) -> Run:
    from nvgw_nb.experiments.run import Run

    order = {job.key: index for index, job in enumerate(jobs)}
    ordered = sorted(records, key=lambda r: order.get(r.key, len(order)))
    run = Run(
        header=_header(experiment),
        records=ordered,
        stopped=stopped[0] if stopped else None,
        path=target,
        session=experiment.session,
        scorers=experiment.scorers,
    )
    experiment.last_run = run
    return run
