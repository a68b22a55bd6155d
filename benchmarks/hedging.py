"""Hedged requests on the `slow-nim` simulator profile: the p99 they cut, the requests they cost.

`slow-nim` makes NIM four times slower than usual and stalls 3 % of its requests until the
client's read timeout. The script sends the same calls three ways, in one run, against one
simulator: without hedging; with `hedge_after=` fixed at the no-hedge run's p95; and with
`hedge_after="p95"` (learned per provider as the run goes, from an empty tracker). It prints
n, p50 / p95 / p99 of the call latency with bootstrap 95 % intervals, the p99 ratio, and the
upstream chat requests per call (the simulator's counts: cancelled requests included), and
writes the table to `benchmarks/RESULTS.md`.

Everything is SIMULATED and time-scaled: the simulator's delays are multiplied by
`--time-scale`, and so are the client's timeouts, deadlines and retry waits (a 60 s read
timeout becomes 6 s at 0.1), so the run is the real-time experiment, shrunk. Latencies are
reported in simulated seconds (divided back by the scale) and in wall seconds.

    .venv/bin/python benchmarks/hedging.py                      # 800 calls per arm, ~3-4 min
    .venv/bin/python benchmarks/hedging.py --calls 200 --no-write
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from results_file import write_section

import nvgw_nb as nv
from nvgw_nb.latency import MIN_SAMPLES
from nvgw_nb.sim import Simulator
from nvgw_nb.stats import percentile

ROOT = Path(__file__).resolve().parents[1]
PROVIDERS = ("nvidia-nim", "nvidia-gateway")
#: the target of issue 8, item 4
TARGET_RATIO, TARGET_EXTRA = 0.5, 0.10


@dataclass
class Arm:
    """One way of sending the calls, and what came of it."""

    name: str
    hedge_after: float | str | None
    latencies: list[float]
    failures: int
    hedged: int
    served_by_gateway: int
    requests: int
    wall_s: float

    @property
    def calls(self) -> int:
        return len(self.latencies) + self.failures


def load_prompts(n: int) -> list[dict[str, str]]:
    """`n` prompts with their roles: examples/prompts.jsonl, cycled."""
    lines = (ROOT / "examples" / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def run_arm(
    sim: Simulator,
    name: str,
    hedge_after: float | str | None,
    prompts: Sequence[dict[str, str]],
    *,
    scale: float,
    concurrency: int,
) -> Arm:
    """The calls through a fresh Session (an empty latency tracker), scaled to the sim."""
    retry = nv.RetryPolicy(
        attempts=3,
        wait_initial=0.5 * scale,
        wait_max=8.0 * scale,
        wait_jitter=0.25 * scale,
        max_retry_after=60.0 * scale,
        poll_interval=0.05 * scale,
    )
    before = sim.stats()["requests"]
    started = time.monotonic()
    with sim.session(
        retry=retry,
        read_timeout_s=60.0 * scale,
        attempt_deadline_s=120.0 * scale,
        call_deadline_s=300.0 * scale,
    ) as session:
        options: dict[str, Any] = {} if hedge_after is None else {"hedge_after": hedge_after}
        items = session.batch(prompts, concurrency=concurrency, progress=False, **options)
    wall = time.monotonic() - started
    after = sim.stats()["requests"]
    results = [i.result for i in items if i.result is not None]
    return Arm(
        name=name,
        hedge_after=hedge_after,
        latencies=[r.latency_s / scale for r in results],
        failures=len(items) - len(results),
        hedged=sum(r.hedged for r in results),
        served_by_gateway=sum(r.served_by == "nvidia-gateway" for r in results),
        requests=sum(after[p]["chat"] - before[p]["chat"] for p in PROVIDERS),
        wall_s=wall,
    )


def bootstrap(
    values: Sequence[float],
    statistic: Callable[[Sequence[float]], float],
    *,
    resamples: int,
    rng: random.Random,
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of `statistic`."""
    draws = sorted(statistic(rng.choices(values, k=len(values))) for _ in range(resamples))
    return percentile(draws, 2.5), percentile(draws, 97.5)


def p99_ratio_ci(
    hedged: Sequence[float], base: Sequence[float], *, resamples: int, rng: random.Random
) -> tuple[float, float]:
    """95 % bootstrap interval of p99(hedged) / p99(base), both resampled independently."""
    draws = sorted(
        percentile(rng.choices(hedged, k=len(hedged)), 99)
        / percentile(rng.choices(base, k=len(base)), 99)
        for _ in range(resamples)
    )
    return percentile(draws, 2.5), percentile(draws, 97.5)


