"""Streams of a chat: iterate for text chunks as they arrive, then read `.result`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence

from nvgw_nb.portal import LoopThread
from nvgw_nb.results import ChatResult, StreamChunk

__all__ = ["AsyncChatStream", "ChatStream"]


class ChatStream:
    """Iterate for `StreamChunk`s (``str(chunk)`` is the text); then `.result`."""

    def __init__(self, portal: LoopThread, agen: AsyncIterator[StreamChunk | ChatResult]) -> None:
        self._portal = portal
        self._agen = agen
        self._iter: Iterator[StreamChunk | ChatResult] | None = None
        self._result: ChatResult | None = None
        self.chunks: list[StreamChunk] = []

    def __iter__(self) -> Iterator[StreamChunk]:
        return self

    def __next__(self) -> StreamChunk:
        if self._iter is None:
            self._iter = self._portal.iterate(self._agen)
        try:
            for item in self._iter:
                if isinstance(item, ChatResult):
                    self._result = item
                    continue
                self.chunks.append(item)
                return item
        except BaseException:
            # Ctrl-C can land here, outside the iterator, which then stays suspended with
            # the response open: close it (a no-op when the iterator raised and ended).
            self.close()
            raise
        raise StopIteration

    @property
    def text(self) -> str:
        """The text received so far (since the last reset, in restart mode)."""
        return _text_since_reset(self.chunks)

    @property
    def result(self) -> ChatResult:
        """The ChatResult; iterates to the end first if needed."""
        if self._result is None:
            for _ in self:
                pass
        assert self._result is not None
        return self._result

    def close(self) -> None:
        """Stop reading; the connection is released."""
        if self._iter is not None:
            close = getattr(self._iter, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChatStream:
    """`async for` over `StreamChunk`s; then `.result`."""

    def __init__(self, portal: LoopThread, agen: AsyncIterator[StreamChunk | ChatResult]) -> None:
        self._portal = portal
        self._agen = agen
        self._result: ChatResult | None = None
        self.chunks: list[StreamChunk] = []

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> StreamChunk:
        while True:
            try:
                item = await self._portal.arun(self._agen.__anext__())
            except asyncio.CancelledError:
                # A chunk already buffered is read before the cancellation reaches the
                # Session's loop, leaving the generator suspended and the response open:
                # close it, as the sync stream does on Ctrl-C. Cleanup errors must not
                # replace the cancellation.
                with contextlib.suppress(Exception):
                    await self.aclose()
                raise
            if isinstance(item, ChatResult):
                self._result = item
                continue
            self.chunks.append(item)
            return item

    @property
    def text(self) -> str:
        """The text received so far (since the last reset, in restart mode)."""
        return _text_since_reset(self.chunks)

    @property
    def result(self) -> ChatResult:
        """The ChatResult (after the stream has been read to the end)."""
        if self._result is None:
            raise RuntimeError("the stream has not ended yet: read it with `async for` first")
        return self._result

    async def aclose(self) -> None:
        """Stop reading; the connection is released."""
        close = getattr(self._agen, "aclose", None)
        if close is not None:
            await self._portal.arun(close())


def _text_since_reset(chunks: Sequence[StreamChunk]) -> str:
    start = max((i + 1 for i, c in enumerate(chunks) if c.reset), default=0)
    return "".join(c.text for c in chunks[start:])
