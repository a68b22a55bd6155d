"""The panels' layout in JupyterLab at laptop and desktop width, file browser open.

One notebook (written here, run once on two simulators) holds a Playground after a
fallback, a CompareBoard after a run, and a comparison's summary. At 1280 and 1920 px
wide, with JupyterLab's file browser open, nothing of the Playground or the
CompareBoard is clipped, every input has a visible label, the rows stay one line, and
the summary's dollar amounts come through Markdown intact. Screenshots go to the
artifacts folder; with UPDATE_DOCS_SCREENSHOTS=1 also to docs/browser-<panel>-<width>.png
(the pictures the docs show; not by default, so a test run leaves the tree unchanged).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .lab import ROOT, LabServer, Notebook, expect

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/layout_check.ipynb"
WIDTHS = (1280, 1920)
HEIGHT = 1000
PLAYGROUND = "playground = Playground(play_session)"
BOARD = "board = CompareBoard(board_session"
SUMMARY = "summary = summary_cmp.summary()"
MARKDOWN = "Markdown(summary.to_markdown())"
MATRIX = "matrix = experiment.run(progress=False).matrix()"
CELLS = (
    "from nvgw_nb.sim import Simulator\n"
    "import nvgw_nb as nv\n"
    "from nvgw_nb.widgets import CompareBoard, Playground\n"
    "play_sim = Simulator(seed=7, time_scale=0).start()\n"
    "play_session = play_sim.session(retry=nv.RetryPolicy.no_wait())\n"
    "board_sim = Simulator(seed=7, time_scale=0).start()\n"
    "board_session = board_sim.session(retry=nv.RetryPolicy.no_wait())",
    f"{PLAYGROUND}\n"
    'playground.role_picker.dropdown.value = "planner"\n'
    'playground.system_prompt.value = "You review Python changes for a platform team."\n'
    'playground.prompt.value = "Summarise this diff:\\n- rename parse_cfg\\n- keep a shim"\n'
    'play_sim.inject("nvidia-nim", "N1", times=3)  # three 503s: the gateway answers\n'
    "playground.run_button.click()\n"
    "await playground.wait()\n"
    "playground",
    f'{BOARD}, prompts="\\n".join([\n'
    '    "Summarise this diff: rename parse_cfg to load_config, keep a shim.",\n'
    '    "Plan the migration of our HTTP client from requests to httpx.",\n'
    '    "Review: a retry loop that sleeps 1 s between 10 attempts on every error.",\n'
    "]))\n"
    "board.repeats.value = 2\n"
    "board.run_button.click()\n"
    "await board.wait()\n"
    "board",
    "summary_cmp = board_session.compare(\n"
    '    ["Say hello.", "Name a colour."], providers=["nvidia-nim", "nvidia-gateway"],\n'
    "    progress=False,\n"
    ")\n"
    f"{SUMMARY}\n"
    "summary",
    f"from IPython.display import Markdown\n{MARKDOWN}",
    "cases = [\n"
    '    nv.Case("What is 2+2? Answer with the number.", id="sum", reference="4"),\n'
    '    nv.Case("Name the capital of France.", id="capital", reference="Paris"),\n'
    "]\n"
    "experiment = board_session.experiment(\n"
    '    cases, vary={"provider": ["nvidia-nim", "nvidia-gateway"],\n'
    '                 "system": {"plain": "", "terse": "Answer briefly."}},\n'
    "    repeats=1, scorers=[nv.checks.expected()],\n"
    ")\n"
    f"{MATRIX}\n"
    "matrix",
    "board_session.close(); play_session.close(); board_sim.stop(); play_sim.stop()",
)

#: every visible control or label of `root` that sticks out of `root`, out of the window,
#: or out of a box between it and `root` that hides what overflows; and every box that
#: is wider inside than out (scrollWidth > clientWidth: something in it is cut off)
_CLIPPED_JS = """
root => {
  const problems = [];
  const shown = el => {
    const b = el.getBoundingClientRect();
    return el.getClientRects().length > 0 && b.width > 0 && b.height > 0;
  };
  const name = el => (el.tagName.toLowerCase() + '.' + [...el.classList].join('.') + ' "'
    + (el.textContent || el.value || el.placeholder || '').trim().slice(0, 40) + '"');
  const outer = root.getBoundingClientRect();
  const controls = root.querySelectorAll(
    'input, textarea, select, button, .widget-label, .nvgw-badge, .nvgw-label');
  for (const el of controls) {
    if (!shown(el)) continue;
    const b = el.getBoundingClientRect();
    if (b.left < outer.left - 1 || b.right > outer.right + 1)
      problems.push('outside the panel: ' + name(el));
    if (b.right > window.innerWidth)
      problems.push('outside the window: ' + name(el));
    for (let up = el.parentElement; up && up !== root; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === 'visible') continue;
      const box = up.getBoundingClientRect();
      if (b.left < box.left - 1 || b.right > box.right + 1) {
        problems.push('cut off by its box: ' + name(el));
        break;
      }
    }
  }
  for (const el of [root, ...root.querySelectorAll('.jupyter-widgets, .widget-box')]) {
    if (shown(el) && el.scrollWidth > el.clientWidth + 1)
      problems.push(`wider inside (${el.scrollWidth}) than shown (${el.clientWidth}): `
        + name(el));
  }
  return problems;
}
"""


def _notebook() -> dict[str, Any]:
    def cell(source: str) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": source,
        }

    return {
        "cells": [cell(source) for source in CELLS],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def notebook(lab: LabServer, browser: BrowserContext) -> Iterator[Notebook]:
    """The layout notebook, run top to bottom, with the file browser open."""
    path = lab.work / NOTEBOOK
    path.write_text(json.dumps(_notebook()), encoding="utf-8")
    page = browser.new_page()
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    notebook = Notebook(page, lab, NOTEBOOK)
    try:
        page.goto(lab.lab_url(NOTEBOOK))
        expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
        expect(notebook.status_bar()).to_contain_text("Idle", timeout=60_000)
        notebook.menu("Run", "Run All Cells")
        notebook.wait_ran(page.locator(".jp-Notebook .jp-CodeCell").last)
        errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
        expect(errors).to_have_count(0)
        yield notebook
    finally:
        page.close()
        ended = lab.shut_down_notebook(NOTEBOOK)
        assert ended, "the notebook had no kernel"
        assert not {k["id"] for k in lab.kernels()} & set(ended)


def _at_width(notebook: Notebook, width: int) -> None:
    """The window `width` px wide, JupyterLab's file browser open beside the notebook."""
    page = notebook.page
    page.set_viewport_size({"width": width, "height": HEIGHT})
    if not page.locator("#jp-left-stack").is_visible():
        page.keyboard.press("Control+b")
    expect(page.locator("#jp-left-stack")).to_be_visible()
    expect(page.locator(".jp-FileBrowser")).to_be_visible()


