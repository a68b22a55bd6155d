"""The `nvgw-nb` command line, run in-process against a simulator."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb import cli
from nvgw_nb.sim import Simulator, command

_CANARY = "wrong-canary-S3cr3t-9f2c"


@pytest.fixture
def cli_sim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Simulator]:
    """A simulator whose variables are in the environment, run from an empty directory."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    with Simulator(seed=0, time_scale=0) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        yield sim


def _secrets(sim: Simulator) -> list[str]:
    env = sim.env()
    return [env["NVIDIA_NIM_API_KEY"], env["STARFLEET_SECRET"], env["STARFLEET_ID"]]


def test_check_ok(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` validates config, fetches a token, probes both providers: exit 0."""
    assert cli.main(["check"]) == 0
    out, err = capsys.readouterr()
    assert "[ok]   configuration" in out
    assert "[ok]   Starfleet token" in out
    assert "[ok]   nvidia-nim" in out
    assert "[ok]   nvidia-gateway" in out
    assert "All checks passed." in out
    assert "[FAIL]" not in out
    for secret in _secrets(cli_sim):
        assert secret not in out + err


def test_check_sim_shows_success(capsys: pytest.CaptureFixture[str]) -> None:
    """`check --sim` needs no configuration and says it is simulated."""
    assert cli.main(["check", "--sim"]) == 0
    out, _ = capsys.readouterr()
    assert "SIMULATOR" in out
    assert "All checks passed." in out


def test_check_broken_secret(
    cli_sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong STARFLEET_SECRET fails the token step, names the variable, never the value."""
    monkeypatch.setenv("STARFLEET_SECRET", _CANARY)
    assert cli.main(["check"]) == 1
    out, err = capsys.readouterr()
    assert "[FAIL] Starfleet token" in out
    assert "STARFLEET_SECRET" in out
    assert "[ok]   nvidia-nim" in out  # the other provider is still probed
    assert _CANARY not in out + err


def test_check_without_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """With nothing configured, `check` names the missing variables and how to fix them."""
    assert cli.main(["check"]) == 1
    out, _ = capsys.readouterr()
    assert "[FAIL] NVIDIA_NIM_API_KEY: is not set" in out
    assert "STARFLEET_ID and STARFLEET_SECRET" in out
    assert "fix:" in out


def test_check_invalid_setting(
    cli_sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed variable fails the configuration step with its name."""
    monkeypatch.setenv("NVIDIA_NIM_BASE_URL", cli_sim.url + "/nim/v1/chat/completions")
    assert cli.main(["check"]) == 1
    out, _ = capsys.readouterr()
    assert "[FAIL] configuration" in out
    assert "NVIDIA_NIM_BASE_URL" in out


def test_chat_prints_answer_and_summary(
    cli_sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chat` prints the answer on stdout and a served-by line on stderr."""
    assert cli.main(["chat", "Summarise this diff: fix the parser", "--role", "planner"]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    assert "served by nvidia-nim" in err
    assert "fell back: no" in err
    assert "SIMULATED" in err


def test_chat_json_round_trips(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`--json` prints exactly `ChatResult.to_json()`, readable with `from_json`."""
    assert cli.main(["chat", "hello there", "--role", "router", "--json"]) == 0
    out, _ = capsys.readouterr()
    result = nv.ChatResult.from_json(out)
    assert result.served_by == "nvidia-nim"
    assert result.content
    assert result.simulated
    assert result.to_json() == out.strip()


def test_chat_providers_gateway(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`--providers nvidia-gateway` sends the call to the gateway only."""
    assert cli.main(["chat", "hello", "--providers", "nvidia-gateway", "--json"]) == 0
    result = nv.ChatResult.from_json(capsys.readouterr().out)
    assert result.served_by == "nvidia-gateway"
    assert {a.provider for a in result.attempts} == {"nvidia-gateway"}
    assert result.correlation_id


def test_chat_falls_back(
    cli_sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NIM 503 falls back to the gateway, and the summary says so."""
    monkeypatch.setenv("NVGW_MAX_RETRIES", "0")
    cli_sim.inject("nvidia-nim", "N1", times=1)
    assert cli.main(["chat", "hello"]) == 0
    err = capsys.readouterr().err
    assert "served by nvidia-gateway" in err
    assert "fell back: yes" in err


def test_chat_no_fallback_fails_in_one_line(
    cli_sim: Simulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--no-fallback` with a failing NIM: exit 1, one error line, no traceback."""
    monkeypatch.setenv("NVGW_MAX_RETRIES", "0")
    cli_sim.inject("nvidia-nim", "N1", times=1)
    assert cli.main(["chat", "hello", "--no-fallback"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("nvgw-nb: error: ")
    assert err.count("\n") == 1
    assert "503" in err
    assert "Traceback" not in err


def test_chat_stream(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`--stream` prints the text as it arrives, then the summary."""
    assert cli.main(["chat", "stream me", "--role", "router", "--stream"]) == 0
    out, err = capsys.readouterr()
    assert out.strip()
    assert "served by nvidia-nim" in err


def test_chat_stream_json(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """`--stream --json` prints only the final result as JSON."""
    assert cli.main(["chat", "stream me", "--stream", "--json"]) == 0
    result = nv.ChatResult.from_json(capsys.readouterr().out)
    assert result.content


def test_chat_stream_broken(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """A stream that breaks after text: the partial line is ended, the error is one line."""
    cli_sim.inject("nvidia-nim", "S2")
    assert cli.main(["chat", "stream me", "--stream"]) == 1
    out, err = capsys.readouterr()
    assert out.strip()
    assert out.endswith("\n")
    assert "stream broke" in err
    assert err.count("\n") == 1


def test_chat_bad_role(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown role exits 1 with a clear one-line message listing the roles."""
    assert cli.main(["chat", "hello", "--role", "astronaut"]) == 1
    err = capsys.readouterr().err
    assert "unknown role 'astronaut'" in err
    assert "router" in err
    assert err.count("\n") == 1


def test_chat_unknown_provider(cli_sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown provider name exits 1 naming it."""
    assert cli.main(["chat", "hello", "--providers", "nvidia-nim,skynet"]) == 1
    assert "'skynet'" in capsys.readouterr().err


def test_chat_without_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    """With no credentials, `chat` names the variable and suggests --sim."""
    assert cli.main(["chat", "hello"]) == 1
    err = capsys.readouterr().err
    assert "NVIDIA_NIM_API_KEY" in err
    assert "--sim" in err


def test_chat_sim(capsys: pytest.CaptureFixture[str]) -> None:
    """`chat --sim` needs no configuration and is marked simulated."""
    assert cli.main(["chat", "hello", "--sim"]) == 0
    assert "SIMULATED" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        ([], 2),
        (["chat"], 2),
        (["frobnicate"], 2),
        (["sim", "--seed", "x"], 2),
        (["sim", "--profile", "no-such-profile"], 2),
        (["--help"], 0),
    ],
)
def test_usage_errors(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Usage errors exit 2; --help exits 0."""
    assert cli.main(argv) == code
    if code == 2:
        assert capsys.readouterr().err


def test_sim_prints_exports_and_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sim` prints export lines that point a Session at it, serves, and stops on Ctrl-C."""
    seen: dict[str, str] = {}

    def fake_wait() -> None:
        out = capsys.readouterr().out
        assert "Ctrl-C" in out
        assert "SIMULATOR" in out
        for line in out.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                seen[name] = shlex.split(value)[0]
        with nv.Session.from_env(env=seen, env_file=None) as session:
            assert session.chat("hello").served_by == "nvidia-nim"
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "wait_for_interrupt", fake_wait)
    assert cli.main(["sim", "--time-scale", "0", "--seed", "3"]) == 0
    assert seen["NVIDIA_NIM_BASE_URL"].startswith("http://127.0.0.1:")
    assert {"NVIDIA_NIM_API_KEY", "STARFLEET_ID", "STARFLEET_SECRET"} <= set(seen)
    assert "simulator stopped" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sim_process_stops_on_sigint(tmp_path: Path) -> None:
    """`nvgw-nb sim` as a process: prints exports, then SIGINT stops it with exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvgw_nb", "sim", "--time-scale", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any(line.startswith("export NVIDIA_NIM_BASE_URL=") for line in lines)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "simulator stopped" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "expected", "absent"),
    [
        pytest.param(
            {"NVGW_ALLOW_EXTERNAL": "true"},
            [
                "[ok]   OPENAI_API_KEY: is set",
                "[ok]   ANTHROPIC_API_KEY: is set",
                "[ok]   GOOGLE_API_KEY: is set",
                "[ok]   openai: ",
                "[ok]   anthropic: ",
                "[ok]   google-genai: ",
                "All checks passed.",
            ],
            ["not available", "[FAIL]"],
            id="external-on",
        ),
        pytest.param(
            {"NVGW_ALLOW_EXTERNAL": "false"},
            ["order nvidia-nim → nvidia-gateway\n", "All checks passed."],
            ["openai", "anthropic", "google-genai"],
            id="external-off",
        ),
        pytest.param(
            {"NVGW_ALLOW_EXTERNAL": "false", "NVGW_PROVIDER_ORDER": "nvidia-nim,openai"},
            ["[FAIL] openai: external providers are off", "fix: set NVGW_ALLOW_EXTERNAL=true"],
            [],
            id="external-named-but-off",
        ),
        pytest.param(
            {"NVGW_ALLOW_EXTERNAL": "true", "NVGW_PROVIDER_ORDER": "nvidia-nim,anthropic"},
            ["[FAIL] ANTHROPIC_API_KEY: is not set", "console.anthropic.com"],
            ["[ok]   anthropic:"],
            id="external-without-key",
        ),
    ],
)
def test_check_covers_external_providers(
    cli_sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: list[str],
    absent: list[str],
) -> None:
    """`check` checks and probes every provider the settings enable, external ones too,
    and says why one named in the order cannot be used."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if "anthropic" in env.get("NVGW_PROVIDER_ORDER", ""):
        monkeypatch.delenv("ANTHROPIC_API_KEY")
    code = cli.main(["check"])
    out = capsys.readouterr().out
    assert code == (1 if any("[FAIL]" in line for line in expected) else 0)
    for line in expected:
        assert line in out
    for word in absent:
        assert word not in out