def table(arms: Sequence[Arm], *, scale: float, resamples: int, seed: int) -> tuple[str, bool]:
    """The markdown table, and whether the target was met by a hedged arm."""
    rng = random.Random(seed)
    base = arms[0]
    per_call_base = base.requests / base.calls
    head = (
        "| arm | hedge_after | n ok / failed | p50 s [95% CI] | p95 s [95% CI] | p99 s [95% CI] "
        "| p99 ÷ no hedge [95% CI] | hedged calls | served by gateway | upstream requests / call "
        "| extra requests | wall s |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    met = False
    for arm in arms:
        cells = []
        for q in (50, 95, 99):
            low, high = bootstrap(
                arm.latencies, lambda v, q=q: percentile(v, q), resamples=resamples, rng=rng
            )
            cells.append(f"{percentile(arm.latencies, q):.2f} [{low:.2f}–{high:.2f}]")
        ratio = percentile(arm.latencies, 99) / percentile(base.latencies, 99)
        per_call = arm.requests / arm.calls
        extra = per_call / per_call_base - 1
        if arm is base:
            ratio_cell, extra_cell = "1 (baseline)", "baseline"
        else:
            low, high = p99_ratio_ci(arm.latencies, base.latencies, resamples=resamples, rng=rng)
            ratio_cell = f"{ratio:.2f} [{low:.2f}–{high:.2f}]"
            extra_cell = f"{extra:+.1%}"
            met = met or (ratio <= TARGET_RATIO and extra <= TARGET_EXTRA)
        shown = (
            "none"
            if arm.hedge_after is None
            else f'"{arm.hedge_after}"'
            if isinstance(arm.hedge_after, str)
            else f"{arm.hedge_after / scale:.2f} s"
        )
        lines.append(
            f"| {arm.name} | {shown} | {len(arm.latencies)} / {arm.failures} | "
            + " | ".join(cells)
            + f" | {ratio_cell} | {arm.hedged / arm.calls:.1%} | "
            f"{arm.served_by_gateway / arm.calls:.1%} | {per_call:.3f} | {extra_cell} | "
            f"{arm.wall_s:.0f} |"
        )
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=800, help="calls per arm")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.calls < MIN_SAMPLES or args.concurrency < 1 or not args.time_scale > 0:
        parser.error(f"--calls must be at least {MIN_SAMPLES}; concurrency and scale positive")
    logging.getLogger("nvgw_nb").setLevel(logging.ERROR)
    scale = args.time_scale
    prompts = load_prompts(args.calls)
    print(
        f"slow-nim, seed {args.seed}, time_scale {scale:g}, {args.calls} calls per arm at "
        f"concurrency {args.concurrency}; Python {platform.python_version()}, "
        f"{platform.machine()} [SIMULATED]",
        flush=True,
    )
    arms: list[Arm] = []
    with Simulator(profile="slow-nim", seed=args.seed, time_scale=scale) as sim:
        arms.append(
            run_arm(sim, "no hedge", None, prompts, scale=scale, concurrency=args.concurrency)
        )
        print(f"  no hedge: {arms[-1].wall_s:.0f} s", flush=True)
        fixed = percentile(arms[0].latencies, 95) * scale  # the no-hedge p95, in sim seconds
        arms.append(
            run_arm(sim, "fixed", fixed, prompts, scale=scale, concurrency=args.concurrency)
        )
        print(f"  hedge_after={fixed / scale:.2f} s: {arms[-1].wall_s:.0f} s", flush=True)
        arms.append(
            run_arm(sim, "learned", "p95", prompts, scale=scale, concurrency=args.concurrency)
        )
        print(f'  hedge_after="p95": {arms[-1].wall_s:.0f} s', flush=True)
    text, met = table(arms, scale=scale, resamples=args.resamples, seed=args.seed)
    best = min(arms[1:], key=lambda a: percentile(a.latencies, 99))
    base_p99 = percentile(arms[0].latencies, 99)
    verdict = (
        f"hedging cuts the `slow-nim` p99 by at least half for at most 10% extra requests: "
        f"{'MET' if met else 'NOT MET'} (best p99 {percentile(best.latencies, 99):.2f} s vs "
        f"{base_p99:.2f} s without hedging, {best.name} arm)"
    )
    print(text)
    print(verdict)
    if not args.no_write:
        section = "\n".join(
            [
                "## Hedged requests (SIMULATED)",
                "",
                f"`python benchmarks/hedging.py --calls {args.calls} --concurrency "
                f"{args.concurrency} --seed {args.seed} --time-scale {scale:g}` on "
                f"{datetime.now(timezone.utc):%Y-%m-%d}, Python {platform.python_version()}, "
                f"{platform.machine()}, one run. **Simulated**: the `slow-nim` profile (NIM "
                "latency ×4, 3% of NIM requests stall until the read timeout), prompts of "
                "`examples/prompts.jsonl` with their roles. The simulator's delays and the "
                f"client's timeouts, deadlines and retry waits are all scaled by {scale:g}; "
                "latencies below are divided back (simulated seconds; a 60 s read timeout). "
                "Each arm is a fresh Session (the learned arm starts with an empty tracker: "
                f"its first {MIN_SAMPLES} NIM answers are not hedged). The fixed arm's "
                "`hedge_after` is the no-hedge arm's p95, measured in the same run. Intervals: "
                f"percentile bootstrap, {args.resamples} resamples. Upstream requests are the "
                "simulator's chat-request counts for NIM and the gateway (cancelled hedges "
                "and losers included), per call.",
                "",
                text,
                "",
                f"Result: {verdict}.",
            ]
        )
        print(f"wrote {write_section('hedging', section)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
