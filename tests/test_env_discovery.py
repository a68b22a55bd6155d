""".env discovery, NVGW_ENV_FILE, "did you mean", and the unchanged .env.example.

Every tree is built under tmp_path with its own `.git` (or HOME) boundary, so no test can
read the developer's ~/.env or the repository's own .env.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import nvgw_nb as nv
from nvgw_nb import cli
from nvgw_nb.env_files import display_path, near_misses
from nvgw_nb.sim import Simulator

_REPO_ROOT = Path(__file__).resolve().parents[1]
_CANARY = "canary-gateway-secret-7d1e"


def _repo(tmp_path: Path, dotenv: str | None = None) -> Path:
    """A repository (a `.git` directory) with a `notebooks/` subdirectory; returns it."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    if dotenv is not None:
        (repo / ".env").write_text(dotenv)
    return repo


def _gateway_only(sim: Simulator) -> str:
    """A `.env` with the gateway's variables alone (no NIM key), pointed at `sim`."""
    env = sim.env()
    names = ("STARFLEET_ID", "STARFLEET_SECRET", "STARFLEET_TOKEN_URL", "LLM_GATEWAY_BASE_URL")
    return "".join(f"{name}={env[name]}\n" for name in names)


# --- where the .env is found ------------------------------------------------------------
def test_connect_from_notebooks_finds_the_repository_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From notebooks/, connect() reads the repository root's .env and its banner says so."""
    repo = _repo(tmp_path, "NVIDIA_NIM_API_KEY=placeholder-key\nNVIDIA_LLM_GATEWAY_ENABLED=false\n")
    monkeypatch.chdir(repo / "notebooks")
    with nv.connect() as session:
        assert not session.simulated
        assert session.settings.env_file == repo / ".env"
    err = capsys.readouterr().err
    assert "real endpoints" in err
    assert str(repo / ".env") in err
    assert "placeholder-key" not in err


def test_the_nearest_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .env in the working directory beats the repository root's."""
    repo = _repo(tmp_path, "LLM_GATEWAY_MODEL=from-root\n")
    (repo / "notebooks" / ".env").write_text("LLM_GATEWAY_MODEL=from-notebooks\n")
    monkeypatch.chdir(repo / "notebooks")
    assert nv.Settings.load().llm_gateway_model == "from-notebooks"


@pytest.mark.parametrize("boundary", ["repository", "home"])
def test_the_search_stops_at_the_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boundary: str
) -> None:
    """A .env above the repository root, or above home, is never read."""
    (tmp_path / ".env").write_text("LLM_GATEWAY_MODEL=from-above\n")
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    if boundary == "repository":
        (top / ".git").mkdir()
    else:
        monkeypatch.setenv("HOME", str(top))
    (top / ".env").write_text("LLM_GATEWAY_MODEL=from-top\n")
    monkeypatch.chdir(top / "a" / "b")
    assert nv.Settings.load().llm_gateway_model == "from-top"
    (top / ".env").unlink()
    assert nv.Settings.load().llm_gateway_model == "gpt-4o-mini"


def test_outside_a_repository_and_home_only_the_working_directory_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no .git and no home above, a parent's .env is not read."""
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    (tmp_path / ".env").write_text("LLM_GATEWAY_MODEL=from-parent\n")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    settings = nv.Settings.load()
    assert settings.env_file is None
    assert settings.llm_gateway_model == "gpt-4o-mini"


