"""The SDK's own cost of an experiment: time per call and memory per 10,000 rows, vs a plain loop.

A benchmark, not a test: nothing here asserts a time. Issue 15 asks what `Experiment.run`
adds over the cheapest way to make the same calls. In one process, against one simulator
(`Simulator(time_scale=0)`: no simulated latency, its loopback server on a thread of this
process), it times the same calls three ways:

- **floor**: `asyncio.gather` over `session.achat`, each call pinned like an experiment cell
  (`providers=[p], fallbacks=False`), at most `--concurrency` in flight (a semaphore), run
  on the Session's own loop, so no call crosses a thread;
- **caller loop**: the same loop run from the caller's `asyncio.run`, as notebook code
  would (each `achat` hops to the Session's loop and back);
- **experiment**: `session.experiment(cases, vary={"provider": [...]}, repeats=...,
  scorers=[checks.contains(), checks.expected()]).run(concurrency=..., progress=False)`,
  building the Experiment included.

Each round runs all three, in an order that rotates from round to round; the script prints
the per-call median of each over the rounds with its min–max and n, and the per-round ratio
experiment / floor. Then, under `tracemalloc`, it makes `--rows` calls each way and reports
the bytes the kept results hold (freed when dropped) and the peak above the start: a list of
`ChatResult`s (the floor) against a `Run` of `CallRecord`s.

All numbers are SIMULATED: they measure the SDK's overhead plus the simulator's CPU on this
machine, and say nothing about how fast NIM or the LLM Gateway answer.

    .venv/bin/python benchmarks/experiment_overhead.py            # 2,000 calls × 7 rounds, ~4 min
    .venv/bin/python benchmarks/experiment_overhead.py --calls 4000 --rounds 9
    .venv/bin/python benchmarks/experiment_overhead.py --quick    # a smoke run, not for quoting
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nvgw_nb as nv
from nvgw_nb.experiments import checks
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.run import Run
from nvgw_nb.results import ChatResult
from nvgw_nb.session import Session

PROVIDERS = ("nvidia-nim", "nvidia-gateway")
FLOOR = "floor: gather over achat, Session's loop"
CALLER = "gather over achat, caller's loop"
EXPERIMENT = "experiment.run (contains + expected)"
VARIANTS = (FLOOR, CALLER, EXPERIMENT)


@dataclass(frozen=True)
class Setup:
    """What every variant sends: the cases, the providers, repeats and concurrency."""

    cases: list[Case]
    providers: tuple[str, ...]
    repeats: int
    concurrency: int

    @property
    def calls(self) -> int:
        return len(self.cases) * len(self.providers) * self.repeats

    def jobs(self) -> list[tuple[str, str]]:
        """(prompt, provider) in the experiment's order: repeat, case, cell."""
        return [
            (case.text(), provider)
            for _ in range(self.repeats)
            for case in self.cases
            for provider in self.providers
        ]


def make_cases(n: int, offset: int = 0) -> list[Case]:
    """`n` distinct factual cases graded by `contains` against a one-word reference."""
    return [
        Case(
            f"Benchmark question {i}: what is the code word of item #{i}?",
            id=f"bench-{i}",
            reference=f"word{i}",
            check="contains",
        )
        for i in range(offset, offset + n)
    ]


# --- the three ways to make the calls ------------------------------------------------------------
async def _gather(session: Session, setup: Setup) -> list[ChatResult]:
    gate = asyncio.Semaphore(setup.concurrency)

    async def one(prompt: str, provider: str) -> ChatResult:
        async with gate:
            return await session.achat(prompt, providers=[provider], fallbacks=False)

    return await asyncio.gather(*(one(p, provider) for p, provider in setup.jobs()))


def floor(session: Session, setup: Setup) -> list[ChatResult]:
    """The plain loop on the Session's own loop (its private portal): no thread hops."""
    return session._portal.run(_gather(session, setup))


def caller_loop(session: Session, setup: Setup) -> list[ChatResult]:
    """The plain loop from the caller's own event loop, as notebook code runs it."""
    return asyncio.run(_gather(session, setup))


def experiment(session: Session, setup: Setup) -> Run:
    """Build and run the experiment (both are the SDK's cost)."""
    exp = session.experiment(
        setup.cases,
        vary={"provider": list(setup.providers)},
        repeats=setup.repeats,
        scorers=[checks.contains(), checks.expected()],
    )
    return exp.run(concurrency=setup.concurrency, progress=False)


