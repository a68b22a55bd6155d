"""The response cache as a layer around the engine: replay a stored answer, else ask.

`CachingEngine` has the engine's `chat` / `stream` interface. A call replays the first
answer stored for a step of its plan, in plan order; otherwise the engine runs it and
its answer is stored under the key of the step that served it. The Session puts one
around its engine when it has a cache (`cache=` or NVGW_CACHE).

>>> engine = CachingEngine(Engine(...), ResponseCache("responses.sqlite"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

from nvgw_nb.cache import CacheKey, ResponseCache
from nvgw_nb.engine import Engine
from nvgw_nb.errors import NvgwError
from nvgw_nb.results import ChatRequest, ChatResult, StreamChunk
from nvgw_nb.steps import CallPolicy, Step
from nvgw_nb.validation import run_validator

__all__ = ["CachingEngine"]

logger = logging.getLogger("nvgw_nb")

_T = TypeVar("_T")


class CachingEngine:
    """An `Engine` behind a `ResponseCache`: same calls, answers replayed when stored."""

    def __init__(
        self, engine: Engine, cache: ResponseCache, *, replay_simulated: bool = True
    ) -> None:
        self.engine = engine
        self.cache = cache
        #: replay answers the simulator gave; a Session on real endpoints says False, so a
        #: cache filled on the simulator never passes a simulated answer off as a real one
        self.replay_simulated = replay_simulated

    async def chat(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> ChatResult:
        """Like `Engine.chat`, through the cache."""
        result: ChatResult | None = None
        async for item in self.stream(request, plan, options):
            if isinstance(item, ChatResult):
                result = item
        assert result is not None
        return result

    def stream(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy | None = None
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        """Like `Engine.stream`, through the cache (a replay is one chunk, then the result)."""
        options = options or CallPolicy()
        if not options.use_cache:
            return self.engine.stream(request, plan, options)
        return self._through_cache(request, plan, options)

    async def _through_cache(
        self, request: ChatRequest, plan: Sequence[Step], options: CallPolicy
    ) -> AsyncGenerator[StreamChunk | ChatResult, None]:
        started = self.engine.clock()
        # Steps that policy skips are not replayed either: the call must not use them.
        keys = {
            s.provider: CacheKey.of(request, s.provider, s.model, options.cache_salt)
            for s in plan
            if not s.skip
        }
        for key in keys.values():
            stored = await _cache_io(self.cache.get, key)
            replay = self._replay(stored, options) if stored is not None else None
            if replay is not None:
                logger.info("replaying %s's answer from the response cache", key.provider)
                replay = replay.model_copy(update={"latency_s": self.engine.clock() - started})
                if request.stream and replay.content:
                    yield StreamChunk(
                        text=replay.content, provider=replay.served_by, model=replay.model
                    )
                yield replay
                return
        async with aclosing(self.engine.stream(request, plan, options)) as items:
            async for item in items:
                # Only a whole, accepted answer arrives as a ChatResult: errors raise and
                # partial streams never get here. Stored before the caller sees it, so a
                # reader that stops at the result still leaves it recorded.
                if isinstance(item, ChatResult) and item.served_by in keys:
                    await _cache_io(self.cache.put, keys[item.served_by], item)
                yield item

    def _replay(self, stored: ChatResult, options: CallPolicy) -> ChatResult | None:
        """`stored` as a cached replay, or None when this call must not use it."""
        if stored.simulated and not self.replay_simulated:
            return None
        parsed = stored.parsed
        if options.output_model is not None and parsed is not None:
            try:
                parsed = options.output_model.model_validate(parsed)
            except ValueError:  # pydantic's ValidationError: the model changed since
                return None
        replay = stored.model_copy(
            update={
                "cached": True,
                "parsed": parsed,
                "original_latency_s": stored.latency_s,
                # Nothing was billed now; the recorded attempts keep what the call cost.
                "cost_usd": 0.0,
            }
        )
        if options.validator is not None:
            try:
                run_validator(options.validator, replay, replay.served_by)
            except NvgwError as err:
                logger.info("not replaying the cached answer: %s", err)
                return None
        return replay


async def _cache_io(operation: Callable[..., _T], *args: Any) -> _T | None:
    """A response-cache operation on a worker thread: a write may wait for another
    process's (the busy timeout), and that must not stall every call on this loop. A cache
    that fails (locked too long, closed, disk full) is logged and the call goes on."""
    try:
        return await asyncio.to_thread(operation, *args)
    except (sqlite3.Error, ValueError) as err:
        logger.warning("response cache unusable (%s); going on without it", err)
        return None
