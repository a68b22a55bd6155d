"""`make demo` (nvgw_nb.demo) on its own simulator with no latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvgw_nb import demo


def test_demo_shows_fallback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo falls back to the gateway and writes the trace, all marked simulated."""
    assert demo.main(time_scale=0, out_dir=tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out
    assert "served by nvidia-nim" in out
    assert "served by nvidia-gateway" in out
    assert "fell back: yes" in out

    trace = (tmp_path / "demo" / "trace.md").read_text(encoding="utf-8")
    assert "SIMULATED" in trace
    rows = [line.split("|")[1:-1] for line in trace.splitlines() if line.startswith("| ")]
    header, *body = [[cell.strip() for cell in row] for row in rows]
    assert header[:7] == ["call", "provider", "model", "attempt", "outcome", "status", "error kind"]
    second = [row for row in body if row[0] == "2"]
    assert [(r[1], r[3], r[4], r[5]) for r in second] == [
        ("nvidia-nim", "1", "error", "503"),
        ("nvidia-nim", "2", "error", "503"),
        ("nvidia-nim", "3", "error", "503"),
        ("nvidia-gateway", "1", "ok", "200"),
    ]
    assert second[-1][9]  # the gateway attempt carries its correlationId


def test_tables() -> None:
    """Text tables pad columns; Markdown tables escape pipes; both survive no rows."""
    rows = [("a|b", "1"), ("c", "22")]
    assert demo.markdown_table(("x", "y"), rows).splitlines() == [
        "| x | y |",
        "|---|---|",
        "| a\\|b | 1 |",
        "| c | 22 |",
    ]
    assert demo.text_table(("x", "y"), rows).splitlines() == [
        "x    y",
        "---  --",
        "a|b  1",
        "c    22",
    ]
    assert demo.text_table(("x", "y"), []) == "x  y\n-  -"
