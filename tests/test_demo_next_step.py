"""After `make demo` (which does not activate the venv), the demo says how to type nvgw-nb."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nvgw_nb import demo


def test_off_path_the_venv_script_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """nvgw-nb not on PATH: the command is this environment's script, relative to here."""
    monkeypatch.setenv("PATH", "/nonexistent")
    script = Path(sys.executable).parent / "nvgw-nb"
    if not script.exists():
        pytest.skip("this environment has no nvgw-nb script")
    monkeypatch.chdir(script.parents[2])
    assert demo._nvgw_nb_command() == str(script.relative_to(script.parents[2]))


def test_on_path_the_bare_command_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """The venv's bin on PATH (activated): plain `nvgw-nb`."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    if not (Path(sys.executable).parent / "nvgw-nb").exists():
        pytest.skip("this environment has no nvgw-nb script")
    assert demo._nvgw_nb_command() == "nvgw-nb"
