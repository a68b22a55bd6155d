"""Notebook 02 in JupyterLab, in headless Chromium: the Playground as a person uses it.

The steps share one notebook and its kernel, in order: run the notebook, then type a
prompt and press Run, reorder the providers, stop a stalled request, and watch a NIM
failure fall back to the gateway. Every step asserts on what the page shows and saves
a screenshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab import LabServer, Notebook, expect, open_notebook

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/02_prompt_experiments.ipynb"
PLAYGROUND_CELL = "playground = session.playground()"
PROMPT = "Explain NVCF polling to a new team member."


class Panel:
    """The Playground as it is on the page (the output of its cell)."""

    def __init__(self, notebook: Notebook) -> None:
        self.notebook = notebook
        self.page = notebook.page
        self.cell = notebook.code_cell(PLAYGROUND_CELL)
        self.root = self.cell.locator(".jp-OutputArea-output")
        self.prompt = self.root.locator("textarea[placeholder='Prompt']")
        self.run = self.root.get_by_role("button", name="Run")
        self.stop = self.root.get_by_role("button", name="Stop")
        self.answer = self.root.locator(".nvgw-answer")
        self.status = self.root.locator(".nvgw-status")
        self.badge = self.status.locator(".nvgw-badge")
        # ProviderOrder's rows: an HBox with the enable checkbox and the provider's badge
        self.rows = self.root.locator(".widget-hbox:has(> .widget-checkbox)").filter(
            has=self.page.locator(".nvgw-badge")
        )

    def row(self, provider: str) -> Locator:
        return self.rows.filter(
            has=self.page.locator(".nvgw-badge", has_text=re.compile(f"^{provider}$"))
        )

    def show(self) -> None:
        self.notebook.scroll_to(self.cell)

    def idle(self) -> None:
        """The run has ended: Run is enabled again, Stop is not."""
        expect(self.run).to_be_enabled(timeout=60_000)
        expect(self.stop).to_be_disabled()


@pytest.fixture(scope="module")
def notebook(lab: LabServer, browser: BrowserContext) -> Iterator[Notebook]:
    yield from open_notebook(lab, browser, NOTEBOOK)


@pytest.fixture(scope="module")
def panel(notebook: Notebook) -> Panel:
    return Panel(notebook)


def test_notebook_runs_and_the_playground_renders(
    notebook: Notebook, panel: Panel, artifacts: Path
) -> None:
    """Run every cell above the final `session.close()`: the Playground shows its
    controls, its five providers in order, and the run the notebook made from code."""
    notebook.clear_outputs()
    last = notebook.page.locator(".jp-Notebook .jp-CodeCell").last
    expect(last.locator(".jp-InputArea-editor")).to_have_text("session.close()")
    # Everything but the last cell, which closes the Session (and so the panels' calls):
    # Run → Run All Above Selected Cell.
    notebook.select(last)
    notebook.menu("Run", "Run All Above Selected Cell")
    notebook.wait_ran(notebook.page.locator(".jp-Notebook .jp-CodeCell").nth(-2))
    expect(notebook.page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0)
    expect(last.locator(".jp-InputPrompt")).to_have_text(re.compile(r"^\[ \]:$"))
    errors = notebook.page.locator("[data-mime-type='application/vnd.jupyter.stderr']")
    expect(errors).to_have_count(0)

    panel.show()
    expect(panel.run).to_be_visible()
    expect(panel.run).to_be_enabled()
    expect(panel.stop).to_be_disabled()
    expect(panel.root.get_by_text("Provider order")).to_be_visible()
    expect(panel.rows.locator(".nvgw-badge")).to_have_text(
        ["nvidia-nim", "nvidia-gateway", "openai", "anthropic", "google-genai"]
    )
    expect(panel.row("openai")).to_contain_text("locked")
    expect(panel.root.locator("select")).to_have_value(re.compile("planner"))
    # the run the notebook made from code (cell 8, then a mistyped NIM model)
    expect(panel.status).to_contain_text("served by")
    expect(panel.root.get_by_text("history (2 runs)")).to_be_visible()
    notebook.screenshot(artifacts / "01-playground-rendered.png")


def test_run_streams_the_answer_from_nim(notebook: Notebook, panel: Panel, artifacts: Path) -> None:
    """Type a prompt, press Run: the answer grows chunk by chunk, then NIM's badge."""
    panel.show()
    panel.prompt.fill(PROMPT)
    # Record every state of the panel's output as the page changes it.
    panel.root.evaluate(
        """root => {
            window.nvgwSeen = [];
            new MutationObserver(() => {
                const answer = root.querySelector('.nvgw-answer');
                window.nvgwSeen.push({
                    chars: answer ? answer.textContent.length : 0,
                    streaming: root.textContent.includes('streaming from'),
                });
            }).observe(root, {subtree: true, childList: true, characterData: true});
        }"""
    )
    panel.run.click()
    expect(panel.badge).to_have_text("nvidia-nim", timeout=60_000)
    panel.idle()
    expect(panel.status).to_contain_text("no fallback")
    expect(panel.status).to_contain_text("SIMULATED")
    expect(panel.answer).not_to_be_empty()
    expect(panel.root.get_by_text("history (3 runs)")).to_be_visible()
    seen = notebook.page.evaluate("window.nvgwSeen")
    streamed = sorted({s["chars"] for s in seen if s["streaming"] and s["chars"]})
    # the text arrived in pieces: several lengths while "streaming from …" was shown
    assert len(streamed) >= 3, seen
    final = len(panel.answer.text_content() or "")
    assert streamed[-1] <= final
    notebook.screenshot(artifacts / "02-answer-from-nim.png")


