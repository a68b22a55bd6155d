"""Smoke test of `benchmarks/experiment_overhead.py`: `--quick` runs and prints its tables.

No time is asserted: the figures depend on the machine. This only keeps the script working
(a few dozen simulated calls, one round, a 200-row memory figure).
"""

from __future__ import annotations

import pytest

from benchmarks import experiment_overhead as bench


def test_quick_run_prints_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("experiment overhead: 12 cases × 2 providers × 2 repeats = 48 calls")
    assert "[QUICK]" in lines[0]
    assert lines[1].startswith("SIMULATED: in-process simulator, time_scale=0")
    assert sum(line.startswith("  round ") for line in lines) == 1
    for variant in bench.VARIANTS:
        assert any(line.startswith(f"| {variant} | ") for line in lines), variant
    assert any(line.startswith("experiment / floor: median ") for line in lines)
    assert any(line.startswith("experiment − floor: median ") for line in lines)
    assert "memory per 10,000 rows, MB (tracemalloc; one run of 200 calls each" in out
    assert any(line.startswith("| list of ChatResult (floor) | ") for line in lines)
    assert any(line.startswith("| Run of CallRecord (experiment) | ") for line in lines)
    assert any(line.startswith("memory, experiment / floor: held ") for line in lines)


def test_calls_must_fill_the_grid() -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--calls", "10"])  # not a multiple of 2 providers × 2 repeats
    assert exc.value.code == 2


def test_a_short_or_cached_run_voids_the_numbers() -> None:
    setup = bench.Setup(bench.make_cases(1), bench.PROVIDERS, 1, 1)
    with pytest.raises(SystemExit, match="the numbers are void"):
        bench.check([], setup, bench.FLOOR)
