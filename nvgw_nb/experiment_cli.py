"""`nvgw-nb experiment SPEC --out DIR`: run an experiment described in a TOML file and gate
on its expectations (exit 1 when one fails), so a prompt change can be checked in CI.

    nvgw-nb experiment examples/experiment.toml --out out/exp --sim
    nvgw-nb experiment spec.toml --out out/exp --budget 2 --concurrency 4

Writes DIR/run.jsonl as calls finish (running the same command again resumes: only the
missing calls are made), DIR/summary.md (the run summary, the expectations, a SIMULATED
mark) and DIR/results.csv (one row per call). Exit codes: 0 every expectation held, 1 one
failed (or the run stopped early), 2 a usage or configuration error (the spec, the
environment). The spec format is described in `nvgw_nb.experiments.spec`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nvgw_nb.cli_options import positive_int
from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.private_files import make_private_dir, open_private
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.setup_check import one_line

if TYPE_CHECKING:
    from nvgw_nb.experiments.grid import Experiment
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.experiments.spec import ExpectationResult, Spec
    from nvgw_nb.sim import Simulator

__all__ = ["add_parser", "run_experiment", "write_results"]

PROG = "nvgw-nb experiment"
#: latency scale of the simulator started by `--sim` (as `nvgw-nb compare --sim`)
SIM_TIME_SCALE = 0.05
RUN_FILE = "run.jsonl"
SUMMARY_FILE = "summary.md"
RESULTS_FILE = "results.csv"


def add_parser(commands: Any) -> None:
    """Register the `experiment` subcommand on the CLI's subparsers."""
    parser = commands.add_parser(
        "experiment",
        help="run an experiment from a TOML spec and check its expectations (for CI)",
        description="Run the experiment SPEC describes (cases, axes, scorers, expectations), "
        "saving every call to DIR/run.jsonl as it finishes (running again resumes), then write "
        "DIR/summary.md and DIR/results.csv and print one line per expectation. Exit code 0 "
        "when every expectation holds, 1 when one fails or the run stopped early, 2 on a "
        "usage or configuration error.",
    )
    parser.add_argument("spec", metavar="SPEC", help="the experiment's TOML file")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the results (created)"
    )
    parser.add_argument(
        "--sim",
        "--simulator",
        action="store_true",
        help="run against a fresh built-in simulator instead of the real endpoints (simulated)",
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="calls in flight (default: 8)"
    )
    parser.add_argument(
        "--budget",
        type=_dollars,
        metavar="USD",
        help="stop starting calls once this many dollars are spent (the run is incomplete)",
    )
    parser.add_argument(
        "--max-calls",
        type=_whole_number,
        metavar="N",
        help="make at most N new calls (the run is incomplete if more were needed)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run_experiment)


def _whole_number(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


def _dollars(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected dollars, e.g. 2.50, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"must be dollars ≥ 0, got {value!r}")
    return number


def _config_error(message: str) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return 2


def run_experiment(args: argparse.Namespace, *, simulator: Simulator | None = None) -> int:
    """The `experiment` subcommand. `simulator` (tests): use this Simulator for `--sim`
    instead of a fresh default one (e.g. one with `accuracy=...`)."""
    from nvgw_nb.experiments.spec import load_spec

    try:
        spec = load_spec(args.spec)
    except ConfigError as err:
        return _config_error(str(err))
    out_dir = Path(args.out)
    try:
        make_private_dir(out_dir)  # it will hold prompts and answers: owner only
    except OSError as err:
        return _config_error(f"--out {args.out}: {err.strerror or err}")
    try:
        return _run(spec, out_dir, args, simulator)
    except ConfigError as err:
        return _config_error(str(err))


def _run(spec: Spec, out_dir: Path, args: argparse.Namespace, simulator: Simulator | None) -> int:
    from nvgw_nb.session import Session

    out = sys.stdout
    use_sim = bool(args.sim) or simulator is not None
    with contextlib.ExitStack() as stack:
        if use_sim:
            from nvgw_nb.sim import Simulator

            sim = simulator if simulator is not None else Simulator(time_scale=SIM_TIME_SCALE)
            stack.enter_context(sim)
            session = stack.enter_context(
                Session.from_env(
                    env=sim.env(),
                    env_file=None,
                    simulator=sim,
                    retry=RetryPolicy.for_simulator(SIM_TIME_SCALE),
                )
            )
            out.write(
                f"{PROG} --sim: a fresh SIMULATOR; every answer and number below is "
                "simulated, nothing leaves this machine.\n"
            )
        else:
            from nvgw_nb.provider_choice import real_session, settings_source

            try:
                # the same choice of providers as nv.connect() and the other subcommands
                session = stack.enter_context(real_session())
            except ConfigError as err:
                raise ConfigError(f"{err} (or add --sim to use the built-in simulator)") from None
            out.write(
                f"{PROG}: real endpoints, settings from {settings_source(session.settings)}\n"
            )
        experiment = spec.build(session)
        run_file = out_dir / RUN_FILE
        out.write(
            f"Spec {spec.path.name}: {len(spec.cases)} cases from {spec.cases_path.name}, "
            f"{len(spec.expectations)} expectation{_s(len(spec.expectations))}.\n"
        )
        out.write(str(experiment.plan()).rstrip("\n") + "\n")
        before = _already_done(experiment, run_file)
        total = len(experiment.jobs())
        if before:
            out.write(f"Resuming {run_file}: {before} of {total} calls already made.\n")
        out.flush()
        started = time.perf_counter()
        run = experiment.run(
            concurrency=args.concurrency,
            budget_usd=args.budget,
            max_calls=args.max_calls,
            save_to=run_file,
            progress=not args.no_progress,
        )
        elapsed = time.perf_counter() - started
    made = len(run.records) - before
    out.write(f"Ran {made} new call{_s(made)} in {elapsed:.1f} s.\n\n")
    results = spec.check(run)
    files = write_results(run, results, out_dir, spec=spec)
    out.write(run.summary().to_markdown())
    if run.stopped:
        out.write(
            f"\nStopped early: {run.stopped}. The expectations below rest on an incomplete "
            "run; run the same command again to resume.\n"
        )
    out.write("\nExpectations:\n" if results else "\nNo expectations in the spec.\n")
    for result in results:
        out.write(f"  {result.statement}\n")
    out.write("\nWrote:\n")
    for path in files:
        out.write(f"  {path}\n")
    out.flush()
    failed = sum(1 for r in results if not r.passed)
    if run.stopped:
        print(
            f"{PROG}: the run stopped early ({run.stopped}); run again to resume", file=sys.stderr
        )
    if failed:
        print(f"{PROG}: {failed} of {len(results)} expectations failed", file=sys.stderr)
    return 1 if failed or run.stopped else 0


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _already_done(experiment: Experiment, run_file: Path) -> int:
    """How many of the experiment's calls `run_file` already holds (0 when unreadable:
    the run itself then says what is wrong with the file)."""
    if not run_file.is_file() or run_file.stat().st_size == 0:
        return 0
    from nvgw_nb.experiments.run import Run

    try:
        stored = Run.load(run_file)
    except NvgwError:
        return 0
    wanted = {job.key for job in experiment.jobs()}
    return sum(1 for record in stored.records if record.key in wanted)


def write_results(
    run: Run, results: list[ExpectationResult], out_dir: Path, *, spec: Spec | None = None
) -> list[Path]:
    """Write DIR/summary.md and DIR/results.csv (owner-only files); returns every file
    of DIR the command wrote, run.jsonl included."""
    from nvgw_nb.experiments.summary import escape_markdown

    summary_path = out_dir / SUMMARY_FILE
    lines = [f"# Experiment: {escape_markdown(spec.path.name) if spec else 'run'}", ""]
    if run.simulated:
        lines += [
            "**SIMULATED** — every answer and number here comes from the built-in simulator, "
            "not from a real model.",
            "",
        ]
    if spec is not None and spec.description:
        lines += [escape_markdown(spec.description), ""]
    if spec is not None:
        lines += [
            f"{len(run.cases)} cases from {escape_markdown(spec.cases_path.name)} × "
            f"{len(run.cells)} cells × {spec.repeats} repeat{_s(spec.repeats)}: "
            f"{len(run.records)} calls.",
            "",
        ]
    if run.stopped:
        lines += [f"**Stopped early**: {escape_markdown(run.stopped)} (incomplete run).", ""]
    lines += ["## Results", "", run.summary().to_markdown().rstrip("\n"), ""]
    lines += ["## Expectations", ""]
    if results:
        failed = sum(1 for r in results if not r.passed)
        lines += [f"- {escape_markdown(r.statement)}" for r in results]
        lines += [
            "",
            f"**{len(results) - failed} of {len(results)} expectations held.**"
            if failed
            else f"**All {len(results)} expectations held.**",
        ]
    else:
        lines.append("No expectations in the spec.")
    with open_private(summary_path, "w") as handle:
        handle.write("\n".join(lines) + "\n")

    csv_path = out_dir / RESULTS_FILE
    rows = run.table()
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with open_private(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    written = [summary_path, csv_path]
    if run.path is not None:
        written.insert(0, run.path)
    elif (out_dir / RUN_FILE).is_file():
        written.insert(0, out_dir / RUN_FILE)
    return written
