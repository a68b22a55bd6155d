"""The CompareBoard: runs a comparison without blocking, fills tabs, saves CSV."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import CompareBoard

PROMPTS = "Summarise this diff: rename the parser\nPlan a migration to httpx\n\n"


async def test_run_fills_progress_and_tabs(session: nv.Session) -> None:
    """Two prompts × two providers: the bar reaches 4/4 and every tab has content."""
    board = CompareBoard(session, prompts=PROMPTS)
    assert board.prompt_list() == [
        "Summarise this diff: rename the parser",
        "Plan a migration to httpx",
    ]
    assert board.chosen_providers() == ["nvidia-nim", "nvidia-gateway"]
    board.run_button.click()
    assert board.running
    await board.wait()
    cmp = board.comparison
    assert cmp is not None
    assert len(cmp.rows) == 4
    assert (board.progress.value, board.progress.max) == (4, 4)
    assert board.progress.bar_style == "success"
    assert "4 requests, 0 failed" in board.message.value
    assert board.tabs.titles == ("Side by side", "Plots", "Summary")
    assert 'class="nvgw-compare"' in board.side_by_side.value
    assert ">nvidia-nim</th>" in board.side_by_side.value
    assert ">nvidia-gateway</th>" in board.side_by_side.value
    assert len(board.plot_images) >= 5
    assert all(i.value[:8] == b"\x89PNG\r\n\x1a\n" for i in board.plot_images)
    assert board.plots.children == tuple(board.plot_images)
    assert ">median latency s (95% CI)</th>" in board.summary.value
    assert "<b>SIMULATED data</b>" in board.summary.value


async def test_progress_moves_as_requests_finish() -> None:
    """With real latency and concurrency 1, the bar shows counts between 0 and the total."""
    with Simulator(seed=0, time_scale=0.05) as sim, sim.session() as session:
        board = CompareBoard(session, prompts="one\ntwo\nthree")
        board.concurrency.value = 1
        seen: list[int] = []
        board.progress.observe(lambda change: seen.append(change["new"]), names="value")
        board.run_button.click()
        await board.wait()
    assert board.progress.value == 6
    assert [v for v in seen if 0 < v < 6]


async def test_role_and_repeats_are_used(session: nv.Session) -> None:
    """The board's role picker and repeats shape the comparison."""
    board = CompareBoard(session, prompts="hi")
    board.role_picker.dropdown.value = "planner"
    board.repeats.value = 2
    board.providers["nvidia-gateway"].value = False
    board.run_button.click()
    await board.wait()
    cmp = board.comparison
    assert cmp is not None
    assert [(r.provider, r.repeat) for r in cmp.rows] == [("nvidia-nim", 0), ("nvidia-nim", 1)]
    assert {r.model for r in cmp.rows} == {"meta/llama-4-maverick-17b-128e-instruct"}
    assert "Tick two providers" in board.side_by_side.value


async def test_external_providers_cannot_be_ticked(session: nv.Session) -> None:
    """Without NVGW_ALLOW_EXTERNAL, external providers are disabled with the reason."""
    board = CompareBoard(session)
    assert board.providers["openai"].disabled
    assert "NVGW_ALLOW_EXTERNAL" in board.providers["openai"].tooltip
    board.providers["openai"].value = True
    assert "openai" not in board.chosen_providers()


async def test_no_prompts_is_a_short_red_message(session: nv.Session) -> None:
    """Run without prompts says what to do; nothing is sent."""
    board = CompareBoard(session)
    board.run_button.click()
    await board.wait()
    assert "Type at least one prompt" in board.message.value
    assert 'class="nvgw-error"' in board.message.value
    assert board.comparison is None


async def test_save_csv_writes_and_says_where(session: nv.Session, tmp_path: Path) -> None:
    """Save CSV writes comparison.to_csv to the path in the box and names it."""
    board = CompareBoard(session, prompts="hi")
    board.save_button.click()
    assert "Run a comparison first" in board.saved.value
    board.run_button.click()
    await board.wait()
    board.csv_path.value = "out/cmp.csv"
    (tmp_path / "out").mkdir()
    board.save_button.click()
    target = (tmp_path / "out" / "cmp.csv").resolve()
    assert f"saved 2 rows to {target}" in board.saved.value
    with target.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 2


async def test_save_csv_failure_is_a_message(session: nv.Session) -> None:
    """An unwritable path is reported in the panel, not raised."""
    board = CompareBoard(session, prompts="hi")
    board.run_button.click()
    await board.wait()
    board.csv_path.value = "no/such/dir/cmp.csv"
    board.save_button.click()
    assert "could not write" in board.saved.value


async def test_stop_cancels_the_comparison(sim: Simulator, session: nv.Session) -> None:
    """Stop while NIM stalls: the run ends cancelled, the panel says how far it got."""
    board = CompareBoard(session, prompts="hi")
    sim.inject("nvidia-nim", "C2")
    board.run_button.click()
    for _ in range(500):
        if sim._core._in_flight["nvidia-nim"]:
            break
        await asyncio.sleep(0.01)
    board.stop_button.click()
    await board.wait()
    assert board.task is not None
    assert board.task.cancelled()
    assert "stopped after" in board.message.value
    assert board.comparison is None
    assert not board.run_button.disabled
