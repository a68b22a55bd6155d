"""Long waits made visible: the engine announces them, the caller's thread counts them down.

The engine runs on the Session's private loop thread. Jupyter (ipykernel ≥ 6) routes what
a thread displays to the cell that *started that thread* — the cell that made the Session,
not the one waiting. So the engine only `announce`s a wait; the sync caller (`LoopThread.run`,
which wakes every 50 ms anyway to let Ctrl-C through) or the async caller's own loop draws
a `tqdm.auto` bar in its own thread, under the running cell, and counts it down.

>>> announce(Wait("nvidia-gateway", 30.0, "Retry-After", ends_at=t + 30))  # doctest: +SKIP

(shown by the caller's countdown; a no-op where nobody listens).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from nvgw_nb.errors import NvgwError, RateLimited

__all__ = [
    "COUNTDOWN_AFTER_S",
    "Countdown",
    "Wait",
    "announce",
    "listening",
    "sleep_visibly",
    "wait_reason",
]

T = TypeVar("T")

#: waits at least this long are announced (shorter ones pass before a bar would be seen)
COUNTDOWN_AFTER_S = 2.0


@dataclass(frozen=True)
class Wait:
    """A wait the engine is about to sleep through: who asked for it, and until when."""

    provider: str
    seconds: float
    #: why: "Retry-After" (the provider asked) or "rate limit" (our own pacing)
    reason: str
    #: when it ends, on `time.monotonic()`
    ends_at: float


logger = logging.getLogger("nvgw_nb")

Listener = Callable[[Wait], object]

_LISTENER: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "nvgw_nb_wait_listener", default=None
)


def announce(wait: Wait) -> None:
    """Tell the caller of the running call about `wait` (nothing when nobody listens)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(wait)


async def listening(coro: Coroutine[Any, Any, T], listener: Listener) -> T:
    """Run `coro` with `listener` told of every wait it announces (tasks it starts too:
    they copy the context)."""
    _LISTENER.set(listener)  # the task's own context: the caller's is untouched
    return await coro


class Countdown:
    """A `tqdm.auto` bar counting the longest announced wait down.

    `post` may be called from any thread; `tick` and `close` only from the thread that
    should show the bar (the caller's). `bar_factory` makes the bar (tests pass their own).
    """

    def __init__(
        self,
        *,
        bar_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._posted: queue.SimpleQueue[Wait] = queue.SimpleQueue()
        self._factory = bar_factory
        self._clock = clock
        self._bar: Any = None
        self._wait: Wait | None = None

    def post(self, wait: Wait) -> None:
        """Queue `wait` to be shown at the next `tick` (thread-safe)."""
        self._posted.put(wait)

    @property
    def active(self) -> bool:
        """True while a wait is being shown or is queued."""
        return self._wait is not None or not self._posted.empty()

    def tick(self) -> None:
        """Show the latest-ending wait posted so far, counted down to now."""
        while not self._posted.empty():
            wait = self._posted.get_nowait()
            if self._wait is None or wait.ends_at > self._wait.ends_at:
                self._close_bar()
                self._wait = wait
        if self._wait is None:
            return
        left = self._wait.ends_at - self._clock()
        if left <= 0:
            self._close_bar()
            self._wait = None
            return
        if self._bar is None:
            self._bar = self._make_bar(self._wait)
        self._bar.n = round(self._wait.seconds - left, 1)
        self._bar.set_postfix_str(f"{left:.0f} s left", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """Remove the bar (the call ended, however)."""
        self._close_bar()
        self._wait = None

    def _make_bar(self, wait: Wait) -> Any:
        factory = self._factory
        if factory is None:
            from tqdm.auto import tqdm  # loaded on first use: `import nvgw_nb` stays fast

            factory = tqdm
        return factory(
            total=round(wait.seconds, 1),
            desc=f"{wait.provider}: waiting ({wait.reason})",
            bar_format="{desc} {bar} {postfix}",
            leave=False,
        )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def wait_reason(error: NvgwError, paced: bool) -> str:
    """What a wait before a retry is for, in a word or two."""
    asked = isinstance(error, RateLimited) and error.retry_after_s is not None
    return "rate limit" if paced else "Retry-After" if asked else "backoff"


async def sleep_visibly(
    sleep: Callable[[float], Awaitable[None]], provider: str, seconds: float, reason: str
) -> None:
    """Sleep before a retry; a long sleep is logged and counted down for the caller."""
    if seconds >= COUNTDOWN_AFTER_S:
        logger.warning("%s: waiting %.1f s (%s) before retrying it", provider, seconds, reason)
        announce(Wait(provider, seconds, reason, ends_at=time.monotonic() + seconds))
    await sleep(seconds)
