"""`nvgw-nb report RESULTS --out DIR`: a report re-rendered from saved results, no request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb import cli

_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """The results.jsonl of a small simulated `nvgw-nb compare`."""
    (tmp_path / "prompts.txt").write_text("hello\nwrite a haiku about rain\n")
    args = ["compare", "prompts.txt", "--out", "cmp", "--sim", "--no-progress", "--repeats", "2"]
    assert cli.main(args) == 0
    return tmp_path / "cmp" / "results.jsonl"


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("nvgw-nb report must not create a Session")


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a Session (the only way to send a request) fails the test."""
    monkeypatch.setattr(nv.Session, "__init__", _refuse)


def _table(summary_md: Path) -> list[str]:
    return [line for line in summary_md.read_text().splitlines() if line.startswith("| nvidia")]


def test_report_rerenders_without_requests(
    saved: Path, tmp_path: Path, no_requests: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report is written again from results.jsonl alone, with the same summary table."""
    capsys.readouterr()
    assert cli.main(["report", str(saved), "--out", "again"]) == 0
    again = tmp_path / "again"
    for name in ("report.html", "summary.md", "results.csv", "results.jsonl", "overview.png"):
        assert (again / name).is_file(), name
    assert _table(again / "summary.md") == _table(saved.parent / "summary.md")
    out = capsys.readouterr().out
    assert "no requests sent" in out
    assert "SIMULATED" in out


def test_report_rebuilds_the_quality_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """quality.jsonl beside results.jsonl brings the answer-quality section back."""
    (tmp_path / "prompts.txt").write_text("hello\n")
    cases = str(_ROOT / "examples" / "cases.jsonl")
    args = ["compare", "prompts.txt", "--out", "cmp", "--sim", "--no-progress", "--cases", cases]
    assert cli.main(args) == 0
    monkeypatch.setattr(nv.Session, "__init__", _refuse)
    assert cli.main(["report", "cmp/results.jsonl", "--out", "again"]) == 0
    assert "Answer quality" in (tmp_path / "again" / "report.html").read_text()
    assert (tmp_path / "again" / "quality.png").is_file()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("", "not a results.jsonl written by nvgw-nb compare"),
        ('{"prompt": "hi"}\n', "not a results.jsonl written by nvgw-nb compare"),
    ],
)
def test_unreadable_results_are_usage_errors(
    tmp_path: Path, content: str | None, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing or foreign file: exit 2, one line naming the file."""
    path = tmp_path / "results.jsonl"
    if content is not None:
        path.write_text(content)
    assert cli.main(["report", str(path), "--out", "again"]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert str(path) in err
    assert not (tmp_path / "again").exists()


def test_a_damaged_line_is_named(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row that no longer parses is named by its line number."""
    lines = saved.read_text().splitlines()
    lines[2] = lines[2].replace('"latency_s":', '"latency_s":"slow","was":')
    saved.write_text("\n".join(lines) + "\n")
    assert cli.main(["report", str(saved), "--out", "again"]) == 2
    assert "line 3: latency_s" in capsys.readouterr().err
