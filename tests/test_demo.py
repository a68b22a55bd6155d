"""`make demo` (nvgw_nb.demo) on its own simulators with no latency."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nvgw_nb import demo
from nvgw_nb.compare import Comparison
from nvgw_nb.experiments.run import Run
from nvgw_nb.prompts import read_prompts
from nvgw_nb.roles import ROLE_NAMES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "prompts.jsonl"


def test_demo_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo shows a fallback, then compares the example prompts into out_dir, all
    marked simulated, and says to open report.html first."""
    out_dir = tmp_path / "demo-output"
    assert demo.main(out_dir=out_dir, time_scale=0, progress=False) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out
    assert "served by nvidia-nim" in out
    assert "served by nvidia-gateway" in out
    assert "fell back: yes" in out
    assert out.count("server_error") >= 3  # the trace of the fallback: three 503s
    assert "**SIMULATED data**" in out
    assert f"Look first at {out_dir / 'report.html'}" in out

    for name in ("report.html", "summary.md", "results.csv", "results.jsonl"):
        assert (out_dir / name).is_file(), name
    for name in ("latency", "paired", "success", "tokens", "cost", "similarity", "overview"):
        assert (out_dir / f"{name}.png").stat().st_size > 1024, name
    assert "SIMULATED" in (out_dir / "summary.md").read_text(encoding="utf-8")
    assert "flaky-nim" in (out_dir / "report.html").read_text(encoding="utf-8")

    cmp = Comparison.load(out_dir / "results.jsonl")
    assert cmp.simulated
    assert cmp.repeats == 3
    assert len(cmp.rows) == len(cmp.prompts) * 2 * 3


def test_demo_states_its_conclusion_in_plain_terminal_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal gets the summary's conclusion from the paired interval, without the
    Markdown escapes that only a renderer would undo (summary.md keeps them)."""
    out_dir = tmp_path / "demo-output"
    assert demo.main(out_dir=out_dir, time_scale=0, progress=False) == 0
    out = capsys.readouterr().out
    assert "geometric mean, 95% CI" in out
    assert "Estimated cost per 1k requests:" in out
    assert "\\$" not in out
    assert "\\_" not in out
    assert "| $" in out  # the cost column, as a reader expects it
    assert "\\$" in (out_dir / "summary.md").read_text(encoding="utf-8")


def test_demo_reports_answer_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Part 3: pass rates with intervals on the labelled cases, the paired verdict, and a
    third-family judge asked in both orders with its diagnostics — in the output, in
    summary.md and report.html, with quality.png and a reloadable quality.jsonl."""
    out_dir = tmp_path / "demo-output"
    assert demo.main(out_dir=out_dir, time_scale=0, prompts=["a"], repeats=1, progress=False) == 0
    out = capsys.readouterr().out
    assert "Part 3 — answer quality: 48 labelled cases" in out
    for text in (out, (out_dir / "summary.md").read_text(encoding="utf-8")):
        assert "## Answer quality" in text
        assert "position consistency" in text
        assert "first-slot win rate" in text
        assert "95% CI" in text
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Answer quality</h2>" in page
    assert "quality.png" in page
    assert (out_dir / "quality.png").stat().st_size > 1024
    run = Run.load(out_dir / "quality.jsonl")
    assert run.simulated
    assert len(run.cases) == 48
    assert len(run.judgements) == 2 * 48
    verdict = run.compare(a={"provider": "nvidia-gateway"}, b={"provider": "nvidia-nim"})
    assert verdict.n_cases == 48
    said = "No difference shown" if not verdict.significant else "is better"
    assert said in verdict.verdict
    assert said in out


def test_demo_takes_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`prompts=` replaces the example file; `repeats=` sets the repeats."""
    out_dir = tmp_path / "d"
    code = demo.main(out_dir=out_dir, time_scale=0, prompts=["a", "b"], repeats=1, progress=False)
    assert code == 0
    assert "2 prompts × 2 providers × 1 repeat = 4 requests" in capsys.readouterr().out
    assert len(Comparison.load(out_dir / "results.jsonl").rows) == 4


def test_example_prompts() -> None:
    """examples/prompts.jsonl: 30–40 distinct prompts, each of the four roles well represented."""
    prompts = read_prompts(EXAMPLES)
    assert 30 <= len(prompts) <= 40
    assert len({p.prompt for p in prompts}) == len(prompts)
    roles = Counter(p.role for p in prompts)
    assert set(roles) == set(ROLE_NAMES)
    assert min(roles.values()) >= 6