def test_nvgw_env_file_points_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NVGW_ENV_FILE names the settings file, whatever the working directory holds."""
    (tmp_path / ".env").write_text("LLM_GATEWAY_MODEL=from-cwd\n")
    other = tmp_path / "secrets" / "nvgw.env"
    other.parent.mkdir()
    other.write_text("LLM_GATEWAY_MODEL=from-named\n")
    monkeypatch.setenv("NVGW_ENV_FILE", str(other))
    settings = nv.Settings.load()
    assert settings.llm_gateway_model == "from-named"
    assert settings.env_file == other


def test_a_missing_nvgw_env_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NVGW_ENV_FILE naming no file is a ConfigError naming the variable and the path."""
    monkeypatch.setenv("NVGW_ENV_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(nv.ConfigError, match=r"NVGW_ENV_FILE names .*nope\.env, which is not"):
        nv.connect()


def test_paths_under_home_are_shown_with_a_tilde(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path under the home directory is shown as ~/…; others as they are."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert display_path(tmp_path / "home" / "proj" / ".env") == "~/proj/.env"
    assert display_path(tmp_path / "other" / ".env") == str(tmp_path / "other" / ".env")


# --- connect(): any real provider means real endpoints --------------------------------------
def test_gateway_only_env_gets_a_real_session_with_the_gateway_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Starfleet credentials and no NIM key: real endpoints, the gateway first, NIM left out."""
    with Simulator(seed=0, time_scale=0) as sim:
        secret = sim.env()["STARFLEET_SECRET"]
        repo = _repo(tmp_path, _gateway_only(sim))
        monkeypatch.chdir(repo / "notebooks")
        with nv.connect() as session:
            assert not session.simulated
            assert session.provider_order == ("nvidia-gateway",)
            assert session.chat("hello").served_by == "nvidia-gateway"
    err = capsys.readouterr().err
    assert "nvidia-nim is left out: NVIDIA_NIM_API_KEY not set" in err
    assert secret not in err


@pytest.mark.parametrize(
    ("dotenv", "order"),
    [
        ("NVIDIA_NIM_API_KEY=k\n", ("nvidia-nim",)),
        ("STARFLEET_ID=i\nSTARFLEET_SECRET=s\n", ("nvidia-gateway",)),
        (
            "NVIDIA_NIM_API_KEY=k\nSTARFLEET_ID=i\nSTARFLEET_SECRET=s\n",
            ("nvidia-nim", "nvidia-gateway"),
        ),
    ],
)
def test_the_providers_with_credentials_make_the_order(
    tmp_path: Path, dotenv: str, order: tuple[str, ...]
) -> None:
    """NIM alone, the gateway alone or both: a real Session of those (built without requests)."""
    (tmp_path / ".env").write_text(dotenv)
    with nv.connect(quiet=True) as session:
        assert not session.simulated
        assert session.provider_order == order


def test_half_configured_provider_is_named_not_dropped(tmp_path: Path) -> None:
    """A Starfleet id without its secret is an error naming the secret, not a silent drop."""
    (tmp_path / ".env").write_text("NVIDIA_NIM_API_KEY=k\nSTARFLEET_ID=i\n")
    with pytest.raises(nv.MissingCredentials, match="STARFLEET_SECRET is not set"):
        nv.connect()


def test_connect_honours_the_configured_order(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """NVGW_PROVIDER_ORDER in .env is the order connect() uses."""
    env = sim.env()
    lines = [f"{k}={env[k]}" for k in env if not k.startswith(("OPENAI", "ANTHROPIC", "GOOGLE"))]
    lines.append("NVGW_PROVIDER_ORDER=nvidia-gateway,nvidia-nim")
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    with nv.connect(quiet=True) as session:
        assert not session.simulated
        assert session.provider_order == ("nvidia-gateway", "nvidia-nim")


def test_cli_chat_agrees_with_connect(
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`nvgw-nb chat` with a gateway-only .env is served by the gateway, like connect()."""
    repo = _repo(tmp_path, _gateway_only(sim))
    monkeypatch.chdir(repo / "notebooks")
    assert cli.main(["chat", "hello"]) == 0
    assert "served by nvidia-gateway" in capsys.readouterr().err


# --- did you mean --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("NVIDIA_NIM_APIKEY", "NVIDIA_NIM_API_KEY"),
        ("NVIDIA_API_KEY", "NVIDIA_NIM_API_KEY"),
        ("STARFLEET_CLIENT_SECRET", "STARFLEET_SECRET"),
        ("NVGW_MAX_RETRY", "NVGW_MAX_RETRIES"),
        ("nvgw_provider_ordr", "NVGW_PROVIDER_ORDER"),
    ],
)
def test_near_misses_are_found(typed: str, meant: str) -> None:
    """A misspelt variable of ours maps to the one it was meant to be."""
    assert near_misses([typed], [meant, "NVGW_CACHE"]) == {typed.upper(): meant}
    settings = nv.Settings.load(env={typed: "x"}, env_file=None)
    assert settings.near_misses == {typed.upper(): meant}


@pytest.mark.parametrize(
    "name", ["NVIDIA_VISIBLE_DEVICES", "OPENAI_API_BASE", "GOOGLE_CLOUD_PROJECT", "HOME", "PATH"]
)
def test_other_variables_draw_no_suggestion(name: str) -> None:
    """Other tools' variables and unprefixed ones are left alone."""
    assert nv.Settings.load(env={name: "x"}, env_file=None).near_misses == {}


def test_missing_key_error_names_the_near_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo'd key in .env: `chat` says "is not set" and names the typo, never its value."""
    (tmp_path / ".env").write_text(
        f"NVIDIA_NIM_APIKEY={_CANARY}\nNVIDIA_LLM_GATEWAY_ENABLED=false\n"
        "NVGW_PROVIDER_ORDER=nvidia-nim\n"
    )
    assert cli.main(["chat", "hello"]) == 1
    err = capsys.readouterr().err
    assert "NVIDIA_NIM_API_KEY is not set" in err
    assert "NVIDIA_NIM_APIKEY is set; did you mean NVIDIA_NIM_API_KEY?" in err
    assert _CANARY not in err


def test_check_names_the_near_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`check` names the typo beside the missing variable, and the file it read."""
    (tmp_path / ".env").write_text(f"NVIDIA_NIM_APIKEY={_CANARY}\n")
    assert cli.main(["check"]) == 1
    out, err = capsys.readouterr()
    assert f"settings from the environment and {tmp_path / '.env'}" in out
    assert "NVIDIA_NIM_API_KEY: is not set (NVIDIA_NIM_APIKEY is set; did you mean" in out
    assert out.count("NVIDIA_NIM_APIKEY") == 1, "said once, on the [FAIL] line"
    assert _CANARY not in out + err


def test_simulator_banner_names_the_near_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No credentials but a typo: the simulator's banner says what was probably meant."""
    (tmp_path / ".env").write_text(f"NVIDIA_NIM_APIKEY={_CANARY}\n")
    with nv.connect(time_scale=0) as session:
        assert session.simulated
    err = capsys.readouterr().err
    assert "did you mean NVIDIA_NIM_API_KEY?" in err
    assert _CANARY not in err


# --- the unchanged example ------------------------------------------------------------------
def test_unchanged_env_example_gives_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """.env.example copied as .env: one short message naming the file, said once."""
    shutil.copy(_REPO_ROOT / ".env.example", tmp_path / ".env")
    with pytest.raises(nv.ConfigError) as caught:
        nv.connect()
    message = str(caught.value)
    assert message.count("placeholder") == 1
    assert str(tmp_path / ".env") in message
    assert "NVIDIA_NIM_API_KEY, STARFLEET_ID and STARFLEET_SECRET" in message
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(f"settings from the environment and {tmp_path / '.env'}")
    failed = [line for line in out.splitlines() if "[FAIL]" in line]
    assert len(failed) == 1
    assert len(failed[0].replace(str(tmp_path / ".env"), "~/.env")) < 200
