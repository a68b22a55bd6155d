"""How long `Session.compare` of 200 prompts × 2 providers takes on a zero-latency simulator.

A benchmark, not a test: it measures the SDK's own overhead (request building, the HTTP
round trip over loopback, parsing, the attempt trace) with the simulator adding no
latency, so the numbers say nothing about NVIDIA NIM or the LLM Gateway. The simulator
runs in this process (a loopback HTTP server on a thread), so its CPU time is included.

    .venv/bin/python benchmarks/compare_speed.py                 # 3 runs of 200 prompts
    .venv/bin/python benchmarks/compare_speed.py --runs 5 --prompts 500 --concurrency 16

Each run starts a fresh simulator (healthy profile, time_scale=0) and Session, then times
one `compare` call (the Session's start-up and the warm-up call are not timed).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

ROLES = ("router", "planner", "programmer", "reviewer")


def prompts(n: int) -> list[dict[str, str]]:
    """`n` distinct prompts cycling through the four roles."""
    return [
        {"prompt": f"Benchmark prompt {i}: summarise change #{i} in one line", "role": ROLES[i % 4]}
        for i in range(n)
    ]


def one_run(n_prompts: int, providers: tuple[str, ...], concurrency: int, seed: int) -> float:
    """Seconds of one `compare`; checks every request succeeded."""
    batch = prompts(n_prompts)
    with (
        Simulator(seed=seed, time_scale=0) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait()) as session,
    ):
        session.chat("warm-up", providers=[providers[0]], fallbacks=False)
        started = time.perf_counter()
        cmp = session.compare(batch, providers=providers, concurrency=concurrency, progress=False)
        elapsed = time.perf_counter() - started
    failed = sum(not row.ok for row in cmp.rows)
    if failed:
        raise SystemExit(f"{failed} of {len(cmp.rows)} requests failed: the numbers are void")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default: 3)")
    parser.add_argument("--prompts", type=int, default=200, help="prompts per run (default: 200)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight (default: 8, compare's)"
    )
    parser.add_argument(
        "--providers",
        default="nvidia-nim,nvidia-gateway",
        help="comma-separated providers (default: nvidia-nim,nvidia-gateway)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.prompts < 1 or args.concurrency < 1:
        parser.error("--runs, --prompts and --concurrency must be at least 1")
    providers = tuple(p.strip() for p in args.providers.split(",") if p.strip())
    calls = args.prompts * len(providers)

    print(
        f"compare of {args.prompts} prompts × {len(providers)} providers = {calls} calls, "
        f"concurrency {args.concurrency}, {args.runs} runs"
    )
    print(
        "measured against the in-process SIMULATOR with time_scale=0 (no simulated latency; "
        "its CPU shares this process): SDK overhead only, not NIM or gateway speed"
    )
    print(
        f"python {platform.python_version()}, nvgw_nb {nv.__version__}, "
        f"{platform.system()} {platform.machine()}"
    )
    times = []
    for run in range(1, args.runs + 1):
        elapsed = one_run(args.prompts, providers, args.concurrency, seed=run)
        times.append(elapsed)
        print(f"  run {run}: {elapsed:.2f} s, {calls / elapsed:.0f} calls/s", flush=True)
    rates = [calls / t for t in times]
    print(
        f"wall time: median {statistics.median(times):.2f} s "
        f"(min–max {min(times):.2f}–{max(times):.2f} s, n={len(times)} runs)"
    )
    print(
        f"throughput: median {statistics.median(rates):.0f} calls/s "
        f"(min–max {min(rates):.0f}–{max(rates):.0f}, n={len(rates)} runs) [simulated]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
