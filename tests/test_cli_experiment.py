"""`nvgw-nb experiment SPEC --out DIR --sim`: exit codes, the files written, resuming, and
no credential in anything it writes or prints."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nvgw_nb import cli
from nvgw_nb.experiment_cli import run_experiment
from nvgw_nb.sim import Simulator
from tests.test_secrets import Canaries
from tests.test_spec import SPEC, write_spec

ROOT = Path(__file__).resolve().parent.parent
#: the test spec plus a tight non-inferiority margin and a `better` for the gateway
GATE = SPEC + (
    '\n[[expect]]\na = { provider = "nvidia-gateway" }\nb = { provider = "nvidia-nim" }\n'
    "better = true\n"
    '\n[[expect]]\na = { provider = "nvidia-nim" }\nb = { provider = "nvidia-gateway" }\n'
    "not_worse_than = -0.05\n"
)


def run_with(
    capsys: pytest.CaptureFixture[str], spec: Path, out: Path, sim: Simulator, *extra: str
) -> tuple[int, str, str]:
    """`nvgw-nb experiment SPEC --out OUT --sim` on `sim`, in-process → (code, stdout, stderr)."""
    args = cli._parser().parse_args(
        ["experiment", str(spec), "--out", str(out), "--sim", "--no-progress", *extra]
    )
    code = run_experiment(args, simulator=sim)
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def chat_requests(sim: Simulator) -> int:
    """Chat requests the simulator received from NIM and gateway clients."""
    requests = sim.stats()["requests"]
    return int(requests["nvidia-nim"]["chat"]) + int(requests["nvidia-gateway"]["chat"])


def lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_all_expectations_hold_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Equal accuracy and a −30-point margin: exit 0, the three files, one PASS line."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.8, "nvidia-gateway": 0.8})
    code, stdout, stderr = run_with(capsys, spec, out, sim)
    assert code == 0, stdout + stderr
    assert sorted(p.name for p in out.iterdir()) == ["results.csv", "run.jsonl", "summary.md"]
    assert [line.strip()[:4] for line in stdout.splitlines() if "on expected:" in line] == ["PASS"]
    assert "SIMULATED" in stdout
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "**SIMULATED**" in summary
    assert "## Expectations" in summary
    assert "All 1 expectations held" in summary
    with (out / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40 * 2
    assert {"provider", "case", "expected", "expected_passed", "text"} <= set(rows[0])
    assert lines(out / "run.jsonl") == 1 + 80  # the header, then one line per call


def test_failed_expectation_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """NIM 50% vs the gateway 95%: `better` for the gateway passes, NIM's non-inferiority
    fails, exit 1, and stderr says how many failed."""
    spec = write_spec(tmp_path, GATE)
    sim = Simulator(time_scale=0, accuracy={"nvidia-nim": 0.5, "nvidia-gateway": 0.95})
    code, stdout, stderr = run_with(capsys, spec, tmp_path / "out", sim)
    assert code == 1
    verdicts = [line.strip()[:4] for line in stdout.splitlines() if "on expected:" in line]
    assert verdicts == ["FAIL", "PASS", "FAIL"]
    assert "2 of 3 expectations failed" in stderr
    assert "1 of 3 expectations held" in (tmp_path / "out" / "summary.md").read_text("utf-8")


def test_resume_makes_no_new_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Running the same command again reads run.jsonl and calls nothing."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    first = Simulator(time_scale=0)
    assert run_with(capsys, spec, out, first)[0] == 0
    assert chat_requests(first) == 80
    before = lines(out / "run.jsonl")
    again = Simulator(time_scale=0)
    code, stdout, _ = run_with(capsys, spec, out, again)
    assert code == 0
    assert chat_requests(again) == 0
    assert lines(out / "run.jsonl") == before
    assert "80 of 80 calls already made" in stdout
    assert "Ran 0 new calls" in stdout


def test_call_cap_stops_then_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--max-calls stops early (exit 1, incomplete run said); the next run makes the rest."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    capped = Simulator(time_scale=0)
    code, stdout, stderr = run_with(capsys, spec, out, capped, "--max-calls", "10")
    assert code == 1
    assert chat_requests(capped) == 10
    assert "Stopped early" in stdout
    assert "stopped early" in stderr
    assert "Stopped early" in (out / "summary.md").read_text("utf-8")
    rest = Simulator(time_scale=0)
    code, stdout, _ = run_with(capsys, spec, out, rest)
    assert code == 0
    assert chat_requests(rest) == 70
    assert "10 of 80 calls already made" in stdout


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["{spec_bad}"], "colour"),
        (["{missing}"], "nope.toml"),
        (["{spec_no_cell}"], "expect[1].a"),
        (["{spec}", "--concurrency", "0"], "at least 1"),
        (["{spec}", "--budget", "lots"], "dollars"),
    ],
)
def test_usage_and_config_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    """A bad spec, a missing file, an arm no cell matches, a bad option: exit 2, one line
    on stderr naming the problem, no call made."""
    good = write_spec(tmp_path / "good")
    bad = write_spec(tmp_path / "bad", SPEC + "colour = 1\n")
    no_cell = write_spec(tmp_path / "nocell", SPEC.replace('"nvidia-nim" }', '"openai" }'))
    names = {
        "spec": good,
        "spec_bad": bad,
        "missing": tmp_path / "nope.toml",
        "spec_no_cell": no_cell,
    }
    filled = [a.format(**{k: str(v) for k, v in names.items()}) for a in argv]
    code = cli.main(["experiment", *filled, "--out", str(tmp_path / "out"), "--sim"])
    _, stderr = capsys.readouterr()
    assert code == 2
    assert words in stderr
    assert not (tmp_path / "out" / "run.jsonl").exists()


def test_other_experiment_in_out_dir_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out holding another experiment's run.jsonl is refused (exit 2), not overwritten."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    assert run_with(capsys, spec, out, Simulator(time_scale=0))[0] == 0
    other = write_spec(
        tmp_path / "other",
        SPEC.replace('type = "expected"', 'type = "contains"').replace(
            'metric = "expected"', 'metric = "contains"'
        ),
    )
    size = (out / "run.jsonl").stat().st_size
    code, _, stderr = run_with(capsys, other, out, Simulator(time_scale=0))
    assert code == 2
    assert "another experiment" in stderr
    assert (out / "run.jsonl").stat().st_size == size


def test_no_secret_in_anything_written_or_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With faults on NIM, the gateway and the token endpoint (errors in the run), no
    simulator credential or issued token is in DIR's files or on stdout/stderr."""
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    with Simulator(time_scale=0, token_lifetime=1.0) as sim:
        canaries = Canaries(sim)
        for provider, fault, times in (
            ("nvidia-nim", "X4", 1),
            ("nvidia-nim", "N1", 3),
            ("nvidia-gateway", "G1", 1),
            ("nvidia-gateway", "B1", 2),
            ("starfleet", "T1", 1),
        ):
            sim.inject(provider, fault, times)
        code, stdout, stderr = run_with(capsys, spec, out, sim)
        assert code in (0, 1)
        assert canaries.add_tokens() >= 1
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(files) == {"run.jsonl", "summary.md", "results.csv"}
    assert b'"ok": false' in files["run.jsonl"] or b'"ok":false' in files["run.jsonl"]
    leaks = {name: canaries.found_in(data) for name, data in files.items()}
    leaks["stdout/stderr"] = canaries.found_in(stdout + stderr)
    assert not {name: found for name, found in leaks.items() if found}


