"""`nvgw-nb` flags: --version, chat's and compare's request flags, --profile's choices,
every bad prompts line at once, and `check` against a standalone simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb import cli
from nvgw_nb.sim import PROFILES, Simulator


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keywords of every Session.chat / Session.compare call (the calls still run)."""
    seen: list[dict[str, Any]] = []
    for name in ("chat", "compare"):
        original = getattr(nv.Session, name)

        def spy(self: nv.Session, *args: Any, _original: Any = original, **kw: Any) -> Any:
            seen.append(kw)
            return _original(self, *args, **kw)

        monkeypatch.setattr(nv.Session, name, spy)
    return seen


@pytest.fixture
def sim_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator whose variables are exported, as `nvgw-nb sim` prints them."""
    with Simulator(seed=0, time_scale=0) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        yield sim


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version and exits 0."""
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"nvgw-nb {nv.__version__}"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--system", "Be terse."], {"system": "Be terse."}),
        (["--temperature", "0.2"], {"temperature": 0.2}),
        (["--max-tokens", "40"], {"max_tokens": 40}),
        (
            ["--model", "gpt-4o", "--providers", "nvidia-gateway"],
            {"models": {"nvidia-gateway": "gpt-4o"}},
        ),
        (["--model", "gpt-4o-mini"], {"models": {"nvidia-nim": "gpt-4o-mini"}}),
        (["--model", "nvidia-gateway=gpt-4o"], {"models": {"nvidia-gateway": "gpt-4o"}}),
    ],
)
def test_chat_request_flags(
    calls: list[dict[str, Any]], flags: list[str], expected: dict[str, Any]
) -> None:
    """Each chat flag becomes the Session.chat keyword of the same name."""
    assert cli.main(["chat", "hello", "--sim", *flags]) == 0
    assert expected.items() <= calls[-1].items()


def test_chat_model_reaches_the_provider(capsys: pytest.CaptureFixture[str]) -> None:
    """--model picks the deployment the gateway is asked for."""
    args = ["chat", "hi", "--sim", "--providers", "nvidia-gateway", "--model", "gpt-4o", "--json"]
    assert cli.main(args) == 0
    assert nv.ChatResult.from_json(capsys.readouterr().out).model.startswith("gpt-4o")


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--temperature", "3"], "between 0 and 2"),
        (["--max-tokens", "0"], "at least 1"),
        (["--model", "nvidia-foo=x"], "unknown provider 'nvidia-foo'"),
        (["--model", "a,b"], "one model name"),
    ],
)
def test_chat_bad_flags_are_usage_errors(
    flags: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad flag value is a usage error (exit 2) saying what is wrong."""
    assert cli.main(["chat", "hello", "--sim", *flags]) == 2
    assert says in capsys.readouterr().err


def test_compare_system_and_models(
    calls: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compare --system and --models reach Session.compare; the gateway answers as gpt-4o."""
    (tmp_path / "p.txt").write_text("hello\n")
    args = ["compare", "p.txt", "--out", "out", "--sim", "--no-progress"]
    args += ["--system", "Be terse.", "--models", "nvidia-gateway=gpt-4o"]
    assert cli.main(args) == 0
    assert calls[-1]["system"] == "Be terse."
    assert calls[-1]["models"] == {"nvidia-gateway": "gpt-4o"}
    cmp = nv.Comparison.load(tmp_path / "out" / "results.jsonl")
    assert all((row.model or "").startswith("gpt-4o-2") for row in cmp.rows_for("nvidia-gateway"))


def test_compare_models_must_name_a_compared_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--models naming a provider left out of --providers is a usage error."""
    (tmp_path / "p.txt").write_text("hello\n")
    args = ["compare", "p.txt", "--out", "out", "--sim", "--providers", "nvidia-nim"]
    assert cli.main([*args, "--models", "nvidia-gateway=gpt-4o"]) == 2
    assert "--models names nvidia-gateway, not compared" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["sim"], ["compare", "p.txt", "--out", "o", "--sim"]])
def test_profile_lists_its_choices(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--help names every simulator profile; an unknown one is refused by name."""
    (tmp_path / "p.txt").write_text("hello\n")
    assert cli.main([command[0], "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for name in PROFILES:
        assert name in help_text
    assert cli.main([*command, "--profile", "no-such-profile"]) == 2
    assert "unknown profile 'no-such-profile'" in capsys.readouterr().err


def test_every_bad_prompts_line_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three bad lines: one error naming all three, so one edit fixes the file."""
    lines = ['{"prompt": "fine"}', "{oops", '["a list"]', '{"prompt": "x", "role": "poet"}']
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(nv.PromptsFileError) as caught:
        nv.read_prompts(tmp_path / "p.jsonl")
    message = str(caught.value)
    assert "has 3 bad lines" in message
    for number in (2, 3, 4):
        assert f"line {number}:" in message
    assert cli.main(["compare", "p.jsonl", "--out", "o", "--sim"]) == 2
    err = capsys.readouterr().err
    assert "line 2:" in err
    assert "line 4:" in err
    assert len(err.strip().splitlines()) == 1


def test_check_on_a_standalone_simulator_says_so(
    sim_env: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` pointed at `nvgw-nb sim`'s exports says simulator, never "real endpoints"."""
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert "real endpoints" not in out.splitlines()[0]
    assert "a simulator such as `nvgw-nb sim`" in out
    assert "these answers came from the nvgw_nb SIMULATOR" in out
