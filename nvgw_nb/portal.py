"""A private event loop on a daemon thread: sync calls inside Jupyter without nest-asyncio.

Each Session owns one `LoopThread`; its `httpx.AsyncClient` lives only there. Sync
calls submit a coroutine and wait (Ctrl-C cancels the work and waits for it to stop);
`await` from any other loop bridges with `asyncio.wrap_future`. The running loop of a
notebook is never patched and `asyncio.run` is never called, so this works on every
Python from 3.10 and in every front end. (nest-asyncio, named by the original design,
is archived and breaks on 3.12+.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from nvgw_nb.errors import ConfigError, SessionClosed

__all__ = ["LoopThread"]

T = TypeVar("T")

#: how often a waiting sync call wakes up to let Ctrl-C through
_WAKE_S = 0.05
#: how long a cancelled sync call may take to unwind before Ctrl-C returns anyway
_CANCEL_GRACE_S = 5.0


class LoopThread:
    """An asyncio loop running forever on its own daemon thread."""

    def __init__(self, name: str = "nvgw_nb-loop") -> None:
        self.loop = asyncio.new_event_loop()
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

    def _submit(
        self, coro: Coroutine[Any, Any, T], on_done: Callable[[], object] | None = None
    ) -> tuple[concurrent.futures.Future[T], threading.Event]:
        """Start `coro` as a task on the loop: its future, and an event set once it has
        really finished (cancelled work included, unlike the future, which reports a
        cancellation at once)."""
        if self.closed:
            coro.close()
            raise SessionClosed("This Session is closed; create a new one with nv.connect()")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        finished = threading.Event()

        def settle(task: asyncio.Task[T]) -> None:
            finished.set()
            if on_done is not None:
                on_done()
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                if task.cancelled():
                    future.cancel()
                elif (error := task.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(task.result())

        def start() -> None:
            task = self.loop.create_task(coro)
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
        future, finished = self._submit(coro)
        try:
            # Wake up regularly: a simulated or late-delivered SIGINT (Jupyter's interrupt,
            # _thread.interrupt_main) is only acted on between waits.
            while True:
                with contextlib.suppress(concurrent.futures.TimeoutError):
                    return future.result(timeout=_WAKE_S)
        except KeyboardInterrupt:
            future.cancel()
            finished.wait(_CANCEL_GRACE_S)
            raise

    async def arun(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` on the loop from any other loop (cancellation propagates)."""
        if self.closed:
            raise SessionClosed("This Session is closed; create a new one with nv.connect()")
        caller = asyncio.get_running_loop()
        if caller is self.loop:
            return await awaitable
        unwound = asyncio.Event()
        future, _ = self._submit(
            _as_coroutine(awaitable), on_done=lambda: caller.call_soon_threadsafe(unwound.set)
        )
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Propagate, but only once the work on the Session's loop has stopped.
            future.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(unwound.wait(), _CANCEL_GRACE_S)
            raise

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

    def stop(self) -> None:
        """Stop the loop and join its thread (idempotent)."""
        if self.closed:
            return
        if self.in_loop():
            self.closed = True
            self.loop.stop()
            return
        # A loop stuck for 10 s is stopped anyway: closing must not hang a notebook.
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(_shutdown(), self.loop).result(timeout=10)
        self.closed = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


async def _shutdown() -> None:
    """Cancel what still runs on the loop and finish async generators, before stopping."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()
