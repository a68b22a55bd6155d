"""`nvgw-nb cache stats|clear`, run in-process on a cache the simulator filled."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from nvgw_nb import cli
from nvgw_nb.cache import ResponseCache
from nvgw_nb.sim import Simulator


@pytest.fixture
def filled(sim: Simulator, tmp_path: Path) -> Path:
    """A cache holding three answers: two from NIM, one from the gateway (not at the
    default path, so the tests of the default see a difference)."""
    path = tmp_path / "recorded.sqlite"
    with sim.session(cache=path) as session:
        session.chat("first")
        session.chat("second")
        session.chat("first")  # a hit
        session.chat("third", providers=["nvidia-gateway"])
    return path


def test_stats_prints_entries_hits_and_models(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Entries, hits, size, the time span and a row per provider and model."""
    assert cli.main(["cache", "stats", "--path", str(filled)]) == 0
    out = capsys.readouterr().out
    assert f"{filled}: 3 entries, 1 hit," in out
    assert "on disk" in out
    assert "stored from " in out
    assert "nvidia-nim" in out
    assert "nvidia-gateway" in out
    assert "gpt-4o-mini" in out


def test_stats_json(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cache", "stats", "--path", str(filled), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["entries"], data["hits"]) == (3, 1)
    assert {row["provider"]: row["entries"] for row in data["by_model"]} == {
        "nvidia-gateway": 1,
        "nvidia-nim": 2,
    }


def test_the_path_defaults_to_nvgw_cache(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --path: NVGW_CACHE (environment or ./.env)."""
    monkeypatch.setenv("NVGW_CACHE", str(filled))
    assert cli.main(["cache", "stats"]) == 0
    assert "3 entries" in capsys.readouterr().out
    monkeypatch.delenv("NVGW_CACHE")
    Path(".env").write_text(f"NVGW_CACHE={filled}\n")
    assert cli.main(["cache", "stats"]) == 0
    assert "3 entries" in capsys.readouterr().out


def test_the_path_defaults_to_responses_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --path or NVGW_CACHE: ./responses.sqlite — and no file is created."""
    assert cli.main(["cache", "stats"]) == 2
    err = capsys.readouterr().err
    assert "no response cache at responses.sqlite" in err
    assert not (tmp_path / "responses.sqlite").exists()


@pytest.mark.parametrize("action", [["stats"], ["clear", "--yes"]])
def test_a_missing_file_is_a_usage_error(
    action: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file: exit 2 with a message naming it; nothing is created."""
    missing = tmp_path / "nope.sqlite"
    assert cli.main(["cache", *action, "--path", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no response cache at {missing}" in err
    assert not missing.exists()


def test_a_file_that_is_not_a_cache_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A foreign file: exit 1, one line saying what it is; the file is untouched."""
    other = tmp_path / "notes.sqlite"
    other.write_text("not a database at all\n" * 20)
    assert cli.main(["cache", "clear", "--yes", "--path", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nvgw-nb: error:")
    assert "not an nvgw_nb response cache" in err
    assert other.read_text() == "not a database at all\n" * 20


def test_clear_with_yes_empties_the_cache(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cache", "clear", "--yes", "--path", str(filled)]) == 0
    assert "deleted 3 cached answers" in capsys.readouterr().out
    with ResponseCache(filled) as cache:
        assert len(cache) == 0


def test_clear_without_yes_refuses_when_it_cannot_ask(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a terminal and no --yes: exit 2, nothing deleted."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["cache", "clear", "--path", str(filled)]) == 2
    assert "add --yes" in capsys.readouterr().err
    with ResponseCache(filled) as cache:
        assert len(cache) == 3


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, 0), ("n\n", 1, 3), ("\n", 1, 3)])
def test_clear_asks_at_a_terminal(
    filled: Path, monkeypatch: pytest.MonkeyPatch, answer: str, code: int, left: int
) -> None:
    """At a terminal it asks; only "y" deletes."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal(answer))
    assert cli.main(["cache", "clear", "--path", str(filled)]) == code
    with ResponseCache(filled) as cache:
        assert len(cache) == left


def test_cache_without_an_action_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["cache"]) == 2
    assert "stats or clear" in capsys.readouterr().err
