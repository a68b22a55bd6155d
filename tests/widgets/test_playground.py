"""The Playground: runs stream into the panel, never block the loop, and Stop cancels."""

from __future__ import annotations

import asyncio
from html import escape

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import Playground


async def run(panel: Playground, prompt: str = "Summarise this diff: rename the parser") -> None:
    """Type a prompt, click Run, wait for the run to end."""
    panel.prompt.value = prompt
    panel.run_button.click()
    await panel.wait()


async def test_run_streams_then_shows_badge_and_trace(session: nv.Session) -> None:
    """The answer arrives chunk by chunk; then served-by badge, status line and trace."""
    panel = Playground(session)
    seen: list[str] = []
    panel.output.observe(lambda change: seen.append(change["new"]), names="value")
    await run(panel)
    (result,) = panel.results
    assert result.served_by == "nvidia-nim"
    streamed = [v for v in seen if "streaming from" in v]
    assert len(streamed) > 2  # one update per chunk, the text growing
    assert len(streamed[-1]) > len(streamed[0])
    html = panel.output.value
    assert 'class="nvgw-badge"' in html
    assert "background:#76b900" in html  # NIM's colour
    assert "no fallback" in html
    assert f"{result.usage.prompt_tokens} + {result.usage.completion_tokens} tokens" in html
    assert f"${result.cost_usd:.6f}" in html
    assert "attempt trace (1 attempt)" in html
    assert ">nvidia-nim</td>" in html
    assert "history (1 run)" in panel.history.value
    assert not panel.run_button.disabled
    assert panel.stop_button.disabled


async def test_run_without_streaming(session: nv.Session) -> None:
    """With Stream off the answer comes from achat, in one piece."""
    panel = Playground(session)
    panel.stream.value = False
    seen: list[str] = []
    panel.output.observe(lambda change: seen.append(change["new"]), names="value")
    await run(panel)
    assert not [v for v in seen if "streaming from" in v]
    assert escape(panel.results[0].content) in panel.output.value


async def test_controls_configure_the_session(session: nv.Session) -> None:
    """Role, provider order, system prompt, temperature and max tokens reach the Session."""
    panel = Playground(session)
    panel.role_picker.dropdown.value = "planner"
    panel.provider_order.rows["nvidia-nim"].enabled.value = False
    panel.system_prompt.value = "Answer in one line."
    panel.temperature.value = 0.25
    panel.max_tokens.value = 300
    assert panel.session is session
    assert session.provider_order == ("nvidia-gateway",)
    assert session.defaults == {
        "role": "planner",
        "temperature": 0.25,
        "max_tokens": 300,
        "system": "Answer in one line.",
    }
    await run(panel)
    assert panel.results[0].served_by == "nvidia-gateway"
    assert panel.results[0].model.startswith("gpt-4o")
    assert "background:#1f5fa8" in panel.output.value  # the gateway's colour


async def test_fallback_is_shown_and_breaker_refreshed(sim: Simulator, session: nv.Session) -> None:
    """NIM failing three times: served by the gateway, 'fell back', breaker cooling down."""
    panel = Playground(session)
    sim.inject("nvidia-nim", "N1", times=3)
    await run(panel)
    html = panel.output.value
    assert "fell back" in html
    assert "background:#1f5fa8" in html
    assert html.count(">nvidia-nim</td>") == 3
    assert "server_error" in html
    assert "cooling down" in panel.provider_order.rows["nvidia-nim"].status.value


async def test_bad_request_is_a_short_red_message(sim: Simulator, session: nv.Session) -> None:
    """X1 (NIM answers 400): a red BadRequest line with the provider's message, no traceback."""
    panel = Playground(session)
    sim.inject("nvidia-nim", "X1")
    await run(panel)
    html = panel.output.value
    assert 'class="nvgw-error"' in html
    assert "color:#c62828" in html
    assert "<b>BadRequest</b>" in html
    assert "logit_bias" in html
    assert "Traceback" not in html
    assert panel.results == []
    assert isinstance(panel.last_error, nv.BadRequest)