def test_canary_search_is_not_blind(tmp_path: Path) -> None:
    """The search above finds a credential when one is written."""
    with Simulator(time_scale=0) as sim:
        canaries = Canaries(sim)
        assert canaries.found_in(f"key={sim.env()['NVIDIA_NIM_API_KEY']}")


def test_example_spec_runs_under_sim(tmp_path: Path) -> None:
    """`nvgw-nb experiment examples/experiment.toml --sim` end to end in a subprocess: the
    simulated NIM fails the 5-point non-inferiority gate (exit 1), the terse prompt is
    better, the gateway's pass rate clears 60%."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIDIA_", "STARFLEET_"))}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "nvgw_nb", "experiment"),
            *(str(ROOT / "examples" / "experiment.toml"), "--out", str(out), "--sim"),
            "--no-progress",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    verdicts = [line.strip()[:4] for line in done.stdout.splitlines() if "on expected:" in line]
    assert verdicts == ["FAIL", "PASS", "PASS"]
    assert {p.name for p in out.iterdir()} == {"run.jsonl", "summary.md", "results.csv"}
    assert "SIMULATED" in (out / "summary.md").read_text(encoding="utf-8")


def test_real_endpoints_are_chosen_like_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --sim, the spec runs on the endpoints a discovered .env names (here a
    loopback simulator standing in for the real ones), and the header names that file."""
    spec = write_spec(tmp_path / "repo")
    (tmp_path / "repo" / ".git").mkdir()
    (tmp_path / "repo" / "sub").mkdir()
    with Simulator(time_scale=0) as sim:
        env = sim.env()
        (tmp_path / "repo" / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        monkeypatch.chdir(tmp_path / "repo" / "sub")
        args = cli._parser().parse_args(
            ["experiment", str(spec), "--out", str(tmp_path / "out"), "--no-progress"]
        )
        run_experiment(args)
        assert chat_requests(sim) > 0
    stdout = capsys.readouterr().out
    assert f"real endpoints, settings from the environment and {tmp_path / 'repo' / '.env'}" in (
        stdout
    )
