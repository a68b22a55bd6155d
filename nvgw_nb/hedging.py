"""Hedged requests: a step that has not answered in time races the next one.

With `hedge_after=`, the engine runs step `i` and, once the delay passes without an answer,
step `i + 1` too. The first valid answer wins; the other side is cancelled, waited for until
its request is closed, and recorded as `hedge_cancelled` (costed: the provider may bill it).
Without an answer, both ends come back in plan order, to be judged as if the two steps had
run one after the other. Streams are never hedged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

from nvgw_nb.latency import LatencyTracker
from nvgw_nb.pricing import Pricing, estimate_usage
from nvgw_nb.results import Attempt, ChatRequest, StreamChunk
from nvgw_nb.steps import AttemptDraft, Step, StepEnd

__all__ = ["Branch", "Hedger", "InFlight", "RunBranch", "hedge_delay"]

logger = logging.getLogger("nvgw_nb")


def hedge_delay(
    hedge_after: float | Literal["p95"] | None,
    request: ChatRequest,
    plan: Sequence[Step],
    index: int,
    latencies: LatencyTracker,
) -> float | None:
    """Seconds after which step `index` is hedged by step `index + 1`, or None."""
    if hedge_after is None or request.stream or index + 1 >= len(plan):
        return None
    if plan[index].skip is not None or plan[index + 1].skip is not None:
        return None
    if hedge_after == "p95":
        return latencies.p95(plan[index].provider)
    return float(hedge_after)


@dataclass
class InFlight:
    """The attempt a step has in flight, if any: what a cancelled loser is recorded from.

    The engine sets `draft` when a request starts and clears it when the attempt ends.
    """

    draft: AttemptDraft | None = None


@dataclass
class Branch:
    """One side of a hedged pair: a step run as its own task, with its own attempts."""

    step: Step
    hedge: bool
    attempts: list[Attempt] = field(default_factory=list)
    in_flight: InFlight = field(default_factory=InFlight)
    task: asyncio.Task[StepEnd] | None = None
    end: StepEnd | None = None


#: runs a branch's step (followed by the given next step, or None) to its end
RunBranch = Callable[[Branch, Step | None], AsyncGenerator[StreamChunk | StepEnd, None]]


@dataclass(frozen=True)
class Hedger:
    """Runs hedged pairs for an engine: costs cancelled losers, feeds the latencies."""

    clock: Callable[[], float]
    pricing: Pricing
    latencies: LatencyTracker

    async def race(
        self,
        request: ChatRequest,
        plan: Sequence[Step],
        index: int,
        delay: float,
        run: RunBranch,
    ) -> tuple[list[StepEnd], list[Attempt]]:
        """Step `index`, and step `index + 1` too once `delay` seconds pass without an
        answer. Returns the ends (see the module docstring) and every attempt of both, in
        the order they started."""
        primary = Branch(plan[index], hedge=False)
        partner = Branch(plan[index + 1], hedge=True)
        after = plan[index + 2] if index + 2 < len(plan) else None
        branches = (primary, partner)
        try:
            primary.task = asyncio.ensure_future(_run_to_end(run, primary, partner.step))
            await asyncio.wait({primary.task}, timeout=delay)
            if not primary.task.done():
                logger.info(
                    "%s has not answered in %.2f s: hedging on %s",
                    primary.step.provider,
                    delay,
                    partner.step.provider,
                )
                partner.task = asyncio.ensure_future(_run_to_end(run, partner, after))
            ends = await _first_answer(primary, partner)
        finally:
            await self._stop_losers(request, branches)
        attempts = sorted((a for b in branches for a in b.attempts), key=lambda a: a.started_at)
        return ends, attempts

    async def _stop_losers(self, request: ChatRequest, branches: Sequence[Branch]) -> None:
        """Cancel the branches still running and wait until they have closed their
        requests; an attempt cut short is recorded as `hedge_cancelled`, costed."""
        losers = [b for b in branches if b.task is not None and not b.task.done()]
        if not losers:
            return
        for loser in losers:
            assert loser.task is not None
            loser.task.cancel()
        # asyncio.wait neither raises the tasks' CancelledError nor, if this task is itself
        # cancelled meanwhile, leaves them running: they were cancelled above.
        await asyncio.wait([b.task for b in losers if b.task is not None])
        for loser in losers:  # retrieve what a task raised instead of stopping (logged once)
            if loser.task is not None and not loser.task.cancelled() and loser.task.exception():
                logger.warning(
                    "a hedged branch on %s failed: %r", loser.step.provider, loser.task.exception()
                )
        winner = next((b for b in branches if b.end is not None and b.end.result), None)
        for loser in losers:
            draft = loser.in_flight.draft
            if draft is None:  # between attempts (backoff): nothing was in flight
                continue
            loser.in_flight.draft = None
            attempt = self._cancelled(request, draft, winner.step.provider if winner else None)
            loser.attempts.append(attempt)
            if not loser.hedge and winner is not None:
                # At least this slow: keeps the tail in the p95 that hedging cuts off.
                self.latencies.record(attempt.provider, attempt.elapsed_s)

    def _cancelled(self, request: ChatRequest, draft: AttemptDraft, winner: str | None) -> Attempt:
        """The Attempt of a request cancelled because the other side of a hedge won.

        The provider may still bill it: the prompt's tokens are estimated and costed
        (none of the answer was received, so no completion tokens are counted).
        """
        usage = estimate_usage(request, "") if draft.requests_sent else None
        elapsed = self.clock() - draft.t0
        reason = f"{winner} answered first" if winner else "the call ended without it"
        return dataclasses.replace(
            draft,
            elapsed_s=elapsed,
            outcome="error",
            error_kind="hedge_cancelled",
            error=f"{draft.provider} was cancelled after {elapsed:.2f} s: {reason}",
            usage=usage,
            usage_estimated=usage is not None,
            cost_usd=self.pricing.cost(draft.provider, draft.model, usage),
        ).to_attempt()


async def _run_to_end(run: RunBranch, branch: Branch, next_step: Step | None) -> StepEnd:
    """Run one side of a hedged pair to its end (no text chunks: never a stream)."""
    end: StepEnd | None = None
    async with aclosing(run(branch, next_step)) as items:
        async for item in items:
            if isinstance(item, StepEnd):
                end = item
    assert end is not None
    return end


async def _first_answer(primary: Branch, partner: Branch) -> list[StepEnd]:
    """Wait for the branches of a hedged pair until one has a valid answer (its end alone
    is returned), the primary ended in an error that must reach the caller (a content
    filter is never routed around), or both ended (their ends, primary first). When both
    ended at once, the primary's end is judged first."""
    running = {b.task: b for b in (primary, partner) if b.task is not None}
    while running:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            running.pop(task).end = task.result()
        if primary.end is not None and (primary.end.result is not None or primary.end.fatal):
            return [primary.end]
        if partner.end is not None and partner.end.result is not None:
            return [partner.end]
    return [b.end for b in (primary, partner) if b.end is not None]
