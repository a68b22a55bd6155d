"""Many chats at once: input order kept, failures recorded, finished work never lost.

`Session.batch` / `abatch` use this. Every prompt becomes a `BatchItem` — a result or a
recorded failure — in input order. With `save_to=`, each item is appended to a JSONL file
as it finishes, so a crash or Ctrl-C loses nothing; `load_results(path)` reads it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.private_files import open_private
from nvgw_nb.results import Attempt, ChatRequest, ChatResult
from nvgw_nb.steps import CallPolicy, Step

__all__ = [
    "BatchItem",
    "BatchPrompt",
    "Job",
    "PrepareCall",
    "load_results",
    "normalise_prompts",
    "plan_jobs",
    "run_batch",
    "run_jobs",
]


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


@dataclass(frozen=True)
class Job:
    """One call of a batch or a comparison, checked before anything is sent."""

    #: the prompt's place in the input
    prompt_index: int
    prompt: BatchPrompt
    request: ChatRequest
    steps: list[Step]
    policy: CallPolicy
    #: the one provider a comparison pins this call to (None: the plan's order)
    provider: str | None = None
    #: which repeat of the prompt this is (0-based)
    repeat: int = 0


#: checks a call's prompt and keywords: `(prompt, options) → (request, plan, policy)`
PrepareCall = Callable[[str, Mapping[str, Any]], tuple[ChatRequest, list[Step], CallPolicy]]


def plan_jobs(
    prompts: Iterable[str | Mapping[str, Any] | BatchPrompt],
    role: object,
    options: Mapping[str, Any],
    prepare: PrepareCall,
    *,
    concurrency: int = 1,
    pins: Sequence[str | None] = (None,),
    repeats: int = 1,
) -> tuple[list[BatchPrompt], list[Job]]:
    """Every prompt × pinned provider × repeat as a Job, all checked before any is sent.

    Jobs run repeat by repeat, each prompt on every pin in turn, so load over time hits
    every provider alike. A pinned job measures: no fallback, breaker or cache.
    `concurrency` is checked here too, so a bad one fails before any progress bar.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if role is not None and not isinstance(role, str):
        raise ConfigError("batch() and compare() take a role name; set roles= on the Session")
    if isinstance(prompts, str):
        raise ConfigError("prompts must be a list of prompts, not one string")
    items = normalise_prompts(prompts, role)
    if repeats < 1:
        raise ConfigError("repeats must be at least 1")
    jobs = []
    for repeat in range(repeats):
        for index, item in enumerate(items):
            for pin in pins:
                call = {**options, **({"role": item.role} if item.role else {})}
                if pin is not None:
                    call.update(providers=[pin], fallbacks=False)
                request, steps, policy = prepare(item.prompt, call)
                if pin is not None:
                    policy = dataclasses.replace(policy, use_breakers=False, use_cache=False)
                jobs.append(Job(index, item, request, steps, policy, pin, repeat))
    return items, jobs


async def run_jobs(
    jobs: Sequence[Job],
    chat: Callable[[Job], Awaitable[ChatResult]],
    *,
    concurrency: int,
    finished: list[BatchItem],
    save_to: str | Path | None = None,
    bar: Any = None,
) -> list[BatchItem]:
    """Run `jobs` through `chat`; one item per job, in job order.

    Each item joins `finished` (kept sorted) as it ends, is appended to `save_to` and
    ticks `bar`, so an interrupted run keeps what it did.
    """
    target = Path(save_to) if save_to is not None else None

    def on_done(item: BatchItem) -> None:
        finished.append(item)
        finished.sort(key=lambda i: i.index)
        if target is not None:
            append_jsonl(target, item)
        if bar is not None:
            bar.update(1)

    async def ask(index: int) -> ChatResult:
        return await chat(jobs[index])

    try:
        return await run_batch(
            [job.prompt for job in jobs], ask, concurrency=concurrency, on_done=on_done
        )
    finally:
        if bar is not None:
            bar.close()


def progress_bar(total: int, label: str) -> Any:
    """tqdm.auto: a widget bar in Jupyter, a text bar in a terminal (loaded on first use).

    Make it in the caller's thread, so Jupyter shows it under the running cell.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="call")


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
    """Append one item as a JSON line (flushed at once, so a crash keeps it); a file it
    creates is readable by its owner only (`nvgw_nb.private_files`)."""
    with open_private(path, "a") as handle:
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
