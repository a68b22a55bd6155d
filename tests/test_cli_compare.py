"""`nvgw-nb compare`, run in-process against a fresh simulator with no latency."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nvgw_nb import cli

SIM = ["--simulator", "--time-scale", "0", "--no-progress"]
CASES = Path(__file__).resolve().parents[1] / "examples" / "cases.jsonl"


def _jsonl(path: Path, *objects: object, blank: bool = True) -> Path:
    lines = [json.dumps(o) for o in objects]
    if blank:
        lines.insert(1, "")  # blank lines are allowed
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_compare_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A .jsonl file with roles: the report is written, the summary printed, report.html named."""
    prompts = _jsonl(
        tmp_path / "p.jsonl",
        {"prompt": "Classify this request: flaky export", "role": "router"},
        {"prompt": "Plan the migration of the billing DB", "role": "planner"},
        {"prompt": "Write a Python function that adds two numbers"},
    )
    out = tmp_path / "out"
    code = cli.main(["compare", str(prompts), "--out", str(out), "--repeats", "2", *SIM])
    stdout, _ = capsys.readouterr()
    assert code == 0
    assert "SIMULATOR" in stdout
    assert "**SIMULATED data**" in stdout
    assert "| nvidia-nim | 6 |" in stdout
    assert "| nvidia-gateway | 6 |" in stdout
    assert f"Look first at {out / 'report.html'}" in stdout
    for name in ("results.csv", "results.jsonl", "summary.md", "report.html", "latency.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in stdout
    rows = _rows(out)
    assert len(rows) == 3 * 2 * 2
    assert {r["role"] for r in rows if r["prompt_index"] == "0"} == {"router"}
    assert {r["role"] for r in rows if r["prompt_index"] == "2"} == {""}


def test_compare_with_cases_adds_answer_quality(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--cases adds the quality section; --judge a pairwise judge in both orders."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\ntwo\n")
    out = tmp_path / "out"
    args = [
        "compare",
        str(prompts),
        "--out",
        str(out),
        "--cases",
        str(CASES),
        "--judge",
        "anthropic",
        *SIM,
    ]
    assert cli.main(args) == 0
    stdout = capsys.readouterr().out
    assert "Answer quality: 48 labelled cases" in stdout
    assert "## Answer quality" in stdout
    assert "position consistency" in (out / "summary.md").read_text(encoding="utf-8")
    assert (out / "quality.jsonl").is_file()
    assert (out / "quality.png").is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--judge", "anthropic"], "--judge needs --cases"),
        (["--cases", "missing.jsonl"], "--cases cannot read"),
    ],
)
def test_quality_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """A judge without cases, or an unreadable cases file, is a usage error (exit 2)."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("one\n")
    assert cli.main(["compare", str(prompts), "--out", str(tmp_path / "o"), *extra, *SIM]) == 2
    assert message in capsys.readouterr().err


def test_compare_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A text file: one prompt per line, blank lines and # comments skipped; --role applies."""
    prompts = tmp_path / "p.txt"
    prompts.write_text(
        "# prompts for the reviewer\n\nReview this diff: x = 1\n  \nIs this thread-safe?\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["compare", str(prompts), "--out", str(out), "--role", "reviewer", *SIM]
    assert cli.main(args) == 0
    rows = _rows(out)
    assert len(rows) == 2 * 2
    assert {r["prompt"] for r in rows} == {"Review this diff: x = 1", "Is this thread-safe?"}
    assert {r["role"] for r in rows} == {"reviewer"}
    assert "report.html" in capsys.readouterr().out


def test_compare_one_provider(tmp_path: Path) -> None:
    """--providers picks the columns; one provider works (nothing side by side)."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\nworld\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["compare", str(prompts), "--out", str(out), "--providers", "nvidia-gateway", *SIM]
    assert cli.main(args) == 0
    assert {r["provider"] for r in _rows(out)} == {"nvidia-gateway"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 3: not valid JSON"),
        ('["a list"]', 'line 3: expected an object with a "prompt" string'),
        ('{"role": "router"}', 'line 3: expected an object with a "prompt" string'),
        ('{"prompt": "  "}', "line 3: the prompt is empty"),
        ('{"prompt": "hi", "role": "poet"}', "line 3: unknown role 'poet'"),
    ],
)
def test_bad_jsonl_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    """A bad JSONL line is a usage error (exit 2) naming the file and line number."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(f'{{"prompt": "fine"}}\n\n{line}\n{{"prompt": "ok"}}\n', encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["compare", str(prompts), "--out", str(out), *SIM]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("nvgw-nb compare: error: ")
    assert f"{prompts} {message}" in err
    assert len(err.strip().splitlines()) == 1
    assert not (out / "results.csv").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--profile", "flaky-nim"], "--profile needs --simulator"),
        (["--seed", "1", "--time-scale", "0"], "--seed and --time-scale need --simulator"),
        (["--simulator", "--profile", "nope"], "unknown profile 'nope'"),
        (["--simulator", "--time-scale", "-1"], "time_scale"),
        (["--simulator", "--providers", "nvidia-nim,bogus"], "unknown provider(s) 'bogus'"),
        (["--simulator", "--role", "poet"], "unknown role 'poet'"),
    ],
)
def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Bad options exit 2 with one line on stderr, before any request."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    args = ["compare", str(prompts), "--out", str(tmp_path / "out"), "--no-progress", *extra]
    assert cli.main(args) == 2
    _, err = capsys.readouterr()
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [None, "", "# only a comment\n\n"])
def test_missing_or_empty_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    """A missing file or one with no prompts is a usage error."""
    prompts = tmp_path / "p.txt"
    if content is not None:
        prompts.write_text(content, encoding="utf-8")
    assert cli.main(["compare", str(prompts), "--out", str(tmp_path / "o"), *SIM]) == 2
    _, err = capsys.readouterr()
    assert str(prompts) in err
    assert ("cannot read" if content is None else "has no prompts") in err


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_repeats_must_be_positive(tmp_path: Path, value: str) -> None:
    """--repeats below 1 (or not a number) is rejected by the parser: exit 2."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    args = ["compare", str(prompts), "--out", str(tmp_path / "o"), "--repeats", value, *SIM]
    assert cli.main(args) == 2


def test_real_endpoints_without_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --simulator and with no credentials: exit 1, and the hint to try --sim."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    assert cli.main(["compare", str(prompts), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("nvgw-nb: error: ")
    assert "--sim" in err
    assert len(err.strip().splitlines()) == 1


def test_every_request_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When no request succeeds the report is still written, and the exit code is 1."""
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["compare", str(prompts), "--out", str(out), "--providers", "nvidia-nim"]
    assert cli.main([*args, *SIM, "--profile", "nim-down"]) == 1
    stdout, err = capsys.readouterr()
    assert (out / "report.html").is_file()
    assert "report.html" in stdout
    assert "every request failed" in err
