"""Notebook 03 in JupyterLab, in headless Chromium: the CompareBoard run from its form.

Only the cells the board needs are run (parameters, connect, the prompts, the board):
the notebook's full 216-request comparison is nbval's to check, not the browser's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab import LabServer, Notebook, expect, open_notebook

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/03_nim_vs_gateway.ipynb"
#: the cells the board needs, by a line of their source, in order
CELLS = (
    "USE_SIMULATOR = True",
    "from nvgw_nb.retry import RetryPolicy",
    "prompts = read_prompts(PROMPTS_FILE)",
    "board = session.compare_board(",
)


@pytest.fixture(scope="module")
def notebook(lab: LabServer, browser: BrowserContext) -> Iterator[Notebook]:
    yield from open_notebook(lab, browser, NOTEBOOK)


def test_compare_board_runs_and_shows_tabs_and_plots(notebook: Notebook, artifacts: Path) -> None:
    """Pick the planner role and 2 repeats in the form, press Run: the progress bar
    fills, the message counts the requests, and the three tabs hold the answers side by
    side, the plots (a PNG image) and the summary table."""
    notebook.clear_outputs()
    for source in CELLS:
        notebook.run(source)
    cell = notebook.code_cell(CELLS[-1])
    board = cell.locator(".jp-OutputArea-output")
    run = board.get_by_role("button", name="Run")
    expect(run).to_be_enabled()
    tabs = board.locator(".lm-TabBar-tab")
    expect(tabs).to_have_text(["Side by side", "Plots", "Summary"])
    expect(board.locator("textarea")).to_have_value(re.compile(r"^[^\n]+\n[^\n]+\n[^\n]+$"))

    role = board.locator("select")
    options = role.locator("option").all_text_contents()
    (planner,) = [o for o in options if o.strip().startswith("planner:")] or [options]
    role.select_option(label=planner)
    repeats = board.locator(".widget-inline-hbox", has_text="Repeats").locator("input")
    repeats.fill("2")
    repeats.press("Tab")  # the box sends its value when it loses focus
    expect(board.locator(".nvgw-plan")).to_contain_text("gpt-4o")

    notebook.scroll_to(cell)
    run.click()
    # 3 prompts × 2 providers × 2 repeats
    expect(board.locator(".widget-hprogress")).to_contain_text("12 / 12", timeout=60_000)
    expect(board.get_by_text(re.compile(r"^12 requests, \d+ failed — SIMULATED$"))).to_be_visible()
    expect(run).to_be_enabled()

    side = board.locator(".widget-tab-contents .widget-html").first
    expect(tabs.first).to_have_class(re.compile("lm-mod-current"))
    expect(side.locator("th", has_text=re.compile("^nvidia-nim$")).first).to_be_visible()
    expect(side.locator("th", has_text=re.compile("^nvidia-gateway$")).first).to_be_visible()
    notebook.screenshot(artifacts / "06-compare-board-side-by-side.png")

    tabs.filter(has_text="Summary").click()
    summary = board.locator("table.nvgw-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("tbody tr")).to_have_count(2)
    expect(summary).to_contain_text("nvidia-nim")
    expect(summary).to_contain_text("nvidia-gateway")
    expect(board.get_by_text("SIMULATED data").first).to_be_visible()

    tabs.filter(has_text="Plots").click()
    images = board.locator(".widget-tab-contents img")
    expect(images.first).to_be_visible()
    shown = images.evaluate_all(
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(shown) >= 5  # one image per plot
    for loaded, width, height in shown:
        assert loaded
        assert width > 300
        assert height > 200
    notebook.scroll_to(run.locator("xpath=.."))  # the Repeats / Run row at the top
    notebook.screenshot(artifacts / "07-compare-board-plots.png")