def _output(notebook: Notebook, source: str) -> Locator:
    return notebook.code_cell(source).locator(".jp-OutputArea-output").last


def _save(notebook: Notebook, artifacts: Path, name: str) -> None:
    """The window as it is, into the artifacts folder (and docs/ with UPDATE_DOCS_SCREENSHOTS=1)."""
    shot = notebook.screenshot(artifacts / f"{name}.png")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / f"{name}.png")


def _not_clipped(panel: Locator) -> None:
    problems = panel.evaluate(_CLIPPED_JS)
    assert problems == [], "\n".join(problems)


def _heights(locator: Locator) -> list[float]:
    return [box["height"] for box in (e.bounding_box() for e in locator.all()) if box]


@pytest.mark.parametrize("width", WIDTHS)
def test_playground_fits_with_the_file_browser_open(
    notebook: Notebook, artifacts: Path, width: int
) -> None:
    """Nothing of the Playground is clipped; its boxes are labelled; each provider row,
    locked ones too, is one line; no badge wraps; Run and Stop are in view."""
    _at_width(notebook, width)
    panel = _output(notebook, PLAYGROUND)
    notebook.scroll_to(notebook.code_cell(PLAYGROUND))
    expect(panel.locator(".nvgw-status")).to_contain_text("fell back")
    _not_clipped(panel)

    labels = panel.locator(".nvgw-label")
    expect(labels).to_have_text(["System prompt", "Prompt"])
    boxes = panel.locator("textarea")
    for label, box in zip(labels.all(), boxes.all(), strict=True):
        above, under = label.bounding_box(), box.bounding_box()
        assert above
        assert under
        assert above["y"] + above["height"] <= under["y"] + 1  # the label is over its box
    for provider in ("nvidia-nim", "nvidia-gateway"):
        model = panel.locator(".widget-inline-hbox", has_text=provider).filter(
            has=notebook.page.locator("input[list]")  # a Combobox: a text box with choices
        )
        expect(model.locator(".widget-label")).to_be_visible()
        field = model.locator("input").bounding_box()
        assert field
        assert field["width"] >= 180, f"{provider}'s model box is {field}"

    rows = panel.locator(".widget-hbox:has(> .widget-checkbox)").filter(
        has=notebook.page.locator(".nvgw-badge")
    )
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="locked")).to_have_count(3)
    assert max(_heights(rows)) <= 40, _heights(rows)
    assert max(_heights(panel.locator(".nvgw-badge"))) <= 24
    for name in ("Run", "Stop"):
        button = panel.get_by_role("button", name=name)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box
        assert box["x"] + box["width"] <= width

    trace = panel.locator("details.nvgw-trace")
    if trace.get_attribute("open") is None:
        trace.locator("summary").click()
    expect(trace.locator("tbody tr")).to_have_count(4)
    _not_clipped(panel)
    notebook.scroll_to(panel)
    _save(notebook, artifacts, f"browser-playground-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_board_fits_with_the_file_browser_open(
    notebook: Notebook, artifacts: Path, width: int
) -> None:
    """Nothing of the CompareBoard is clipped in any tab; answers are left-aligned and
    keep their line breaks; the summary's cells are padded; the plots are shown at
    (nearly) their own size, so their labels stay readable."""
    _at_width(notebook, width)
    panel = _output(notebook, BOARD)
    tabs = panel.locator(".lm-TabBar-tab")
    expect(panel.get_by_text(re.compile(r"^12 requests, \d+ failed — SIMULATED$"))).to_be_visible()
    expect(panel.locator(".nvgw-label")).to_have_text(["Prompts"])

    tabs.filter(has_text="Side by side").click()
    answers = panel.locator("td.nvgw-answer")
    expect(answers.first).to_be_visible()
    styles = answers.evaluate_all(
        "cells => cells.map(c => [getComputedStyle(c).textAlign, getComputedStyle(c).whiteSpace])"
    )
    assert set(map(tuple, styles)) == {("left", "pre-wrap")}
    _not_clipped(panel)
    notebook.scroll_to(panel.locator(".widget-tab").first)
    notebook.screenshot(artifacts / f"compare-board-side-by-side-{width}.png")

    tabs.filter(has_text="Summary").click()
    cells = panel.locator("table.nvgw-summary td, table.nvgw-summary th")
    expect(cells.first).to_be_visible()
    padding = cells.evaluate_all(
        "cells => cells.map(c => parseFloat(getComputedStyle(c).paddingLeft))"
    )
    assert min(padding) >= 6, padding
    _not_clipped(panel)
    notebook.scroll_to(panel.locator(".widget-tab").first)
    notebook.screenshot(artifacts / f"compare-board-summary-{width}.png")

    tabs.filter(has_text="Plots").click()
    images = panel.locator(".widget-tab-contents img")
    expect(images.first).to_be_visible()
    sizes = images.evaluate_all(
        "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])"
    )
    assert len(sizes) >= 5
    for loaded, natural, shown in sizes:
        assert loaded
        assert shown / natural >= 0.8, f"a plot {natural} px wide is shown at {shown} px"
    _not_clipped(panel)
    if width >= 1920:  # room for two plots a row
        tops = images.evaluate_all("imgs => imgs.map(i => i.getBoundingClientRect().top)")
        assert tops[0] == tops[1], tops
    notebook.scroll_to(panel)
    expect(panel.get_by_role("button", name="Run")).to_be_visible()
    _save(notebook, artifacts, f"browser-compare-board-{width}")


