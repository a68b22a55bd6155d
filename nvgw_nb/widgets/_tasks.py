"""Runs started by a button: one asyncio task at a time on the kernel's running loop.

A click handler must return at once (the kernel handles the next message, other
widgets stay live), so it schedules the work as a task on the loop it is called
from — in Jupyter, the kernel's; in an async test, the test's. Stop cancels the
task, and with it the request (cancellation propagates to the Session's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["NO_LOOP", "TaskSlot"]

NO_LOOP = (
    "No running event loop to run on. In Jupyter the kernel's loop runs the buttons; "
    "outside it, call the button from async code (await ..., then await panel.wait())."
)


class TaskSlot:
    """Holds the current run's task; `on_running(bool)` is called when it starts and ends."""

    def __init__(self, on_running: Callable[[bool], None]) -> None:
        self._on_running = on_running
        self.task: asyncio.Task[Any] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, coro: Coroutine[Any, Any, Any]) -> bool:
        """Schedule `coro` on the running loop; False (and `coro` closed) when there is
        no running loop or a run is still going."""
        if self.running:
            coro.close()
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            return False
        self._on_running(True)
        self.task = loop.create_task(coro)
        self.task.add_done_callback(lambda _: self._on_running(False))
        return True

    def stop(self) -> bool:
        """Cancel the running task (True if there was one)."""
        if self.task is None or self.task.done():
            return False
        self.task.cancel()
        return True

    async def wait(self) -> None:
        """Wait for the current run to end, however it ends (never raises for it)."""
        task = self.task
        if task is not None and not task.done():
            await asyncio.wait({task})
