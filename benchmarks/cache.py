"""A cached re-run of 200 prompts: its wall time, and its upstream requests (zero).

A benchmark, not a test. Each run starts a fresh simulator (healthy profile, latencies
scaled by --time-scale, so upstream latency is real wall-clock time) and a fresh cache file,
then runs one `Session.batch` of the prompts twice:

1. cold: a Session with `cache=` on the new file asks the simulator and records;
2. cached re-run: a *new* Session on the same file (a notebook re-run) replays.

The simulator counts every request it receives (chats, token grants, anything): the re-run
must make zero, or the script exits 1. Prompts are examples/prompts.jsonl cycled to --prompts,
each made distinct. Everything is SIMULATED: the cold times depend on the simulator's
latency model, and every time on this machine.

    .venv/bin/python benchmarks/cache.py                  # 200 prompts, 3 runs, writes RESULTS.md
    .venv/bin/python benchmarks/cache.py --runs 5 --no-write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from results_file import write_section

import nvgw_nb as nv
from nvgw_nb.prompts import read_prompts
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.sim import Simulator

ROOT = Path(__file__).resolve().parents[1]


def prompts(n: int) -> list[dict[str, str | None]]:
    """`n` distinct prompts: examples/prompts.jsonl cycled, repeats marked as variants."""
    base = read_prompts(ROOT / "examples" / "prompts.jsonl")
    out: list[dict[str, str | None]] = []
    for i in range(n):
        item = base[i % len(base)]
        suffix = f" (variant {i // len(base)})" if i >= len(base) else ""
        out.append({"prompt": item.prompt + suffix, "role": item.role})
    return out


def upstream(sim: Simulator) -> int:
    """Every request the simulator received, of any kind."""
    return sum(sum(counts.values()) for counts in sim.stats()["requests"].values())


@dataclass
class Run:
    cold_s: float
    cold_requests: int
    cached_s: float
    cached_requests: int
    hits: int


def one_run(n: int, concurrency: int, time_scale: float, seed: int) -> Run:
    batch = prompts(n)
    with (
        tempfile.TemporaryDirectory() as tmp,
        Simulator(seed=seed, time_scale=time_scale) as sim,
    ):
        path = Path(tmp) / "responses.sqlite"
        retry = RetryPolicy.for_simulator(time_scale)
        with sim.session(cache=path, retry=retry) as session:
            started = time.perf_counter()
            cold = session.batch(batch, concurrency=concurrency, progress=False)
            cold_s = time.perf_counter() - started
        cold_requests = upstream(sim)
        sim.reset_stats()
        with sim.session(cache=path, retry=retry) as session:
            started = time.perf_counter()
            again = session.batch(batch, concurrency=concurrency, progress=False)
            cached_s = time.perf_counter() - started
            assert session.cache is not None
            hits = session.cache.stats().hits
        cached_requests = upstream(sim)
    failed = sum(not item.ok for item in cold + again)
    if failed:
        raise SystemExit(f"{failed} calls failed: the numbers are void")
    if not all(item.result is not None and item.result.cached for item in again):
        raise SystemExit("the re-run was not entirely replayed from the cache")
    return Run(cold_s, cold_requests, cached_s, cached_requests, hits)


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s "
        f"(min–max {min(values):.3f}–{max(values):.3f} s, n={len(values)} runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs (default: 3)")
    parser.add_argument("--prompts", type=int, default=200, help="prompts (default: 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="batch concurrency (8)")
    parser.add_argument(
        "--time-scale", type=float, default=0.05, help="simulated latency scale (default: 0.05)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.prompts < 1 or args.concurrency < 1 or args.time_scale < 0:
        parser.error("--runs, --prompts and --concurrency must be at least 1")
    n = args.prompts
    env = (
        f"python {platform.python_version()}, nvgw_nb {nv.__version__}, "
        f"{platform.system()} {platform.machine()}"
    )
    print(
        f"batch of {n} prompts, concurrency {args.concurrency}, {args.runs} runs, on the "
        f"in-process SIMULATOR (latencies ×{args.time_scale:g}); {env}"
    )
    runs = []
    for number in range(1, args.runs + 1):
        run = one_run(n, args.concurrency, args.time_scale, seed=number)
        runs.append(run)
        print(
            f"  run {number}: cold {run.cold_s:.3f} s ({run.cold_requests} upstream requests), "
            f"cached re-run {run.cached_s:.3f} s ({run.cached_requests} upstream requests, "
            f"{run.hits} hits)",
            flush=True,
        )
    cold = [r.cold_s for r in runs]
    cached = [r.cached_s for r in runs]
    cached_requests = max(r.cached_requests for r in runs)
    speedup = [r.cold_s / r.cached_s for r in runs]
    print(f"n={n} prompts; cold: {_spread(cold)}")
    print(f"n={n} prompts; cached re-run: {_spread(cached)} [simulated]")
    print(
        f"cached re-run speed-up: median {statistics.median(speedup):.0f}× "
        f"(min–max {min(speedup):.0f}–{max(speedup):.0f}×)"
    )
    verdict = (
        f"a cached re-run of {n} prompts makes zero upstream requests"
        if cached_requests == 0
        else f"FAILED: a cached re-run made {cached_requests} upstream requests"
    )
    print(verdict)
    if not args.no_write:
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        requests = sorted({r.cold_requests for r in runs})
        section = "\n".join(
            [
                "## Response cache: a cached re-run",
                "",
                f"SIMULATED ({when}; `benchmarks/cache.py`; {env}). A batch of {n} prompts "
                f"(concurrency {args.concurrency}) on the in-process simulator with latencies "
                f"×{args.time_scale:g}, first with an empty cache file, then in a new Session on "
                "the same file. Wall times are this machine's; upstream requests are every "
                "request the simulator received.",
                "",
                f"| run | n | wall time s, median (min–max, {len(runs)} runs) "
                "| upstream requests |",
                "|---|---|---|---|",
                f"| cold (asks and records) | {n} | {statistics.median(cold):.3f} "
                f"({min(cold):.3f}–{max(cold):.3f}) | {', '.join(map(str, requests))} |",
                f"| cached re-run | {n} | {statistics.median(cached):.3f} "
                f"({min(cached):.3f}–{max(cached):.3f}) | {cached_requests} |",
                "",
                f"**{verdict[0].upper() + verdict[1:]}.**",
            ]
        )
        # Between <!-- cache:start --> and <!-- cache:end -->; other sections are kept.
        print(f"wrote {write_section('cache', section)}")
    return 0 if cached_requests == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