def test_summary_shows_both_providers_and_dollar_amounts(
    notebook: Notebook, artifacts: Path
) -> None:
    """A comparison's summary, displayed as Markdown (the Summary itself and as notebook 03
    shows it): both provider rows, and the dollar amounts as text — not typeset as math."""
    _at_width(notebook, WIDTHS[0])
    for source in (SUMMARY, MARKDOWN):
        output = _output(notebook, source)
        notebook.scroll_to(notebook.code_cell(source))
        expect(output.locator("table")).to_be_visible()
        rows = output.locator("table tbody tr")
        expect(rows.locator("td").first).to_have_text("nvidia-nim")
        expect(rows.filter(has_text="nvidia-gateway")).to_have_count(1)
        expect(output.locator(".katex, .MathJax, mjx-container, .jp-MathJax")).to_have_count(0)
        text = output.inner_text()
        assert "$0.0" in text, text
        assert re.search(r"\$\d+\.\d+.*\$\d+\.\d+", text, re.S), text
    _save(notebook, artifacts, "browser-summary-markdown-1280")


@pytest.mark.parametrize("width", WIDTHS)
def test_experiment_matrix_fits_and_its_grid_scrolls(
    notebook: Notebook, artifacts: Path, width: int
) -> None:
    """The matrix of a 4-cell run: its controls fit; the grid of cells is not cut off but
    scrolls sideways inside the panel when the columns do not fit."""
    _at_width(notebook, width)
    panel = _output(notebook, MATRIX)
    notebook.scroll_to(notebook.code_cell(MATRIX))
    expect(panel.locator(".nvgw-answer").first).to_be_visible()
    controls = panel.locator(".widget-hbox").filter(has=notebook.page.locator("select"))
    _not_clipped(controls.first)
    root = panel.locator(".widget-vbox").first
    inside, shown = root.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert inside <= shown + 1, (inside, shown)
    # every box between an answer and the panel that is wider inside than shown scrolls
    cut = panel.locator(".nvgw-answer").evaluate_all(
        """(answers, root) => {
          const cut = new Set();
          for (const answer of answers)
            for (let up = answer.parentElement; up && up !== root; up = up.parentElement)
              if (up.scrollWidth > up.clientWidth + 1
                  && !['auto', 'scroll'].includes(getComputedStyle(up).overflowX))
                cut.add(up.className);
          return [...cut];
        }""",
        panel.element_handle(),
    )
    assert cut == [], cut
    notebook.screenshot(artifacts / f"matrix-{width}.png")