def test_gateway_moved_to_the_top_serves_the_next_run(
    notebook: Notebook, panel: Panel, artifacts: Path
) -> None:
    """▲ on the gateway's row: it is tried first, and the next run is the gateway's."""
    panel.show()
    panel.row("nvidia-gateway").get_by_role("button", name="▲").click()
    expect(panel.rows.locator(".nvgw-badge").first).to_have_text("nvidia-gateway")
    expect(panel.rows.first).to_contain_text("1.")
    expect(panel.root.locator(".nvgw-plan")).to_contain_text("next call: nvidia-gateway")
    panel.run.click()
    expect(panel.badge).to_have_text("nvidia-gateway", timeout=60_000)
    panel.idle()
    expect(panel.status).to_contain_text("no fallback")
    notebook.screenshot(artifacts / "03-gateway-first.png")


def test_stop_cancels_a_stalled_run_and_the_kernel_stays_responsive(
    notebook: Notebook, panel: Panel, artifacts: Path
) -> None:
    """NIM first again, NIM stalls (C2): the kernel runs other cells meanwhile; Stop
    ends the run, the panel says so, and the kernel answers the next cell."""
    panel.show()
    panel.row("nvidia-gateway").get_by_role("button", name="▼").click()
    expect(panel.rows.locator(".nvgw-badge").first).to_have_text("nvidia-nim")
    inject = notebook.add_cell_below(
        panel.cell, 'sim.inject("nvidia-nim", "C2")  # NIM holds the next request, unanswered'
    )
    panel.show()
    panel.run.click()
    expect(panel.stop).to_be_enabled()
    expect(panel.root.get_by_text("running…")).to_be_visible()
    expect(panel.root.get_by_text("waiting for the first provider…")).to_be_visible()
    meanwhile = notebook.add_cell_below(
        inject, 'print("the kernel answers while the Playground waits:", 6 * 7)'
    )
    expect(meanwhile.locator(".jp-OutputArea-output")).to_have_text(
        "the kernel answers while the Playground waits: 42"
    )
    panel.show()
    expect(panel.stop).to_be_enabled()  # still waiting for NIM
    panel.stop.click()
    expect(panel.root.get_by_text("stopped — the request was cancelled")).to_be_visible()
    expect(panel.root.locator(".nvgw-note", has_text=re.compile("^stopped$"))).to_be_visible()
    panel.idle()
    notebook.screenshot(artifacts / "04-stopped.png")
    after = notebook.add_cell_below(
        meanwhile,
        'print("after Stop:", len(playground.results), "answers, running:", playground.running)',
    )
    expect(after.locator(".jp-OutputArea-output")).to_have_text(
        "after Stop: 4 answers, running: False"
    )


def test_nim_failure_falls_back_and_the_trace_shows_why(
    notebook: Notebook, panel: Panel, artifacts: Path
) -> None:
    """Three NIM 503s injected from a cell: the gateway answers, the status line says
    "fell back", and the attempt trace lists NIM's failures, then the gateway."""
    anchor = notebook.code_cell("after Stop:")
    notebook.add_cell_below(anchor, 'sim.inject("nvidia-nim", "N1", times=3)  # three 503s')
    panel.show()
    panel.run.click()
    expect(panel.badge).to_have_text("nvidia-gateway", timeout=60_000)
    panel.idle()
    expect(panel.status).to_contain_text("fell back")
    trace = panel.root.locator("details.nvgw-trace")
    trace.locator("summary").click()
    expect(trace.locator("summary")).to_have_text("attempt trace (4 attempts)")
    rows = trace.locator("tbody tr")
    expect(rows).to_have_count(4)
    for index in range(3):
        expect(rows.nth(index).locator("td").first).to_have_text("nvidia-nim")
        expect(rows.nth(index)).to_contain_text("503")
        expect(rows.nth(index)).to_contain_text("server_error")
    expect(rows.nth(3).locator("td").first).to_have_text("nvidia-gateway")
    expect(rows.nth(3)).to_contain_text("ok")
    # three failures in a row: NIM's circuit breaker cools down, and its row says so
    expect(panel.row("nvidia-nim")).to_contain_text("cooling down")
    panel.show()
    notebook.screenshot(artifacts / "05-fallback-trace.png")
