"""`nvgw-nb report RESULTS --out DIR`: re-render a comparison's report from its saved
results.jsonl, without any request (and from quality.jsonl beside it, when there is one).

    nvgw-nb compare prompts.jsonl --out out/cmp --sim
    nvgw-nb report out/cmp/results.jsonl --out out/cmp-again
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nvgw_nb.cli_options import PROG, usage_error
from nvgw_nb.env_files import display_path
from nvgw_nb.errors import ConfigError

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    """Register `report` on the `nvgw-nb` subparsers."""
    report = commands.add_parser(
        "report",
        help="re-render a comparison's report from its results.jsonl (no requests)",
        description="Read the results.jsonl that `nvgw-nb compare` wrote (and quality.jsonl "
        "beside it, if any) and write the report again into --out: results.csv, "
        "results.jsonl, summary.md, the plots and report.html. Nothing is sent anywhere.",
    )
    report.add_argument("results", metavar="RESULTS", help="a results.jsonl from nvgw-nb compare")
    report.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the report (created if needed)"
    )
    report.add_argument("--title", help="the report's title (default: from the results)")
    report.add_argument(
        "--note",
        help="a line under the title and on every plot (default: where it was re-rendered from)",
    )
    report.add_argument(
        "--no-quality", action="store_true", help="leave out quality.jsonl even when it is there"
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from nvgw_nb.private_files import make_private_dir
    from nvgw_nb.report import write_report
    from nvgw_nb.results_io import load_comparison, load_quality

    source = Path(args.results)
    try:
        cmp = load_comparison(source)
        quality_file = source.with_name("quality.jsonl")
        quality = (
            load_quality(quality_file, cmp.providers)
            if quality_file.is_file() and not args.no_quality
            else None
        )
    except ConfigError as err:
        return usage_error("report", str(err))
    try:
        make_private_dir(args.out)
    except OSError as err:
        return usage_error("report", f"--out {args.out}: {err.strerror or err}")
    note = args.note or f"re-rendered from {display_path(source)}; no new requests"
    files = write_report(cmp, Path(args.out), title=args.title, note=note, quality=quality)
    out = sys.stdout
    out.write(
        f"{PROG} report: {len(cmp.rows)} results of {', '.join(cmp.providers)} from {source}"
        f"{' (SIMULATED)' if cmp.simulated else ''}; no requests sent.\n\n"
    )
    out.write(cmp.summary().to_markdown())
    out.write("\nWrote:\n")
    for path in files.paths:
        out.write(f"  {path}\n")
    out.write(f"\nLook first at {files.report_html}.\n")
    out.flush()
    return 0
