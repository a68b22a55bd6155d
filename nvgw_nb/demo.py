"""`make demo`: NIM answers, a NIM fault falls back to the gateway, the attempts as a table.

Everything runs on the built-in simulator (no network, no credentials) and is marked
as simulated. The attempt trace is also written to ``out/demo/trace.md``.

    python -m nvgw_nb.demo
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from nvgw_nb.cli import summary
from nvgw_nb.results import Attempt, ChatResult
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.session import Session

__all__ = ["main", "markdown_table", "text_table", "trace_rows"]

TRACE_HEADERS = (
    "call",
    "provider",
    "model",
    "attempt",
    "outcome",
    "status",
    "error kind",
    "elapsed s",
    "backoff s",
    "correlationId",
)

_FIRST_PROMPT = "Summarise this diff: fix the off-by-one in the parser's line counter"
_SECOND_PROMPT = "Review this change: the retry loop now honours Retry-After"


def trace_rows(calls: Sequence[tuple[str, ChatResult]]) -> list[tuple[str, ...]]:
    """One row per attempt of each (label, result), in TRACE_HEADERS order."""
    return [_row(label, a) for label, result in calls for a in result.attempts]


def _row(label: str, a: Attempt) -> tuple[str, ...]:
    return (
        label,
        a.provider,
        a.model,
        str(a.attempt),
        a.outcome,
        "" if a.status_code is None else str(a.status_code),
        a.error_kind or "",
        f"{a.elapsed_s:.3f}",
        f"{a.backoff_s:.3f}",
        a.correlation_id or "",
    )


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain fixed-width table for the terminal."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells are escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), "|" + "---|" * len(headers), *(line(r) for r in rows)])


def main(
    *,
    time_scale: float = 0.05,
    seed: int = 7,
    out_dir: str | Path = Path("out/demo"),
    stdout: TextIO | None = None,
) -> int:
    """Run the walkthrough; `time_scale=0` for no simulated latency (tests)."""
    from nvgw_nb.sim import Simulator

    out = stdout if stdout is not None else sys.stdout

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    # Backoff between retries is real time; scale it with the simulator's latencies.
    retry = RetryPolicy(
        attempts=3,
        wait_initial=0.5 * time_scale,
        wait_max=8.0 * time_scale,
        wait_jitter=0.25 * time_scale,
    )
    with (
        Simulator(seed=seed, time_scale=time_scale) as sim,
        Session.from_env(env=sim.env(), env_file=None, simulator=sim, retry=retry) as session,
    ):
        say(
            f"nvgw_nb demo: SIMULATED. Every answer below comes from the built-in simulator "
            f"on {sim.url} (no network, no credentials; latencies ×{time_scale:g})."
        )
        say(f"Provider order: {' → '.join(session.provider_order)}")
        say()

        say("1. A planner question; NVIDIA NIM answers.")
        say(f"   > {_FIRST_PROMPT}")
        first = session.chat(_FIRST_PROMPT, role="planner")
        say(_indent(first.content))
        say(f"   {summary(first)}")
        say()

        say("2. Inject fault N1 (HTTP 503) into the next 3 NIM requests: NIM's first try and")
        say("   both retries fail, so the LLM Gateway answers.")
        sim.inject("nvidia-nim", "N1", times=3)
        say(f"   > {_SECOND_PROMPT}")
        second = session.chat(_SECOND_PROMPT, role="reviewer")
        say(_indent(second.content))
        say(f"   {summary(second)}")
        say()

        calls = [("1", first), ("2", second)]
        rows = trace_rows(calls)
        say("3. The attempt trace (simulated):")
        say(_indent(text_table(TRACE_HEADERS, rows)))
        say()

        path = Path(out_dir) / "trace.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_trace_document(calls, rows, sim.url, time_scale), encoding="utf-8")
        say(f"Trace written to {path} (simulated).")
    return 0


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _trace_document(
    calls: Sequence[tuple[str, ChatResult]],
    rows: Sequence[Sequence[str]],
    url: str,
    time_scale: float,
) -> str:
    lines = [
        "# nvgw_nb demo: attempt trace (SIMULATED)",
        "",
        f"Every row comes from the built-in simulator at {url} with latencies ×{time_scale:g};",
        "none of it is a measurement of NVIDIA NIM or the LLM Gateway.",
        "",
    ]
    lines += [f"- call {label}: {summary(result)}" for label, result in calls]
    lines += ["", markdown_table(TRACE_HEADERS, rows), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
