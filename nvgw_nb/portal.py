"""A private event loop on a daemon thread: sync calls inside Jupyter without nest-asyncio.

Each Session owns one `LoopThread`; its `httpx.AsyncClient` lives only there. Sync
calls submit a coroutine and wait (Ctrl-C cancels the work and waits for it to stop);
`await` from any other loop bridges with `asyncio.wrap_future`. The running loop of a
notebook is never patched and `asyncio.run` is never called, so this works on every
Python from 3.10 and in every front end. (nest-asyncio, named by the original design,
is archived and breaks on 3.12+.)

A Session belongs to the process that made it: a child made by `fork` inherits the loop
object but not its thread, so every call there raises `SessionClosed` at once (make a new
Session in the child). `stop()` from another thread while calls run ends them with
`SessionClosed` too. A long wait the engine announces (`nvgw_nb.countdown`) is counted
down in the caller's thread, so Jupyter shows it under the running cell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from nvgw_nb.countdown import Countdown, Wait, listening
from nvgw_nb.errors import ConfigError, SessionClosed

__all__ = ["LoopThread"]

T = TypeVar("T")

#: how often a waiting sync call wakes up to let Ctrl-C through
_WAKE_S = 0.05
#: how long a cancelled sync call may take to unwind before Ctrl-C returns anyway
_CANCEL_GRACE_S = 5.0
#: how often an async caller's countdown is redrawn
_TICK_S = 0.25

_CLOSED = "This Session is closed; create a new one with nv.connect()"
_CLOSED_WHILE_RUNNING = (
    "This Session was closed (by another thread) while this call ran; "
    "create a new one with nv.connect()"
)


class LoopThread:
    """An asyncio loop running forever on its own daemon thread."""

    def __init__(self, name: str = "nvgw_nb-loop") -> None:
        #: the process that made the loop: a forked child has the loop but not its thread
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        #: futures of calls not settled yet: `stop` settles any the loop could not
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        self.closed = False

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def in_loop(self) -> bool:
        """True when called from this loop's own thread."""
        return threading.current_thread() is self._thread

    @property
    def forked(self) -> bool:
        """True in a child process made by fork: the loop's thread is not there."""
        return os.getpid() != self.pid

    def check(self) -> None:
        """Raise `SessionClosed` when no call can run here: closed, or in a forked child."""
        if self.forked:
            raise SessionClosed(
                f"This Session was created in another process (pid {self.pid}); a child made "
                "by fork cannot use it: create a new Session in the child (nv.connect())"
            )
        if self.closed:
            raise SessionClosed(_CLOSED)

    def _submit(
        self,
        coro: Coroutine[Any, Any, T],
        on_done: Callable[[], object] | None = None,
        listener: Callable[[Wait], object] | None = None,
    ) -> tuple[concurrent.futures.Future[T], threading.Event]:
        """Start `coro` as a task on the loop: its future, and an event set once it has
        really finished (cancelled work included, unlike the future, which reports a
        cancellation at once). `listener` hears of the long waits it announces."""
        try:
            self.check()
        except SessionClosed:
            coro.close()
            raise
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        finished = threading.Event()
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

        def settle(task: asyncio.Task[T]) -> None:
            finished.set()
            if on_done is not None:
                on_done()
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                if task.cancelled() and self.closed:  # stopped under the caller's feet
                    future.set_exception(SessionClosed(_CLOSED_WHILE_RUNNING))
                elif task.cancelled():
                    future.cancel()
                elif (error := task.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(task.result())

        def start() -> None:
            if future.done():  # cancelled, or the Session stopped, before it could start
                coro.close()
                finished.set()
                if on_done is not None:
                    on_done()
                return
            work = coro if listener is None else listening(coro, listener)
            task = self.loop.create_task(work)
            task.add_done_callback(settle)
            future.add_done_callback(
                lambda f: self.loop.call_soon_threadsafe(task.cancel) if f.cancelled() else None
            )

        self.loop.call_soon_threadsafe(start)
        return future, finished

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (sync callers)."""
        if self.in_loop():
            coro.close()
            raise ConfigError(
                "A sync Session method was called from the Session's own event loop, "
                "where it would deadlock; use the async form (await session.achat(...))"
            )
        countdown = Countdown()
        future, finished = self._submit(coro, listener=countdown.post)
        try:
            # Wake up regularly: a simulated or late-delivered SIGINT (Jupyter's interrupt,
            # _thread.interrupt_main) is only acted on between waits; the countdown of a
            # long wait is drawn here, in the caller's thread, so it shows in its cell.
            while True:
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    return future.result(timeout=_WAKE_S)
                countdown.tick()
        except KeyboardInterrupt:
            future.cancel()
            finished.wait(_CANCEL_GRACE_S)
            raise
        finally:
            countdown.close()

    async def arun(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` on the loop from any other loop (cancellation propagates)."""
        try:
            self.check()
        except SessionClosed:
            if asyncio.iscoroutine(awaitable):  # never awaited now: no warning about it
                awaitable.close()
            raise
        caller = asyncio.get_running_loop()
        if caller is self.loop:
            return await awaitable
        unwound = asyncio.Event()
        countdown = Countdown()
        ticking: list[asyncio.Task[None]] = []

        def heard(wait: Wait) -> None:  # on the caller's loop
            countdown.post(wait)
            if not ticking or ticking[0].done():
                ticking[:] = [caller.create_task(_count_down(countdown))]

        future, _ = self._submit(
            _as_coroutine(awaitable),
            on_done=lambda: caller.call_soon_threadsafe(unwound.set),
            listener=lambda wait: caller.call_soon_threadsafe(heard, wait),
        )
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Propagate, but only once the work on the Session's loop has stopped.
            future.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(unwound.wait(), _CANCEL_GRACE_S)
            raise
        finally:
            for task in ticking:
                task.cancel()
            countdown.close()

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Iterate an async iterator that lives on the loop, from sync code."""
        try:
            while True:
                try:
                    item = self.run(_anext(agen))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(agen, "aclose", None)
            if close is not None and not self.closed:
                self.run(close())

    def stop(self, cleanup: Callable[[], Awaitable[object]] | None = None) -> None:
        """Stop the loop and join its thread (idempotent): calls still running end with
        `SessionClosed`, then `cleanup()` (closing the HTTP client) runs on the loop."""
        if self.closed:
            return
        self.closed = True  # from now on, new calls are refused
        if self.forked:  # the loop's thread lives in the parent: nothing here to stop
            return
        if self.in_loop():
            self.loop.stop()
            self._settle_pending()
            return
        # A loop stuck for 10 s is stopped anyway: closing must not hang a notebook.
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_shutdown(cleanup), self.loop).result(timeout=10)
        self._settle_pending()
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def _settle_pending(self) -> None:
        """Every call still waiting gets `SessionClosed` (none may wait forever)."""
        for future in list(self._pending):
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(SessionClosed(_CLOSED_WHILE_RUNNING))


async def _shutdown(cleanup: Callable[[], Awaitable[object]] | None = None) -> None:
    """Cancel what still runs on the loop, run `cleanup`, finish async generators."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if cleanup is not None:
        with contextlib.suppress(Exception):  # closing must not fail on a broken client
            await cleanup()
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _count_down(countdown: Countdown) -> None:
    """Redraw `countdown` on the caller's loop until its wait is over."""
    while countdown.active:
        countdown.tick()
        await asyncio.sleep(_TICK_S)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()
