"""`make demo`: the main job on the simulator, after a short walkthrough of one fallback.

1. A NIM answer, an injected NIM fault that falls back to the gateway, and the attempt
   trace that says why (on a fresh, healthy simulator).
2. The main job: every prompt of ``examples/prompts.jsonl`` on NIM and on the gateway,
   pinned, repeated, on the ``flaky-nim`` profile, written as a report into
   ``demo-output/`` (report.html first). What `nvgw-nb compare --simulator` does.
3. Answer quality on ``examples/cases.jsonl`` (labelled cases): pass rates with
   intervals, the paired difference with its verdict, and a pairwise judge of a third
   model family, asked in both orders, with its bias diagnostics — the report's quality
   section (`nvgw-nb compare --cases`).

Everything runs on the built-in simulator (no network, no credentials) and is marked as
simulated.

    python -m nvgw_nb.demo
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from nvgw_nb.batch import BatchPrompt
from nvgw_nb.markdown import unescape_markdown
from nvgw_nb.prompts import PromptsFileError, read_prompts
from nvgw_nb.retry import RetryPolicy
from nvgw_nb.trace import summary_line

if TYPE_CHECKING:
    from nvgw_nb.quality import QualitySection

__all__ = ["DEFAULT_OUT_DIR", "PROFILE", "find_cases", "find_prompts", "main"]

#: where `make demo` writes, relative to the current directory
DEFAULT_OUT_DIR = Path("demo-output")
#: NIM fails about a third of the time in mixed ways, so failures and retries show
PROFILE = "flaky-nim"
_PROMPTS_FILE = Path("examples") / "prompts.jsonl"
_CASES_FILE = Path("examples") / "cases.jsonl"
#: the quality section's judge: a third model family, so neither contestant judges itself
JUDGE = "anthropic"
#: SIMULATED: the simulated judge picks the first slot this often whatever it reads, so the
#: report shows what judging both orders is for
JUDGE_POSITION_BIAS = 0.2
_FIRST_PROMPT = "Summarise this diff: fix the off-by-one in the parser's line counter"
_SECOND_PROMPT = "Review this change: the retry loop now honours Retry-After"


class _Say(Protocol):
    def __call__(self, text: str = "") -> None: ...


def find_prompts() -> Path:
    """``examples/prompts.jsonl`` of the current directory, else of this checkout."""
    return _example(_PROMPTS_FILE)


def find_cases() -> Path:
    """``examples/cases.jsonl`` of the current directory, else of this checkout."""
    return _example(_CASES_FILE)


def _example(path: Path) -> Path:
    if path.is_file():
        return path
    return Path(__file__).resolve().parent.parent / path


def main(
    *,
    out_dir: str | Path = DEFAULT_OUT_DIR,
    time_scale: float = 0.05,
    seed: int = 7,
    repeats: int = 3,
    prompts: str | Path | Sequence[str | BatchPrompt] | None = None,
    progress: bool = True,
    stdout: TextIO | None = None,
) -> int:
    """Run the demo; `time_scale=0` for no simulated latency (tests).

    `prompts` is a prompts file (default: ``examples/prompts.jsonl``) or a list of prompts.
    """
    out = stdout if stdout is not None else sys.stdout

    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    try:
        items = _load(prompts)
    except PromptsFileError as err:
        print(f"nvgw_nb demo: {err}", file=sys.stderr)
        return 1

    say(
        "nvgw_nb demo: SIMULATED. Everything below comes from the built-in simulator (no "
        f"network, no credentials), its latencies scaled ×{time_scale:g} so the demo is quick."
    )
    say()
    _walkthrough(say, time_scale=time_scale, seed=seed)
    return _compare(
        say,
        items,
        Path(out_dir),
        time_scale=time_scale,
        seed=seed,
        repeats=repeats,
        progress=progress,
    )


def _load(prompts: str | Path | Sequence[str | BatchPrompt] | None) -> list[BatchPrompt]:
    if prompts is None:
        return read_prompts(find_prompts())
    if isinstance(prompts, (str, Path)):
        return read_prompts(prompts)
    return [p if isinstance(p, BatchPrompt) else BatchPrompt(prompt=p) for p in prompts]


def _walkthrough(say: _Say, *, time_scale: float, seed: int) -> None:
    """Part 1: one answer, one fallback, and the trace that explains it."""
    from nvgw_nb.sim import Simulator

    with (
        Simulator(seed=seed, time_scale=time_scale) as sim,
        sim.session(retry=RetryPolicy.for_simulator(time_scale)) as session,
    ):
        say(f"Part 1 — one fallback, step by step (a healthy simulator on {sim.url})")
        say(f"Provider order: {' → '.join(session.provider_order)}")
        say()
        say("1. A planner question; NVIDIA NIM answers.")
        say(f"   > {_FIRST_PROMPT}")
        first = session.chat(_FIRST_PROMPT, role="planner")
        say(_indent(first.content))
        say(f"   {summary_line(first)}")
        say()
        say("2. Inject fault N1 (HTTP 503) into the next 3 NIM requests: NIM's first try and")
        say("   both retries fail, so the LLM Gateway answers.")
        sim.inject("nvidia-nim", "N1", times=3)
        say(f"   > {_SECOND_PROMPT}")
        second = session.chat(_SECOND_PROMPT, role="reviewer")
        say(_indent(second.content))
        say(f"   {summary_line(second)}")
        say()
        say("3. Why: the attempt trace of call 2 (result.trace()).")
        say(_indent(second.trace()))
        say()


def _compare(
    say: _Say,
    prompts: list[BatchPrompt],
    out_dir: Path,
    *,
    time_scale: float,
    seed: int,
    repeats: int,
    progress: bool,
) -> int:
    """Part 2: the comparison and its report."""
    from nvgw_nb.report import write_report
    from nvgw_nb.sim import Simulator

    roles = list(dict.fromkeys(p.role for p in prompts if p.role))
    total = len(prompts) * 2 * repeats
    say(f"Part 2 — the main job: NIM vs the gateway (a {PROFILE} simulator, seed {seed})")
    kinds = f" ({', '.join(roles)})" if roles else ""
    plural = "s" if repeats != 1 else ""
    say(
        f"   {len(prompts)} prompts{kinds} × 2 providers × {repeats} repeat{plural} = "
        f"{total} requests,"
    )
    say("   each pinned to one provider (no fallback).")
    say(f"   In {PROFILE}, NIM fails about a third of its tries in mixed ways; its retries")
    say("   hide most of that, the rest shows as failures.")
    started = time.perf_counter()
    with (
        Simulator(profile=PROFILE, seed=seed, time_scale=time_scale) as sim,
        sim.session(retry=RetryPolicy.for_simulator(time_scale)) as session,
    ):
        cmp = session.compare(prompts, repeats=repeats, progress=progress)
    say(f"   Compared in {time.perf_counter() - started:.1f} s.")
    say()
    quality = _quality(say, time_scale=time_scale, seed=seed, progress=progress)
    say("Writing the report…")
    note = (
        f"make demo: simulator profile {PROFILE}, seed {seed}; simulated latencies and retry "
        f"waits ×{time_scale:g} of the simulator's model"
    )
    files = write_report(
        cmp,
        out_dir,
        title="nvgw_nb demo: NVIDIA NIM vs the LLM Gateway",
        note=note,
        quality=quality,
    )
    say()
    # Markdown for the terminal: its escapes (`\$`, `\_`) would only clutter the text
    say(unescape_markdown(cmp.summary().to_markdown().rstrip()))
    say()
    say(unescape_markdown(quality.markdown().rstrip()))
    say()
    say(f"Wrote {len(files.paths)} files into {out_dir}/:")
    say("   " + ", ".join(path.name for path in files.paths))
    say()
    say(f"Look first at {files.report_html} — open it in a browser: the summary, the plots,")
    say("the answers side by side and how to read the numbers. All of it is SIMULATED.")
    command = _nvgw_nb_command()
    say("Next: the same against your real endpoints (credentials in .env: see")
    say("docs/guides/credentials.md):")
    say(f"   {command} compare examples/prompts.jsonl --out compare-output")
    if command != "nvgw-nb":
        say("(or `source .venv/bin/activate` once, then plain `nvgw-nb …`)")
    return 0


def _nvgw_nb_command() -> str:
    """How to type `nvgw-nb` here: bare when it is on PATH, else the path of this
    environment's script (`make demo` does not activate the venv)."""
    import shutil

    script = Path(sys.executable).parent / "nvgw-nb"
    found = shutil.which("nvgw-nb")
    if found and Path(found).resolve() == script.resolve():
        return "nvgw-nb"
    if not script.exists():
        return "nvgw-nb"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _quality(say: _Say, *, time_scale: float, seed: int, progress: bool) -> QualitySection:
    """Part 3: answer quality on the labelled example cases, on a healthy simulator."""
    from nvgw_nb.experiments.cases import load_cases
    from nvgw_nb.quality import measure_quality
    from nvgw_nb.sim import Simulator

    cases = load_cases(find_cases())
    say(f"Part 3 — answer quality: {len(cases)} labelled cases (examples/cases.jsonl) on")
    say("   NIM and on the gateway, each graded by its own check; then a judge from a third")
    say(f"   model family ({JUDGE}) compares the answers, asked in both orders.")
    say("   SIMULATED: the simulator is told the gold answers and answers right with a")
    say(
        "   per-model probability; its judge has an injected first-slot bias of "
        f"{JUDGE_POSITION_BIAS:.0%}."
    )
    with (
        Simulator(
            seed=seed, time_scale=time_scale, judge_bias={"position": JUDGE_POSITION_BIAS}
        ) as sim,
        sim.session(retry=RetryPolicy.for_simulator(time_scale), allow_external=True) as session,
    ):
        section = measure_quality(session, cases, judge=JUDGE, seed=seed, progress=progress)
    say()
    return section


def _indent(text: str, prefix: str = "   ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


if __name__ == "__main__":
    raise SystemExit(main())