RUNNERS: dict[str, Callable[[Session, Setup], Any]] = {
    FLOOR: floor,
    CALLER: caller_loop,
    EXPERIMENT: experiment,
}


def check(outcome: Any, setup: Setup, variant: str) -> None:
    """Every call answered, uncached, by the provider asked; else the numbers are void."""
    if isinstance(outcome, Run):
        rows = [(r.ok, r.cached, r.fell_back) for r in outcome.records]
        scored = sum(r.score("expected") is not None for r in outcome.records)
        if scored != len(rows):
            raise SystemExit(f"{variant}: {len(rows) - scored} answers unscored: numbers void")
    else:
        rows = [(True, r.cached, r.fell_back) for r in outcome]
    bad = sum(not ok or cached or fell for ok, cached, fell in rows)
    if len(rows) != setup.calls or bad:
        raise SystemExit(
            f"{variant}: {len(rows)} of {setup.calls} calls, {bad} failed, cached or fell "
            "back: the numbers are void"
        )


# --- timing ----------------------------------------------------------------------------------
def time_rounds(session: Session, setup: Setup, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each variant, one per round, the order rotating by round."""
    per_call: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
        shown = []
        for variant in order:
            gc.collect()
            started = time.perf_counter()
            outcome = RUNNERS[variant](session, setup)
            elapsed = time.perf_counter() - started
            check(outcome, setup, variant)
            del outcome
            per_call[variant].append(elapsed / setup.calls)
            shown.append(f"{_short(variant)} {elapsed / setup.calls * 1e3:.3f}")
        print(f"  round {r + 1}: ms/call " + ", ".join(shown), flush=True)
    return per_call


def _short(variant: str) -> str:
    return {FLOOR: "floor", CALLER: "caller-loop", EXPERIMENT: "experiment"}[variant]


def spread(values: Sequence[float]) -> str:
    """`median (min–max, n=…)` of positive figures, formatted by the caller's unit."""
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def iqr(values: Sequence[float]) -> str:
    """`, IQR a–b` (quartiles) when there are at least 4 values, else nothing."""
    if len(values) < 4:
        return ""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f", IQR {q1:.2f}–{q3:.2f}"


# --- memory ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Memory:
    """Bytes above the start of a variant's run: held by the kept rows (freed when they are
    dropped), retained after the run (rows kept), and the peak during the run."""

    rows: int
    held: int
    retained: int
    peak: int


def measure_memory(session: Session, setup: Setup, variant: str) -> Memory:
    """Make the calls under tracemalloc, keep what a user keeps, then drop it.

    The Session keeps the last experiment's rows in `session.last_calls` (progress views
    poll it), so they outlive the Run: it is emptied before the start and after the run,
    so the rows count once, whoever holds them.
    """
    session.last_calls = []
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        kept = RUNNERS[variant](session, setup)
        check(kept, setup, variant)
        rows = len(kept.records) if isinstance(kept, Run) else len(kept)
        gc.collect()
        with_rows, peak = tracemalloc.get_traced_memory()
        del kept
        session.last_calls = []
        gc.collect()
        without = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return Memory(rows=rows, held=with_rows - without, retained=with_rows - base, peak=peak - base)


def per_10k(value: int, rows: int) -> float:
    """MB per 10,000 rows."""
    return value / rows * 10_000 / 1e6


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default: 7)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight (8)")
    parser.add_argument("--repeats", type=int, default=2, help="experiment repeats (2)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows for the memory figure")
    parser.add_argument("--seed", type=int, default=0, help="simulator seed")
    parser.add_argument("--quick", action="store_true", help="48 calls, 1 round; do not quote")
    parser.add_argument(
        "--write", action="store_true", help="also write the table to benchmarks/RESULTS.md"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.rows = 48, 1, 200
    unit = len(PROVIDERS) * args.repeats
    if min(args.calls, args.rounds, args.concurrency, args.repeats, args.rows) < 1:
        parser.error("--calls, --rounds, --concurrency, --repeats and --rows must be ≥ 1")
    if args.calls % unit or args.rows % unit:
        parser.error(f"--calls and --rows must be multiples of {unit} (providers × repeats)")

    timed = Setup(make_cases(args.calls // unit), PROVIDERS, args.repeats, args.concurrency)
    # The memory runs use cases of their own: nothing the timed runs made is reused.
    big = Setup(make_cases(args.rows // unit, offset=10**6), PROVIDERS, args.repeats, 8)
    quick = " [QUICK]" if args.quick else ""
    header = [
        f"experiment overhead: {len(timed.cases)} cases × {len(PROVIDERS)} providers × "
        f"{args.repeats} repeats = {timed.calls} calls per variant, concurrency "
        f"{args.concurrency}, {args.rounds} rounds (order rotating){quick}",
        "SIMULATED: in-process simulator, time_scale=0 (no network latency; its CPU shares "
        "this process): this measures the SDK's own overhead, not NIM or gateway speed",
        f"python {platform.python_version()}, nvgw_nb {nv.__version__}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
    ]
    print("\n".join(header), flush=True)

    with (
        nv.Simulator(seed=args.seed, time_scale=0) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait()) as session,
    ):
        # Warm up: connections open, code paths imported, and the simulator taught the
        # cases' answers (an experiment does that before its first call; max_calls=0 makes
        # none), so every variant meets the same simulator.
        for cases in (timed.cases, big.cases):
            session.experiment(cases, vary={"provider": list(PROVIDERS)}).run(
                max_calls=0, progress=False
            )
        warm = Setup(timed.cases[:4], PROVIDERS, 1, args.concurrency)
        for runner in RUNNERS.values():
            runner(session, warm)

        per_call = time_rounds(session, timed, args.rounds)
        memory = {v: measure_memory(session, big, v) for v in (FLOOR, EXPERIMENT)}

    table = report(per_call, memory, args.rounds)
    print(table)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from benchmarks.results_file import write_section

        body = "## Experiment overhead (`experiment_overhead.py`)\n\n```\n"
        path = write_section("experiment_overhead", body + "\n".join(header) + "\n```\n\n" + table)
        print(f"written to {path}")
    return 0


def report(per_call: dict[str, list[float]], memory: dict[str, Memory], rounds: int) -> str:
    """The timing and memory tables and the ratios (Markdown)."""
    floor_s = per_call[FLOOR]
    lines = [
        "",
        f"time per call, ms: median (min–max) over n={rounds} rounds [simulated]",
        "",
        "| variant | ms per call | × floor, per round |",
        "|---|---:|---:|",
    ]
    for variant in VARIANTS:
        ratios = [v / f for v, f in zip(per_call[variant], floor_s, strict=True)]
        ms = [v * 1e3 for v in per_call[variant]]
        lines.append(f"| {variant} | {spread(ms)} | {spread(ratios)} |")
    ratio = [e / f for e, f in zip(per_call[EXPERIMENT], floor_s, strict=True)]
    extra = [(e - f) * 1e6 for e, f in zip(per_call[EXPERIMENT], floor_s, strict=True)]
    lines += [
        "",
        f"experiment / floor: median {statistics.median(ratio):.2f}× "
        f"(min–max {min(ratio):.2f}–{max(ratio):.2f}×{iqr(ratio)}, n={rounds} rounds)",
        f"experiment − floor: median {statistics.median(extra):.0f} µs per call "
        f"(min–max {min(extra):.0f}–{max(extra):.0f} µs, n={rounds} rounds)",
        "",
        f"memory per 10,000 rows, MB (tracemalloc; one run of {memory[FLOOR].rows:,} calls "
        "each, scaled to 10,000 rows) [simulated]",
        "",
        "| kept after the run | held by the rows | bytes per row | retained | peak |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {FLOOR: "list of ChatResult (floor)", EXPERIMENT: "Run of CallRecord (experiment)"}
    for variant, m in memory.items():
        lines.append(
            f"| {names[variant]} | {per_10k(m.held, m.rows):.1f} | {m.held / m.rows:,.0f} | "
            f"{per_10k(m.retained, m.rows):.1f} | {per_10k(m.peak, m.rows):.1f} |"
        )
    f, e = memory[FLOOR], memory[EXPERIMENT]
    lines.append(
        f"\nmemory, experiment / floor: held {e.held / e.rows / (f.held / f.rows):.2f}×, "
        f"retained {e.retained / e.rows / (f.retained / f.rows):.2f}×, "
        f"peak {e.peak / e.rows / (f.peak / f.rows):.2f}× (n=1 run each)\n"
        "held: freed when the rows are dropped (the Run and session.last_calls, or the list); "
        "retained: above the start with the rows kept; peak: highest during the run"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
