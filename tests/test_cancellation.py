"""Cancellation (FAULTS.md K1): Ctrl-C, `task.cancel()` and Stop leave nothing running.

After each: the request is gone at the simulator (its in-flight count falls to zero), no
task is left on the Session's loop, finished results are kept, and the Session still
answers. Ctrl-C is delivered for real: SIGINT to a child process that is mid-call.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator
from nvgw_nb.widgets import Playground

#: an answer of 6000 numbers (~6000 tokens): at time_scale=1 it streams for tens of
#: seconds, so a stream is still going when it is cancelled, and a response left open
#: would still be in flight long after the 5 s the tests wait for it to go
LONG_ANSWER = {
    "type": "object",
    "properties": {
        "n": {"type": "array", "items": {"type": "integer"}, "minItems": 6000, "maxItems": 6000}
    },
    "required": ["n"],
}
#: how long the simulator may take to notice that a cancelled client has gone
SETTLE_S = 5.0
NO_REQUESTS = {
    p: 0
    for p in ("anthropic", "google-genai", "nvidia-gateway", "nvidia-nim", "openai", "starfleet")
}


async def until(condition: Callable[[], bool], limit: float = SETTLE_S) -> bool:
    """Poll `condition` every 10 ms for up to `limit` seconds; whether it came true."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def in_flight_after_settling(sim: Simulator) -> dict[str, int]:
    """The simulator's in-flight counts once they reach zero (or SETTLE_S has passed)."""
    await until(lambda: not any(sim.stats()["in_flight"].values()))
    counts: dict[str, int] = sim.stats()["in_flight"]
    return counts


async def _running_tasks() -> list[str]:
    current = asyncio.current_task()
    return [
        repr(task.get_coro())
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        # The loop's finalizer closing an async generator that was dropped unclosed
        # (httpx's and httpx-sse's inner ones, their response already closed): cleanup,
        # not a request. That no request runs is checked at the simulator.
        and type(task.get_coro()).__name__ != "async_generator_athrow"
    ]


def running_tasks(session: nv.Session) -> list[str]:
    """Tasks still running on the Session's private loop (besides the one asking)."""
    return session._portal.run(_running_tasks())


# --- Ctrl-C: a real SIGINT to a child process in the middle of a sync call ----------------

CHILD = """
import asyncio, json, signal, sys, threading, time
import nvgw_nb as nv
from nvgw_nb.portal import LoopThread
from nvgw_nb.sim import Simulator

# A child of a background job may inherit SIGINT ignored: take Ctrl-C back.
signal.signal(signal.SIGINT, signal.default_int_handler)
mode, long_answer = sys.argv[1], json.loads(sys.argv[2])


def until(condition, limit=5.0):
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def waiting_in_run():
    # True while the main thread is inside LoopThread.run, waiting for the Session's loop.
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None and frame.f_code is not LoopThread.run.__code__:
        frame = frame.f_back
    return frame is not None


def announce_when(condition):
    # Once `condition` holds and the main thread waits for the call, say so: the parent
    # then sends SIGINT.
    def watch():
        if until(lambda: condition() and waiting_in_run(), 20.0):
            print("in flight", flush=True)
    threading.Thread(target=watch, daemon=True).start()


async def running_tasks():
    # as in the test module: other tasks, less generator finalizers
    current = asyncio.current_task()
    return [
        repr(task.get_coro())
        for task in asyncio.all_tasks()
        if task is not current
        and not task.done()
        and type(task.get_coro()).__name__ != "async_generator_athrow"
    ]


with Simulator(seed=0, time_scale=1 if mode.startswith("stream") else 0) as sim, sim.session(
    retry=nv.RetryPolicy.no_wait(), read_timeout_s=30
) as session:
    nim = lambda: sim.stats()["in_flight"]["nvidia-nim"]
    facts = {"kept": None}
    try:
        if mode == "chat":
            sim.inject("nvidia-nim", "C2")  # NIM never answers
            announce_when(lambda: nim() == 1)
            session.chat("stall, please", providers=["nvidia-nim"])
        elif mode == "batch":
            sim.inject("nvidia-nim", "C2")  # the first request to arrive never answers
            announce_when(lambda: len(session.last_batch) == 4 and nim() == 1)
            session.batch(
                [f"prompt {i}" for i in range(5)],
                concurrency=5,
                progress=False,
                providers=["nvidia-nim"],
            )
        else:
            buffered = mode == "stream-buffered"
            stream = session.stream(
                "count", providers=["nvidia-nim"], response_format=long_answer
            )
            for chunk in stream:
                if buffered and len(stream.chunks) == 3:
                    # Hold the Session's loop while chunks pile up in the socket: they are
                    # then read in one go, and the next ones sit buffered in the stream.
                    session._portal.loop.call_soon_threadsafe(time.sleep, 0.3)
                if len(stream.chunks) == (5 if buffered else 3):
                    # Hold it again, so Ctrl-C lands while the main thread waits for the
                    # next read to start there (in buffered mode, that read is then served
                    # from the buffer rather than cancelled).
                    session._portal.loop.call_soon_threadsafe(time.sleep, 1.0)
                    announce_when(lambda: True)
    except KeyboardInterrupt:
        facts["raised"] = "KeyboardInterrupt"
    else:
        facts["raised"] = None
    facts["running_tasks"] = session._portal.run(running_tasks())
    until(lambda: not any(sim.stats()["in_flight"].values()))
    facts["in_flight"] = sim.stats()["in_flight"]
    if mode == "batch":
        facts["kept"] = [[item.index, item.ok] for item in session.last_batch]
    elif mode != "chat":
        facts["kept"] = [chunk.text for chunk in stream.chunks]
    facts["then"] = session.chat("and now?").served_by
print(json.dumps(facts), flush=True)
"""


