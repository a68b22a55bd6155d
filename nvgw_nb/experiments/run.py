"""`Run`: the finished calls of an experiment, and what to ask of them.

`table()` / `to_pandas()` (one row per call), `summary(by=...)`, `compare(a, b)` (a
paired comparison with its verdict), `pairwise(axis, judge)` (a judge in both orders,
with its bias diagnostics), `rescore(scorers)`, human `rate` / `prefer` marks and
`judge_agreement`, `to_jsonl` / `Run.load`, and `matrix()` (the widget).

>>> run = exp.run(save_to="run.jsonl")                                     # doctest: +SKIP
>>> run.compare(a={"provider": "nvidia-nim"}, b={"provider": "nvidia-gateway"})  # doctest: +SKIP
>>> old, new = nv.Run.load("before.jsonl"), nv.Run.load("after.jsonl")    # doctest: +SKIP
>>> new.compare(against=old)                                              # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nvgw_nb import stats
from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.grid import Cell
from nvgw_nb.experiments.records import CallRecord, Judgement, Rating
from nvgw_nb.experiments.scoring import Scorer, ScoringContext, Subject, validate_scorers
from nvgw_nb.experiments.store import Header, append, read_run, write_run
from nvgw_nb.experiments.summary import RunSummary, case_means, data_frame, summarise

if TYPE_CHECKING:
    import pandas

    from nvgw_nb.experiments.analysis import PairedComparison, PairwiseResult, Ranking
    from nvgw_nb.experiments.judges import PairwiseJudge
    from nvgw_nb.session import Session
    from nvgw_nb.widgets.matrix import ExperimentMatrix

__all__ = ["JudgeAgreement", "Run", "SemanticAgreement"]

#: metrics compared as ratios (lower is better) with a case-level bootstrap
RATIO_METRICS = ("latency_s", "cost_usd")


@dataclass(frozen=True)
class JudgeAgreement:
    """How often a judge agrees with human pass/fail marks, and Cohen's kappa (R10)."""

    scorer: str
    n: int
    agreement: float
    kappa: float
    verdict: str

    def __str__(self) -> str:
        return self.verdict


@dataclass(frozen=True)
class SemanticAgreement:
    """Is A further from B than A and B are from themselves? (R9: embeddings)

    `gap` = mean over cases of min(cos_AA, cos_BB) − cos_AB, with a case bootstrap CI.
    """

    a: str
    b: str
    cos_aa: float
    cos_bb: float
    cos_ab: float
    gap: float
    ci: tuple[float, float]
    n_cases: int
    verdict: str

    def __str__(self) -> str:
        return self.verdict


