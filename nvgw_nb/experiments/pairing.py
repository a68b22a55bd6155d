"""`Run.pairwise`: a judge compares two cells' answers case by case, in both orders.

Each pair is judged with A in the first slot and again with B first; when the two
verdicts disagree the case is a tie (as FastChat and arena-hard do), so a judge that
favours a slot cannot make a winner. Verdicts are kept in the run (and its file), so
asking again is free. With more than two values, every pair is judged and the arms are
ranked by Bradley–Terry.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.records import CallRecord, Judgement
from nvgw_nb.experiments.scoring import ScoringContext
from nvgw_nb.experiments.store import append

if TYPE_CHECKING:
    from nvgw_nb.experiments.analysis import PairOutcome, PairwiseResult, Ranking
    from nvgw_nb.experiments.grid import Cell
    from nvgw_nb.experiments.judges import PairwiseJudge
    from nvgw_nb.experiments.run import Run

__all__ = ["judge_pairs"]

Winner = Literal["a", "b", "tie"]


def judge_pairs(
    run: Run,
    axis: str,
    judge: PairwiseJudge,
    *,
    values: Sequence[Any] | None,
    where: Mapping[str, Any] | None,
    repeat: int,
    swap: bool,
    concurrency: int,
) -> PairwiseResult | Ranking:
    """Judge every pair of `values` of `axis` (see `Run.pairwise`)."""
    from nvgw_nb.bradley_terry import Battle
    from nvgw_nb.experiments.analysis import pairwise_result, rank_arms

    if run.session is None:
        raise ConfigError("pairwise() calls a judge: load the run with Run.load(path, session=)")
    arms = _arms(run, axis, values, where)
    pairs = list(itertools.combinations(arms, 2))
    provider, model = judge.resolve(run.session)
    label = f"{provider}/{model}"
    found = run.session._portal.run(_judge_all(run, judge, label, pairs, repeat, swap, concurrency))
    warnings = _warnings(run, judge, model, arms, repeat)
    if len(arms) == 2:
        (_, cell_a), (_, cell_b) = arms
        outcomes = found[(cell_a.id, cell_b.id)]
        return pairwise_result(
            outcomes,
            label_a=str(arms[0][0]),
            label_b=str(arms[1][0]),
            judge=label,
            seed=run.header.seed,
            warnings=warnings,
            simulated=run.simulated,
        )
    battles = []
    names = {cell.id: str(value) for value, cell in arms}
    for (cell_a_id, cell_b_id), outcomes in found.items():
        for o in outcomes:
            for verdict in (o.g1, o.g2):
                if verdict is None:
                    continue
                score = {"a": 1.0, "b": 0.0, "tie": 0.5}[verdict]
                battles.append(
                    Battle(o.case_id, names[cell_a_id], names[cell_b_id], score, o.len_a, o.len_b)
                )
    return rank_arms(battles, seed=run.header.seed, simulated=run.simulated)


def _arms(
    run: Run, axis: str, values: Sequence[Any] | None, where: Mapping[str, Any] | None
) -> list[tuple[Any, Cell]]:
    """One cell per value of `axis`, the other axes fixed by `where`."""
    where = dict(where or {})
    if axis in where:
        raise ConfigError(f"{axis!r} is the axis compared; it cannot also be in where=")
    pool = run.cells_matching(where)
    chosen = (
        list(values)
        if values is not None
        else list(dict.fromkeys(c.axes.get(axis) for c in pool if axis in c.axes))
    )
    if len(chosen) < 2:
        raise ConfigError(f"pairwise() needs two or more values of {axis!r}; found {chosen}")
    arms = []
    for value in chosen:
        cells = [c for c in pool if c.axes.get(axis) == value]
        if not cells:
            raise ConfigError(f"no cell has {axis}={value!r}")
        if len(cells) > 1:
            others = sorted(
                {
                    a
                    for c in cells
                    for a in c.axes
                    if a != axis and len({x.axes.get(a) for x in cells}) > 1
                }
            )
            raise ConfigError(
                f"{axis}={value!r} has {len(cells)} cells (they differ in "
                f"{', '.join(others)}); fix them with where={{...}}"
            )
        arms.append((value, cells[0]))
    return arms


async def _judge_all(
    run: Run,
    judge: PairwiseJudge,
    label: str,
    pairs: Sequence[tuple[tuple[Any, Cell], tuple[Any, Cell]]],
    repeat: int,
    swap: bool,
    concurrency: int,
) -> dict[tuple[str, str], list[PairOutcome]]:
    from nvgw_nb.experiments.analysis import PairOutcome

    context = ScoringContext(session=run.session, seed=run.header.seed)
    gate = asyncio.Semaphore(max(1, concurrency))
    kept = {(j.judge, j.case_id, j.cell_a, j.cell_b, j.a_first): j for j in run.judgements}
    answers = {(r.cell, r.case_id): r for r in run.records if r.repeat == repeat}

    async def verdict(case_id: str, cell_a: str, cell_b: str, a_first: bool) -> Winner | None:
        key = (label, case_id, cell_a, cell_b, a_first)
        if key in kept:
            return kept[key].winner
        a, b = answers[(cell_a, case_id)], answers[(cell_b, case_id)]
        first, second = (a, b) if a_first else (b, a)
        async with gate:
            found = await judge.ajudge(
                run.cases[case_id], first.text or "", second.text or "", context
            )
        # A failed judge call gives no verdict: the case is left out, never a tie.
        winner = None if found.failed else _arm(found.winner, a_first)
        judgement = Judgement(
            judge=label,
            case_id=case_id,
            cell_a=cell_a,
            cell_b=cell_b,
            a_first=a_first,
            winner=winner,
            reason=found.reason,
            tokens=found.tokens,
            cost_usd=found.cost_usd,
        )
        kept[key] = judgement
        run.judgements.append(judgement)
        if run.path is not None:
            append(run.path, judgement)
        return winner

    async def one(case_id: str, cell_a: str, cell_b: str) -> PairOutcome | None:
        orders = [True, False] if swap else [True]
        got = await asyncio.gather(*(verdict(case_id, cell_a, cell_b, o) for o in orders))
        if got[0] is None or (swap and got[1] is None):
            return None  # the judge failed: the case is left out of this pair
        a, b = answers[(cell_a, case_id)], answers[(cell_b, case_id)]
        return PairOutcome(
            case_id, got[0], got[1] if swap else None, len(a.text or ""), len(b.text or "")
        )

    out: dict[tuple[str, str], list[PairOutcome]] = {}
    for (_, cell_a), (_, cell_b) in pairs:
        shared = [
            case_id
            for case_id in run.cases
            if _usable(answers.get((cell_a.id, case_id)))
            and _usable(answers.get((cell_b.id, case_id)))
        ]
        found = await asyncio.gather(*(one(c, cell_a.id, cell_b.id) for c in shared))
        out[(cell_a.id, cell_b.id)] = [o for o in found if o is not None]
    return out


def _arm(slot: str, a_first: bool) -> Winner | None:
    """The winning arm of a verdict given by slot ("first" / "second" / "tie")."""
    if slot == "tie":
        return "tie"
    if slot not in ("first", "second"):
        return None
    return "a" if (slot == "first") == a_first else "b"


def _usable(record: CallRecord | None) -> bool:
    return record is not None and record.usable and bool(record.text)


def _warnings(
    run: Run, judge: PairwiseJudge, model: str, arms: Sequence[tuple[Any, Cell]], repeat: int
) -> list[str]:
    """Self-preference: the judge's model family is one of the contestants'."""
    from nvgw_nb.experiments.judges import model_family, suggest_other_judge

    ids = {cell.id for _, cell in arms}
    families = {
        model_family(r.model or r.provider or "")
        for r in run.records
        if r.cell in ids and r.repeat == repeat and r.usable
    }
    families.discard("other")
    family = model_family(model)
    if family not in families:
        return []
    warning = (
        f"the judge ({model}, {family} family) is also a contestant's "
        "family: judges tend to prefer their own family's answers (self-preference)"
    )
    other = suggest_other_judge(families, run.session) if run.session is not None else None
    if other is not None:
        warning += f"; a judge from another family is configured: {other[0]} ({other[1]})"
    else:
        warning += "; no judge from another family is configured"
    return [warning]
