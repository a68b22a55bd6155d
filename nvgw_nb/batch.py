"""Many chats at once: input order kept, failures recorded, finished work never lost.

`Session.batch` / `abatch` use this. Every prompt becomes a `BatchItem` — a result or a
recorded failure — in input order. With `save_to=`, each item is appended to a JSONL file
as it finishes, so a crash or Ctrl-C loses nothing; `load_results(path)` reads it back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.results import Attempt, ChatResult

__all__ = ["BatchItem", "BatchPrompt", "load_results", "normalise_prompts", "run_batch"]


class BatchPrompt(BaseModel):
    """One prompt of a batch, with the role it asks for (None: the call's role)."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    role: str | None = None


class BatchItem(BaseModel):
    """One finished prompt: its result, or the failure that replaced it."""

    model_config = ConfigDict(frozen=True)

    index: int
    prompt: str
    role: str | None = None
    result: ChatResult | None = None
    error_kind: str | None = None
    error: str | None = None
    attempts: list[Attempt] = []

    @property
    def ok(self) -> bool:
        """True when a result came back."""
        return self.result is not None


def normalise_prompts(
    prompts: Iterable[str | Mapping[str, Any] | BatchPrompt], role: str | None
) -> list[BatchPrompt]:
    """Strings, {"prompt", "role"} dicts or BatchPrompts → BatchPrompts (ConfigError if bad)."""
    out: list[BatchPrompt] = []
    for index, item in enumerate(prompts):
        if isinstance(item, BatchPrompt):
            out.append(
                item if item.role or role is None else item.model_copy(update={"role": role})
            )
        elif isinstance(item, str):
            out.append(BatchPrompt(prompt=item, role=role))
        elif isinstance(item, Mapping) and isinstance(item.get("prompt"), str):
            out.append(BatchPrompt(prompt=item["prompt"], role=item.get("role") or role))
        else:
            raise ConfigError(
                f"prompts[{index}] must be a string or {{'prompt': ..., 'role': ...}}"
            )
        if not out[-1].prompt.strip():
            raise ConfigError(f"prompts[{index}] is empty")
    if not out:
        raise ConfigError("the batch has no prompts")
    return out


async def run_batch(
    prompts: Sequence[BatchPrompt],
    ask: Callable[[int], Awaitable[ChatResult]],
    *,
    concurrency: int,
    on_done: Callable[[BatchItem], None],
) -> list[BatchItem]:
    """`ask(i)` for every prompt, at most `concurrency` in flight; items in input order.

    `on_done` sees each item as it finishes (progress, saving). Cancellation cancels the
    calls still running and re-raises; the items finished so far were already reported.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    items: list[BatchItem | None] = [None] * len(prompts)
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, prompt: BatchPrompt) -> None:
        async with gate:
            try:
                result = await ask(index)
                item = BatchItem(index=index, prompt=prompt.prompt, role=prompt.role, result=result)
            except NvgwError as err:
                item = BatchItem(
                    index=index,
                    prompt=prompt.prompt,
                    role=prompt.role,
                    error_kind=err.kind,
                    error=str(err),
                    attempts=err.attempts,
                )
        items[index] = item
        on_done(item)

    tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(prompts)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [item for item in items if item is not None]


def append_jsonl(path: Path, item: BatchItem) -> None:
    """Append one item as a JSON line (flushed at once, so a crash keeps it)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(item.model_dump_json() + "\n")
        handle.flush()


def load_results(path: str | Path) -> list[BatchItem]:
    """Read back what `batch(..., save_to=path)` wrote, in input order.

    A line cut short by a crash is skipped; every complete line is kept.
    """
    items: dict[int, BatchItem] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            item = BatchItem.model_validate(json.loads(line))
        except (ValueError, TypeError):
            continue
        items[item.index] = item
    return [items[i] for i in sorted(items)]
