"""The chaos run: 100,000 chats at concurrency 64 through a misbehaving simulator.

NIM fails about half the time in every way FAULTS.md lists for it, the Starfleet token
expires every few seconds and its endpoint fails now and then, the gateway now and then turns
down a token it issued. The run then checks that every call ended in a result or a typed
`NvgwError`, that the attempt records add up exactly to the simulator's request counts, that
no expired token was sent, that nothing was left open, and that memory stayed flat
(`benchmarks/chaos_harness.py` has the details). It prints the figures as a table and writes them to
`benchmarks/RESULTS.md`. The data are simulated; the wall time depends on this machine.

    .venv/bin/python benchmarks/chaos.py                 # 100,000 calls (~15 min on 2 cores)
    .venv/bin/python benchmarks/chaos.py --calls 5000 --no-write

Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from datetime import datetime, timezone

from chaos_harness import run_chaos
from results_file import write_section
from tqdm.auto import tqdm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-lifetime", type=float, default=20.0, help="seconds")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    # Failed token refreshes are logged as warnings by design; thousands would bury the bar.
    logging.getLogger("nvgw_nb").setLevel(logging.ERROR)
    with tqdm(total=args.calls, desc="chaos", unit="call") as bar:
        report = run_chaos(
            args.calls,
            concurrency=args.concurrency,
            seed=args.seed,
            token_lifetime=args.token_lifetime,
            progress=bar.update,
        )
    table = report.table()
    print(table)
    verdict = "every check held" if not report.problems else "FAILED: " + "; ".join(report.problems)
    print(verdict)
    if not args.no_write:
        section = "\n".join(
            [
                "## Chaos run",
                "",
                f"`python benchmarks/chaos.py --calls {args.calls} --concurrency "
                f"{args.concurrency} --seed {args.seed} --token-lifetime {args.token_lifetime}` "
                f"on {datetime.now(timezone.utc):%Y-%m-%d}, Python {platform.python_version()}, "
                f"{platform.machine()}, one run. Simulated data; the token lifetime is "
                f"{args.token_lifetime:g} s, so it expired about every "
                f"{args.token_lifetime:g} s of the run. Result: {verdict}.",
                "",
                table,
            ]
        )
        print(f"wrote {write_section('chaos', section)}")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
