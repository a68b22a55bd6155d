"""The notebooks as committed: parameters first, run top to bottom, clean stored outputs.

nbval (see pyproject.toml) re-runs them and compares outputs; these tests check what it
cannot: how they were saved.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: what the repository's hook refuses in stored outputs, plus key-shaped strings
_FORBIDDEN = re.compile(
    r"Traceback \(most recent|/root/|/home/|site-packages|"
    r"(nvapi-|sk-|AIza)(?![A-Za-z_-]*YOUR)[A-Za-z0-9_-]{16,}|(Bearer|Basic) [A-Za-z0-9+/=._-]{12,}"
)
#: rendered plots: base64 of a PNG is random letters, not text, so "AIza" and 16 more
#: letters turn up in one by chance (a plot of measured latencies changes on every run)
_IMAGES = ("image/png", "image/jpeg")


def _code_cells(path: Path) -> list[dict[str, Any]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_there_are_notebooks() -> None:
    """notebooks/ holds at least the onboarding notebook."""
    assert "01_onboarding.ipynb" in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_defaults_to_the_simulator(path: Path) -> None:
    """The first code cell is tagged `parameters` and picks the simulator with a seed."""
    first = _code_cells(path)[0]
    assert "parameters" in first["metadata"].get("tags", [])
    source = "".join(first["source"])
    assert re.search(r"^USE_SIMULATOR = True\b", source, re.MULTILINE)
    assert re.search(r"^SEED = \d+", source, re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_after_a_full_run(path: Path) -> None:
    """Every code cell ran, once, top to bottom, so the stored outputs are what nbval checks."""
    counts = [cell["execution_count"] for cell in _code_cells(path)]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_clean(path: Path) -> None:
    """No error output, traceback, machine path or secret-shaped string in stored outputs
    (text of every kind; the base64 of rendered plots is not text)."""
    for number, cell in enumerate(_code_cells(path), start=1):
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"code cell {number}"
            data = {k: v for k, v in output.get("data", {}).items() if k not in _IMAGES}
            text = json.dumps({**output, "data": data}, ensure_ascii=False)
            match = _FORBIDDEN.search(text)
            assert match is None, f"code cell {number}: {match.group(0) if match else ''}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_links_the_notebook(path: Path) -> None:
    """The README's Notebooks section links each notebook."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Notebooks", 1)[1].split("\n## ", 1)[0]
    assert f"(notebooks/{path.name})" in section
