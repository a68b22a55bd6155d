"""Prompts from a file: `.jsonl` (a prompt and an optional role per line) or plain text.

>>> prompts = nv.read_prompts("examples/prompts.jsonl")   # doctest: +SKIP
>>> cmp = session.compare(prompts)                         # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from nvgw_nb.batch import BatchPrompt
from nvgw_nb.errors import ConfigError
from nvgw_nb.roles import ROLE_NAMES

__all__ = ["PromptsFileError", "read_prompts"]


class PromptsFileError(ConfigError):
    """A prompts file that cannot be used; the message names the file (and line)."""


def read_prompts(path: str | Path) -> list[BatchPrompt]:
    """The prompts of a file: `.jsonl` or plain text.

    `.jsonl`: one JSON object per line with a `prompt` string and an optional `role`
    (one of the roles); blank lines are skipped. Any other file: one prompt per line,
    blank lines and lines starting with `#` skipped. Bad lines raise one PromptsFileError
    naming every one of them, each with its number.

    >>> read_prompts("examples/prompts.jsonl")[0].role   # doctest: +SKIP
    'router'
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise PromptsFileError(f"cannot read {source}: {reason}") from None
    if source.suffix.lower() == ".jsonl":
        prompts, problems = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                prompts.append(_jsonl_prompt(number, line))
            except ValueError as err:
                problems.append(str(err))
        if problems:
            # every bad line at once: a file with three is fixed in one go, not four runs
            if len(problems) == 1:
                raise PromptsFileError(f"{source} {problems[0]}")
            raise PromptsFileError(
                f"{source} has {len(problems)} bad lines:\n  " + "\n  ".join(problems)
            )
    else:
        prompts = [
            BatchPrompt(prompt=line.strip())
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not prompts:
        raise PromptsFileError(f"{source} has no prompts")
    return prompts


def _jsonl_prompt(number: int, line: str) -> BatchPrompt:
    """One `.jsonl` line's prompt; ValueError("line N: what is wrong") when it has none."""
    where = f"line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        raise ValueError(f'{where}: expected an object with a "prompt" string')
    if not data["prompt"].strip():
        raise ValueError(f"{where}: the prompt is empty")
    role = data.get("role")
    if role is not None and role not in ROLE_NAMES:
        raise ValueError(f"{where}: unknown role {role!r}; choose from {', '.join(ROLE_NAMES)}")
    return BatchPrompt(prompt=data["prompt"], role=role)
