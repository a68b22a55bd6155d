"""Fork and close (issue 14, item 12): a Session used in a forked child fails at once
with a clear SessionClosed; close() from another thread ends running calls with
SessionClosed, never a bare CancelledError or a hang."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

import pytest

import nvgw_nb as nv
from nvgw_nb.sim import Simulator

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only"),
    # Python 3.12+ warns that forking a process with threads may deadlock: exactly what
    # these tests check does not happen to a Session.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

#: every child and every closing call must end well within this
BOUND_S = 10.0


@pytest.fixture
def silent_upstream() -> Iterator[tuple[str, threading.Event]]:
    """A loopback server that accepts connections and never answers: calls to it run
    until something stops them. Yields its URL and an event set on the first accept."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    accepted = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            accepted.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v1", accepted
    finally:
        stop.set()
        thread.join(BOUND_S)
        for conn in held:
            conn.close()
        server.close()


def _child_chat(session: nv.Session, out: Connection) -> None:
    """In the child: try the parent's Session, report what happened, then close it."""
    started = time.monotonic()
    try:
        session.chat("hi")
        out.send(("no error", "", time.monotonic() - started))
    except BaseException as err:  # report anything: the parent judges
        out.send((type(err).__name__, str(err), time.monotonic() - started))
    session.close()  # must not hang on the parent's loop either
    out.send(("closed", "", time.monotonic() - started))


def _run_forked(target: Callable[..., None], *args: object) -> list[tuple[str, str, float]]:
    """Run `target(*args, conn)` in a child made by fork; its messages, bounded in time."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(*args, send), daemon=True)
    child.start()
    send.close()
    messages: list[tuple[str, str, float]] = []
    deadline = time.monotonic() + BOUND_S
    try:
        while len(messages) < 2 and receive.poll(max(0.0, deadline - time.monotonic())):
            messages.append(receive.recv())
        child.join(max(0.0, deadline - time.monotonic()))
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert child.exitcode == 0, f"the child hung or failed (exit code {child.exitcode})"
    return messages


def test_a_forked_child_gets_a_clear_error_instead_of_a_hang(session: nv.Session) -> None:
    """A Session used in the parent, then in a fork child: SessionClosed naming the other
    process at once, and close() there returns."""
    assert session.chat("warm up").content  # the loop thread and the pool are in use
    messages = _run_forked(_child_chat, session)
    (kind, message, elapsed), (closed, _, _) = messages
    assert kind == "SessionClosed"
    assert "created in another process" in message
    assert "create a new Session in the child" in message
    assert elapsed < 1.0
    assert closed == "closed"


def test_the_parent_session_still_works_after_a_fork(session: nv.Session) -> None:
    """What the child did leaves the parent's Session working."""
    session.chat("warm up")
    _run_forked(_child_chat, session)
    assert session.chat("still here").content


def _silent_session(sim: Simulator, url: str) -> nv.Session:
    env = {**sim.env(), "NVIDIA_NIM_BASE_URL": url}
    return nv.Session.from_env(env=env, env_file=None, retry=nv.RetryPolicy.no_wait())


def test_close_from_another_thread_gives_sync_callers_session_closed(
    sim: Simulator, silent_upstream: tuple[str, threading.Event]
) -> None:
    """A chat() waiting on a silent upstream ends with SessionClosed when another thread
    closes the Session."""
    url, accepted = silent_upstream
    session = _silent_session(sim, url)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            session.chat("hi", providers=["nvidia-nim"], fallbacks=False)
        except BaseException as err:
            outcome.append(err)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    assert accepted.wait(BOUND_S)
    started = time.monotonic()
    session.close()
    caller.join(BOUND_S)
    assert not caller.is_alive()
    assert time.monotonic() - started < 2.0
    (error,) = outcome
    assert isinstance(error, nv.SessionClosed), repr(error)
    assert "closed" in str(error)


def test_close_from_another_thread_gives_async_callers_session_closed(
    sim: Simulator, silent_upstream: tuple[str, threading.Event]
) -> None:
    """An achat() awaited on the caller's loop ends with SessionClosed when another thread
    closes the Session."""
    url, accepted = silent_upstream
    session = _silent_session(sim, url)
    closer = threading.Thread(
        target=lambda: accepted.wait(BOUND_S) and session.close(), daemon=True
    )

    async def call() -> None:
        closer.start()
        await asyncio.wait_for(
            session.achat("hi", providers=["nvidia-nim"], fallbacks=False), BOUND_S
        )

    with pytest.raises(nv.SessionClosed):
        asyncio.run(call())
    closer.join(BOUND_S)


def test_calls_after_close_are_refused(session: nv.Session) -> None:
    """Once closed, a call is refused with SessionClosed before anything is sent."""
    session.close()
    with pytest.raises(nv.SessionClosed, match="closed"):
        session.chat("hi")


def test_a_refused_coroutine_is_closed_not_left_unawaited() -> None:
    """arun() on a stopped loop raises SessionClosed and closes the coroutine it got."""
    from nvgw_nb.portal import LoopThread

    portal = LoopThread()
    portal.stop()

    async def work() -> int:
        return 1

    coro = work()
    with pytest.raises(nv.SessionClosed):
        asyncio.run(portal.arun(coro))
    assert coro.cr_frame is None  # closed: no "never awaited" warning at collection