async def test_all_providers_failed_lists_each_provider(
    sim: Simulator, session: nv.Session
) -> None:
    """N1×3 on both providers: one red line per provider, attempts in the trace."""
    panel = Playground(session)
    sim.inject("nvidia-nim", "N1", times=3)
    sim.inject("nvidia-gateway", "N1", times=3)
    await run(panel)
    html = panel.output.value
    assert "<b>AllProvidersFailed</b>" in html
    assert "nvidia-nim: nvidia-nim answered HTTP 503" in html
    assert "<br>nvidia-gateway: nvidia-gateway answered HTTP 500" in html
    assert "attempt trace (6 attempts)" in html
    assert "Traceback" not in html


async def test_stream_restart_clears_the_text(sim: Simulator, session: nv.Session) -> None:
    """A stream cut after text (S2) restarts on the gateway: the panel says so, then the
    gateway's answer alone is shown."""
    panel = Playground(session)
    seen: list[str] = []
    panel.output.observe(lambda change: seen.append(change["new"]), names="value")
    sim.inject("nvidia-nim", "S2")
    await run(panel)
    assert any("nvidia-gateway took over: the answer restarted" in v for v in seen)
    (result,) = panel.results
    assert result.served_by == "nvidia-gateway"
    answer = panel.output.value.split('<div class="nvgw-status"', 1)[0]
    assert escape(result.content) in answer


async def test_empty_prompt_asks_for_one(session: nv.Session) -> None:
    """Run with no prompt says what to do and sends nothing."""
    panel = Playground(session)
    await run(panel, prompt="   ")
    assert "Type a prompt first" in panel.output.value
    assert panel.results == []


def test_click_without_a_running_loop_explains(session: nv.Session) -> None:
    """Outside any event loop, Run explains instead of hanging or raising."""
    panel = Playground(session, prompt="hi")
    panel.run_button.click()
    assert "No running event loop" in panel.output.value
    assert panel.task is None


async def test_run_does_not_block_and_stop_cancels(sim: Simulator, session: nv.Session) -> None:
    """While NIM stalls, the loop keeps running other code; Stop cancels the request."""
    panel = Playground(session)
    sim.inject("nvidia-nim", "C2")  # NIM holds the request and never answers
    ticks = 0

    async def counter() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(counter())
    panel.prompt.value = "stall, please"
    panel.run_button.click()
    assert panel.running
    assert panel.run_button.disabled
    assert not panel.stop_button.disabled
    for _ in range(500):  # until the request is in flight on the simulator
        if sim._core._in_flight["nvidia-nim"]:
            break
        await asyncio.sleep(0.01)
    assert sim._core._in_flight["nvidia-nim"] == 1
    before = ticks
    await asyncio.sleep(0.2)
    assert ticks - before > 100  # the loop ran other code while the run waited
    assert panel.running
    panel.stop_button.click()
    await panel.wait()
    counting.cancel()
    assert panel.task is not None
    assert panel.task.cancelled()
    assert "stopped" in panel.output.value
    assert panel.results == []
    assert not panel.run_button.disabled
    for _ in range(500):  # the connection is dropped, so the simulator stops serving it
        if not sim._core._in_flight["nvidia-nim"]:
            break
        await asyncio.sleep(0.01)
    assert sim._core._in_flight["nvidia-nim"] == 0
    await run(panel, "and now?")  # the panel and the Session still work
    assert panel.results[0].content


async def test_second_click_while_running_is_ignored(sim: Simulator, session: nv.Session) -> None:
    """Run while a run is going starts nothing new."""
    panel = Playground(session, prompt="stall")
    sim.inject("nvidia-nim", "C2")
    panel.run_button.click()
    first = panel.task
    panel.run_button.click()
    assert panel.task is first
    panel.stop_button.click()
    await panel.wait()


@pytest.mark.parametrize("stream", [True, False])
async def test_history_keeps_every_result(session: nv.Session, stream: bool) -> None:
    """results holds each run's ChatResult, oldest first."""
    panel = Playground(session)
    panel.stream.value = stream
    await run(panel, "first")
    await run(panel, "second")
    assert len(panel.results) == 2
    assert "history (2 runs)" in panel.history.value