class Run:
    """The calls of an experiment run (or a loaded run file) and their scores."""

    def __init__(
        self,
        *,
        header: Header,
        records: Sequence[CallRecord],
        stopped: str | None = None,
        path: Path | None = None,
        session: Session | None = None,
        scorers: Sequence[Scorer] = (),
        ratings: Sequence[Rating] = (),
        judgements: Sequence[Judgement] = (),
    ) -> None:
        self.header = header
        self.records = list(records)
        #: why the run stopped early (budget, call cap, interrupted), else None
        self.stopped = stopped
        self.path = path
        self.session = session
        self.scorers = tuple(scorers)
        self.ratings: list[Rating] = list(ratings)
        self.judgements: list[Judgement] = list(judgements)
        self.cases: dict[str, Case] = {c.id: c for c in header.cases if c.id is not None}
        self.cells: list[Cell] = [
            Cell(
                id=c["id"],
                label=c["label"],
                axes=dict(c["axes"]),
                provider=c["provider"],
                options=dict(c.get("options", {})),
                template=c.get("template"),
            )
            for c in header.cells
        ]

    # --- reading and writing -------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, session: Session | None = None) -> Run:
        """A run saved with `save_to=` or `to_jsonl` (give `session` to rescore with
        judges or to ask a pairwise judge)."""
        contents = read_run(path)
        assert contents.header is not None
        records: dict[str, CallRecord] = {}
        for record in contents.records:  # a resumed file may repeat a key: keep the last
            records[record.key or f"{record.cell}|{record.case_id}|{record.repeat}"] = record
        return cls(
            header=contents.header,
            records=list(records.values()),
            path=Path(path),
            session=session,
            ratings=list(
                {  # a changed mark is appended: the last one for an answer wins
                    (r.kind, r.case_id, r.cell, r.repeat, r.other_cell): r for r in contents.ratings
                }.values()
            ),
            judgements=contents.judgements,
        )

    def to_jsonl(self, path: str | Path) -> Path:
        """Write the whole run (calls, ratings, judge verdicts) to `path`."""
        return write_run(Path(path), self.header, [*self.records, *self.ratings, *self.judgements])

    @property
    def simulated(self) -> bool:
        """True when any call came from the built-in simulator."""
        return self.header.simulated or any(r.simulated for r in self.records)

    @property
    def scorer_names(self) -> list[str]:
        """The names of the scores each call carries."""
        names = list(self.header.scorers)
        for record in self.records:
            names += [n for n in record.scores if n not in names]
        return names

    def table(self) -> list[dict[str, Any]]:
        """One dict per call: axes, case, repeat, provider asked and answering, fell back,
        simulated, latency, tokens, cost, text, and every score (value, passed, reason)."""
        rows = []
        for r in self.records:
            row: dict[str, Any] = {
                "cell": r.cell,
                **r.axes,
                "case": r.case_id,
                "repeat": r.repeat,
                "provider_asked": r.provider_asked,
                "provider": r.provider,
                "model": r.model,
                "fell_back": r.fell_back,
                "simulated": r.simulated,
                "cached": r.cached,
                "ok": r.ok,
                "error_kind": r.error_kind,
                "latency_s": r.latency_s,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost_usd": r.cost_usd,
                "text": r.text,
            }
            for name in self.scorer_names:
                score = r.scores.get(name)
                row[name] = None if score is None else score.value
                row[f"{name}_passed"] = None if score is None else score.passed
                row[f"{name}_reason"] = None if score is None else score.reason
            rows.append(row)
        return rows

    def to_pandas(self) -> pandas.DataFrame:
        """`table()` as a DataFrame (needs pandas)."""
        return data_frame(self.table(), "Run")

    # --- cells ---------------------------------------------------------------------------
    def cells_matching(self, selector: Mapping[str, Any]) -> list[Cell]:
        """The cells whose axes have the values in `selector` (a ConfigError if none)."""
        unknown = set(selector) - {a for c in self.cells for a in c.axes}
        if unknown:
            raise ConfigError(
                f"no axis {sorted(unknown)[0]!r} in this run; axes: "
                f"{', '.join(sorted({a for c in self.cells for a in c.axes}))}"
            )
        cells = [c for c in self.cells if c.matches(selector)]
        if not cells:
            raise ConfigError(
                f"no cell has {dict(selector)}; cells: {', '.join(c.label for c in self.cells)}"
            )
        return cells

    def _records_of(self, cells: Sequence[Cell]) -> list[CallRecord]:
        ids = {c.id for c in cells}
        return [r for r in self.records if r.cell in ids]

    # --- numbers -------------------------------------------------------------------------
    def summary(self, by: str | Sequence[str] | None = None) -> RunSummary:
        """Per cell — or per value of the `by` axes, pooling the other axes — the cases,
        calls, left-out calls, each score with its 95% interval, latency and cost."""
        metrics = self.scorer_names
        if by is None:
            groups = [(c.label, dict(c.axes), [c.id]) for c in self.cells]
        else:
            axes = [by] if isinstance(by, str) else list(by)
            self.cells_matching({})  # nothing to check, but keeps one error path
            seen: dict[tuple[Any, ...], list[str]] = {}
            for cell in self.cells:
                missing = [a for a in axes if a not in cell.axes]
                if missing:
                    raise ConfigError(f"no axis {missing[0]!r} in this run")
                seen.setdefault(tuple(cell.axes[a] for a in axes), []).append(cell.id)
            groups = [
                (" · ".join(str(v) for v in key), dict(zip(axes, key, strict=True)), ids)
                for key, ids in seen.items()
            ]
        return summarise(self.records, groups, metrics, self.cases, self.simulated)

    def compare(
        self,
        a: Mapping[str, Any] | None = None,
        b: Mapping[str, Any] | None = None,
        *,
        metric: str | None = None,
        against: Run | None = None,
        seed: int | None = None,
    ) -> PairedComparison:
        """Arm `a` against arm `b`, paired on the cases both answered.

        Arms are axis selections (`{"provider": "nvidia-nim"}`); cells that match are
        pooled per case. `metric` is a scorer's name (default: the first) or latency_s /
        cost_usd (a geometric-mean ratio with a case bootstrap). With `against=old_run`,
        `b` selects cells of that run (default: all of it) — before vs after a change.
        Calls that fell back, failed or could not be scored are left out and counted.
        """
        from nvgw_nb.experiments.analysis import compare_paired, compare_ratio

        metric = metric or self._default_metric()
        other = against if against is not None else self
        if against is None and (a is None or b is None):
            raise ConfigError("compare() needs a={...} and b={...}, or against=another_run")
        cells_a = self.cells_matching(a or {})
        cells_b = other.cells_matching(b or {})
        records_a, records_b = self._records_of(cells_a), other._records_of(cells_b)
        values_a, values_b = case_means(records_a, metric), case_means(records_b, metric)
        shared = set(values_a) & set(values_b)
        left_out = _left_out(records_a + records_b, metric)
        unshared = len(set(values_a) ^ set(values_b))
        if unshared:
            left_out["cases not answered by both"] = unshared
        label_a = _arm_label(a, "this run" if against is not None else "a")
        label_b = _arm_label(b, "the other run" if against is not None else "b")
        a_vals = {k: values_a[k] for k in shared}
        b_vals = {k: values_b[k] for k in shared}
        seed = self.header.seed if seed is None else seed
        simulated = self.simulated or other.simulated
        if metric in RATIO_METRICS:
            return compare_ratio(
                a_vals,
                b_vals,
                metric=metric,
                label_a=label_a,
                label_b=label_b,
                seed=seed,
                simulated=simulated,
                left_out=left_out,
            )
        clusters: dict[str, str] = {}
        for k in shared:
            cluster = self.cases[k].cluster if k in self.cases else None
            if cluster:
                clusters[k] = cluster
        return compare_paired(
            a_vals,
            b_vals,
            metric=metric,
            label_a=label_a,
            label_b=label_b,
            clusters=clusters or None,
            seed=seed,
            simulated=simulated,
            left_out=left_out,
        )

    def _default_metric(self) -> str:
        names = self.scorer_names
        if not names:
            raise ConfigError("this run has no scores: give metric='latency_s' or rescore it")
        return names[0]

    # --- judging pairs -------------------------------------------------------------------
    def pairwise(
        self,
        axis: str = "provider",
        judge: PairwiseJudge | None = None,
        *,
        values: Sequence[Any] | None = None,
        where: Mapping[str, Any] | None = None,
        repeat: int = 0,
        swap: bool = True,
        concurrency: int = 4,
    ) -> PairwiseResult | Ranking:
        """A judge compares the answers of two values of `axis` case by case, in both
        orders (a disagreement is a tie) → win rate, CI, position consistency, first-slot
        rate, length-controlled win rate, warnings. More than two values → a
        Bradley–Terry ranking. `swap=False` judges one order only (to show the bias)."""
        from nvgw_nb.experiments.pairing import judge_pairs

        if judge is None:
            raise ConfigError("pairwise() needs judge=nv.judges.pairwise('criteria', judge=...)")
        return judge_pairs(
            self,
            axis,
            judge,
            values=values,
            where=where,
            repeat=repeat,
            swap=swap,
            concurrency=concurrency,
        )

    # --- scoring again -------------------------------------------------------------------
    def rescore(self, scorers: Sequence[Scorer], *, session: Session | None = None) -> Run:
        """A new Run with `scorers` applied to the stored answers (no subject is called
        again); scores of other names are kept. Judges need a Session (this run's or
        `session=`)."""
        from nvgw_nb.experiments.execution import score_answer

        chosen = validate_scorers(scorers)
        session = session or self.session
        context = ScoringContext(
            session=session, seed=self.header.seed, ratings=self._rating_marks()
        )

        async def all_scores() -> list[CallRecord]:
            out = []
            for record in self.records:
                case = self.cases[record.case_id]
                subject = Subject(
                    case,
                    record.text if record.ok else None,
                    record.provider,
                    record.model,
                    record.cell,
                    record.repeat,
                )
                scores = await score_answer(chosen, subject, context)
                out.append(record.model_copy(update={"scores": {**record.scores, **scores}}))
            return out

        if any(s.kind != "check" and s.kind != "human" for s in chosen) and session is None:
            raise ConfigError("judge and embedding scorers call a model: rescore(..., session=)")
        if session is not None:
            records = session._portal.run(all_scores())
        else:
            import asyncio

            records = asyncio.run(all_scores())
        names = [
            *self.header.scorers,
            *(s.name for s in chosen if s.name not in self.header.scorers),
        ]
        header = Header(
            self.header.cases,
            self.header.cells,
            self.header.repeats,
            names,
            self.header.seed,
            self.header.simulated,
        )
        return Run(
            header=header,
            records=records,
            session=session,
            scorers=(*self.scorers, *chosen),
            ratings=self.ratings,
            judgements=self.judgements,
        )

    # --- human marks ---------------------------------------------------------------------
    def rate(self, case_id: str, cell: str, *, passed: bool, repeat: int = 0) -> Rating:
        """A human's pass/fail mark on one answer: kept in the run (and its file), read by
        `checks.human()` and `judge_agreement`."""
        self._check_answer(case_id, cell, repeat)
        rating = Rating(kind="pass", case_id=case_id, cell=cell, repeat=repeat, passed=bool(passed))
        return self._keep(rating)

    def prefer(
        self, case_id: str, cell_a: str, cell_b: str, winner: Literal["a", "b", "tie"]
    ) -> Rating:
        """A human's "which is better" on two cells' answers: winner "a", "b" or "tie"."""
        if winner not in ("a", "b", "tie"):
            raise ConfigError(f"winner must be 'a', 'b' or 'tie', not {winner!r}")
        self._check_answer(case_id, cell_a, 0)
        self._check_answer(case_id, cell_b, 0)
        rating = Rating(
            kind="prefer", case_id=case_id, cell=cell_a, other_cell=cell_b, winner=winner
        )
        return self._keep(rating)

    def _keep(self, rating: Rating) -> Rating:
        self.ratings = [
            r
            for r in self.ratings
            if (r.kind, r.case_id, r.cell, r.repeat, r.other_cell)
            != (rating.kind, rating.case_id, rating.cell, rating.repeat, rating.other_cell)
        ] + [rating]
        if self.path is not None:
            append(self.path, rating)
        return rating

    def _check_answer(self, case_id: str, cell: str, repeat: int) -> None:
        if case_id not in self.cases:
            raise ConfigError(f"no case {case_id!r} in this run")
        if cell not in {c.id for c in self.cells}:
            raise ConfigError(f"no cell {cell!r} in this run")
        if not any(
            r.case_id == case_id and r.cell == cell and r.repeat == repeat for r in self.records
        ):
            raise ConfigError(f"no answer for case {case_id!r} in {cell!r} (repeat {repeat})")

    def _rating_marks(self) -> dict[tuple[str, str, int], bool]:
        return {
            (r.case_id, r.cell, r.repeat): bool(r.passed)
            for r in self.ratings
            if r.kind == "pass" and r.passed is not None
        }

    def judge_agreement(self, scorer: str) -> JudgeAgreement:
        """Agreement and Cohen's kappa between scorer `scorer`'s pass/fail and the human
        marks on the answers a human rated (R10): trust a judge only once this is high."""
        marks = self._rating_marks()
        pairs = []
        for r in self.records:
            human = marks.get((r.case_id, r.cell, r.repeat))
            score = r.scores.get(scorer)
            if human is not None and score is not None and score.passed is not None:
                pairs.append((score.passed, human))
        n = len(pairs)
        if n == 0:
            return JudgeAgreement(
                scorer,
                0,
                math.nan,
                math.nan,
                f"No answer has both a human mark and a {scorer} verdict yet.",
            )
        agreement = sum(1 for j, h in pairs if j == h) / n
        kappa = stats.cohen_kappa([j for j, _ in pairs], [h for _, h in pairs])
        strength = (
            "almost perfect"
            if kappa > 0.8
            else "substantial"
            if kappa > 0.6
            else "moderate"
            if kappa > 0.4
            else "fair"
            if kappa > 0.2
            else "poor"
        )
        small = " — too few ratings to trust (rate at least 20)" if n < 20 else ""
        verdict = (
            f"{scorer} agrees with the human marks on {agreement:.0%} of {n} rated "
            f"answers; Cohen's κ = {kappa:.2f} ({strength} beyond chance){small}."
        )
        return JudgeAgreement(scorer, n, agreement, kappa, verdict)

    # --- embeddings ----------------------------------------------------------------------
    def semantic_agreement(
        self, a: Mapping[str, Any], b: Mapping[str, Any], *, resamples: int = 2000
    ) -> SemanticAgreement:
        """R9 with NIM embeddings: is A further from B than each is from its own repeats?
        Needs at least two repeats and a Session."""
        from nvgw_nb.experiments.checks import semantic_agreement
        from nvgw_nb.resampling import bootstrap_interval

        if self.session is None:
            raise ConfigError("semantic_agreement() embeds answers: load the run with session=")
        texts_a = _texts(self._records_of(self.cells_matching(a)))
        texts_b = _texts(self._records_of(self.cells_matching(b)))
        shared = sorted(set(texts_a) & set(texts_b))
        found = self.session._portal.run(
            semantic_agreement(
                self.session, {k: texts_a[k] for k in shared}, {k: texts_b[k] for k in shared}
            )
        )
        gaps = {
            k: min(v.cos_aa, v.cos_bb) - v.cos_ab
            for k, v in found.items()
            if v.cos_aa is not None and v.cos_bb is not None and v.cos_ab is not None
        }
        label_a, label_b = _arm_label(a, "a"), _arm_label(b, "b")
        if len(gaps) < 2:
            return SemanticAgreement(
                label_a,
                label_b,
                math.nan,
                math.nan,
                math.nan,
                math.nan,
                (math.nan, math.nan),
                len(gaps),
                "Needs two or more repeats per cell on two or more cases.",
            )
        keys = sorted(gaps)

        def mean_gap(sample: Sequence[str]) -> float:
            return sum(gaps[k] for k in sample) / len(sample)

        interval = bootstrap_interval(keys, mean_gap, resamples=resamples, seed=self.header.seed)
        gap = mean_gap(keys)
        means = [
            sum(getattr(found[k], f) for k in keys) / len(keys)
            for f in ("cos_aa", "cos_bb", "cos_ab")
        ]
        if interval.low > 0:
            verdict = (
                f"{label_a} and {label_b} differ more from each other than each does "
                f"from its own repeats: gap {gap:.3f} (95% CI {interval.low:.3f} to "
                f"{interval.high:.3f}, {len(keys)} cases). Agreement, not quality."
            )
        else:
            verdict = (
                f"No more different from each other than from themselves: gap "
                f"{gap:.3f} (95% CI {interval.low:.3f} to {interval.high:.3f}, "
                f"{len(keys)} cases). Agreement, not quality."
            )
        if self.simulated:
            verdict = "SIMULATED — " + verdict
        return SemanticAgreement(
            label_a,
            label_b,
            means[0],
            means[1],
            means[2],
            gap,
            (interval.low, interval.high),
            len(keys),
            verdict,
        )

    # --- seeing it -----------------------------------------------------------------------
    def matrix(self, *, baseline: str | None = None) -> ExperimentMatrix:
        """The matrix widget: rows = cases, columns = cells, answers with pass marks and
        reasons, repeats folded, differences against `baseline`, human ratings."""
        from nvgw_nb.widgets.matrix import ExperimentMatrix

        return ExperimentMatrix(self, baseline=baseline)

    def __repr__(self) -> str:
        sim = ", SIMULATED" if self.simulated else ""
        stop = f", stopped: {self.stopped}" if self.stopped else ""
        return (
            f"Run({len(self.cases)} cases × {len(self.cells)} cells, "
            f"{len(self.records)} calls{sim}{stop})"
        )

    def _repr_html_(self) -> str:
        stop = f"<p><b>Stopped early</b>: {html.escape(self.stopped)}</p>" if self.stopped else ""
        return stop + self.summary()._repr_html_()


def _left_out(records: Sequence[CallRecord], metric: str) -> dict[str, int]:
    out: dict[str, int] = {}
    fell = sum(1 for r in records if r.ok and r.fell_back)
    failed = sum(1 for r in records if not r.ok)
    unscored = sum(
        1 for r in records if r.usable and metric not in RATIO_METRICS and r.score(metric) is None
    )
    for name, count in (
        ("fell back to another provider", fell),
        ("failed", failed),
        ("could not be scored", unscored),
    ):
        if count:
            out[name] = count
    return out


def _arm_label(selector: Mapping[str, Any] | None, default: str) -> str:
    if not selector:
        return default
    return " · ".join(str(v) for v in selector.values())


def _texts(records: Sequence[CallRecord]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        if r.usable and r.text:
            out.setdefault(r.case_id, []).append(r.text)
    return out
