"""Griffe extension for the API reference: doctest examples (`>>>` lines) in docstrings
become fenced `pycon` blocks, which Markdown would otherwise read as nested quotes.

The package's docstrings stay plain (doctest-style, as the package writes them); only
their rendering changes. `# doctest: …` directives are left out of what is shown.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")


def fence_doctests(text: str) -> str:
    """`text` with every run of `>>>` lines (their `...` continuations and output up to
    a blank line) wrapped in a ```pycon fence; text already in a fence is left alone."""
    out: list[str] = []
    lines = text.splitlines()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        block: list[str] = []
        while i < len(lines) and lines[i].strip():
            block.append(_DIRECTIVE.sub("", lines[i].removeprefix(indent)))
            i += 1
        out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence doctest examples in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