def interrupt_child(mode: str) -> dict[str, Any]:
    """Run CHILD in `mode`, send SIGINT once it says "in flight"; the facts it reports."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, json.dumps(LONG_ANSWER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            first = ""
        if first.strip() == "in flight":
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert first.strip() == "in flight", f"the child never got its call in flight:\n{err}"
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "Task was destroyed" not in err, err
    facts: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return facts


class _InterruptOnAppend(list[Any]):
    """A chunk list whose append raises KeyboardInterrupt: Ctrl-C landing in the stream's
    own code, after a chunk was read and before it is handed over."""

    def append(self, item: Any) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_inside_the_stream_code_closes_the_stream() -> None:
    """Ctrl-C between reading a chunk and returning it still closes the response."""
    with Simulator(seed=0, time_scale=1) as sim, sim.session(read_timeout_s=30) as session:
        stream = session.stream("count", providers=["nvidia-nim"], response_format=LONG_ANSWER)
        next(stream)
        stream.chunks = _InterruptOnAppend(stream.chunks)
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        assert running_tasks(session) == []
        assert asyncio.run(in_flight_after_settling(sim)) == NO_REQUESTS
        assert session.chat("and now?").served_by == "nvidia-nim"


def _nothing_kept(kept: Any) -> None:
    assert kept is None


def _four_of_five_items_kept(kept: Any) -> None:
    # Whichever request met the stall, the four others finished and were kept, in order.
    assert len(kept) == 4
    indices = [index for index, _ in kept]
    assert indices == sorted(set(indices))
    assert set(indices) <= set(range(5))
    assert all(ok for _, ok in kept)


def _chunks_kept(kept: Any) -> None:
    assert len(kept) >= 3
    assert "".join(kept).startswith('{"n": [')


@pytest.mark.parametrize(
    ("mode", "check_kept"),
    [
        pytest.param("chat", _nothing_kept, id="chat"),
        pytest.param("batch", _four_of_five_items_kept, id="batch"),
        pytest.param("stream", _chunks_kept, id="stream"),
        pytest.param("stream-buffered", _chunks_kept, id="stream-buffered"),
    ],
)
def test_ctrl_c_stops_the_request_and_keeps_what_finished(
    mode: str, check_kept: Callable[[Any], None]
) -> None:
    """Ctrl-C mid-call: KeyboardInterrupt, nothing left running, finished work kept."""
    facts = interrupt_child(mode)
    assert facts["raised"] == "KeyboardInterrupt"
    assert facts["running_tasks"] == []
    assert facts["in_flight"] == NO_REQUESTS
    check_kept(facts["kept"])
    assert facts["then"] == "nvidia-nim"


# --- task.cancel() on the async forms -------------------------------------------------------


@dataclass(frozen=True)
class AsyncCase:
    """One async call to cancel: how to start it, when it is in flight, what it keeps."""

    start: Callable[[nv.Session, list[Any]], Awaitable[object]]
    ready: Callable[[Simulator, nv.Session, list[Any]], bool]
    kept: Callable[[nv.Session, list[Any]], int]
    at_least: int  # finished items or chunks that must be kept
    stall: bool = True  # NIM never answers the first request
    time_scale: float = 0


def _nim_busy(sim: Simulator, *_: object) -> bool:
    return bool(sim.stats()["in_flight"]["nvidia-nim"] == 1)


def _chunks(seen: list[Any]) -> int:
    return len(seen[0].chunks) if seen else 0


async def _consume(session: nv.Session, seen: list[Any], *, cancel_at: int | None = None) -> None:
    """Read a long stream (kept in `seen`, as a notebook variable would keep it); with
    `cancel_at`, the task cancels itself once that many chunks have arrived."""
    stream = session.astream("count", providers=["nvidia-nim"], response_format=LONG_ANSWER)
    seen.append(stream)
    async for _ in stream:
        if cancel_at is not None and len(stream.chunks) == cancel_at - 2:
            # Hold the Session's loop while chunks pile up in the socket: they are then
            # read in one go, and the next ones sit buffered in the stream.
            session._portal.loop.call_soon_threadsafe(time.sleep, 0.3)
        if len(stream.chunks) == cancel_at:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # lands while the next chunk is served from the buffer


ASYNC_CASES = {
    "achat": AsyncCase(
        start=lambda s, _: s.achat("stall, please", providers=["nvidia-nim"]),
        ready=_nim_busy,
        kept=lambda s, _: 0,
        at_least=0,
    ),
    "abatch": AsyncCase(
        start=lambda s, _: s.abatch(
            [f"prompt {i}" for i in range(5)],
            concurrency=5,
            progress=False,
            providers=["nvidia-nim"],
        ),
        ready=lambda sim, s, _: len(s.last_batch) == 4 and _nim_busy(sim),
        kept=lambda s, _: sum(1 for item in s.last_batch if item.ok),
        at_least=4,
    ),
    "astream": AsyncCase(
        start=_consume,
        ready=lambda sim, s, seen: _chunks(seen) >= 3,
        kept=lambda s, seen: _chunks(seen),
        at_least=3,
        stall=False,
        time_scale=1,
    ),
    "astream-buffered": AsyncCase(
        start=lambda s, seen: _consume(s, seen, cancel_at=5),
        ready=lambda sim, s, seen: _chunks(seen) >= 5,
        kept=lambda s, seen: _chunks(seen),
        at_least=5,
        stall=False,
        time_scale=1,
    ),
}


@pytest.mark.parametrize("name", list(ASYNC_CASES))
async def test_task_cancel_stops_the_request_and_keeps_what_finished(name: str) -> None:
    """task.cancel(): CancelledError, nothing left running, finished work kept."""
    case = ASYNC_CASES[name]
    with (
        Simulator(seed=0, time_scale=case.time_scale) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=30) as session,
    ):
        if case.stall:
            sim.inject("nvidia-nim", "C2")
        seen: list[Any] = []
        task = asyncio.ensure_future(case.start(session, seen))
        assert await until(lambda: case.ready(sim, session, seen) or task.done(), 20)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert running_tasks(session) == []
        assert await in_flight_after_settling(sim) == NO_REQUESTS
        assert case.kept(session, seen) >= case.at_least
        assert (await session.achat("and now?")).served_by == "nvidia-nim"


# --- Stop in the Playground -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["waiting", "streaming"])
async def test_playground_stop_cancels_the_request(stream: bool) -> None:
    """Stop: the request ends at the simulator, the panel says so, the next Run works."""
    with (
        Simulator(seed=0, time_scale=1 if stream else 0) as sim,
        sim.session(retry=nv.RetryPolicy.no_wait(), read_timeout_s=30) as session,
    ):
        panel = Playground(session, prompt="count")
        panel.stream.value = stream
        if stream:  # a long answer, still streaming when Stop is pressed
            panel.max_tokens.value = panel.max_tokens.max
            session.defaults["response_format"] = LONG_ANSWER
        else:  # NIM holds the request and never answers
            sim.inject("nvidia-nim", "C2")
        panel.run_button.click()
        if stream:
            assert await until(lambda: "streaming from" in panel.output.value, 20)
        else:
            assert await until(lambda: _nim_busy(sim), 20)
        panel.stop_button.click()
        await panel.wait()
        assert panel.task is not None
        assert panel.task.cancelled()
        assert running_tasks(session) == []
        assert await in_flight_after_settling(sim) == NO_REQUESTS
        assert "stopped — the request was cancelled" in panel.output.value
        assert "stopped" in panel.activity.value
        # the partial answer stays shown
        assert ('class="nvgw-answer"' in panel.output.value) is stream
        assert panel.results == []
        assert not panel.running
        assert not panel.run_button.disabled
        session.defaults.pop("response_format", None)
        panel.prompt.value = "and now?"
        panel.run_button.click()
        await panel.wait()
        assert [r.served_by for r in panel.results] == ["nvidia-nim"]
