"""Text made safe to put in Markdown that JupyterLab, VS Code and GitHub render.

Every `_repr_markdown_` / `to_markdown` in the package passes the text it did not write
itself (provider names, labels, prompts, verdicts, dollar amounts) through
`escape_markdown`. The reason is `$`: these viewers render the text between two dollar
signs as LaTeX, so "$0.0584 … $0.4097" in one table loses everything between them. A `|`
would end a table cell early, and `*`, `_`, backticks or brackets would turn into
emphasis, code or links.

>>> escape_markdown("$0.05 | a*b")
'\\\\$0.05 \\\\| a\\\\*b'
"""

from __future__ import annotations

import re

__all__ = ["escape_markdown", "table_row", "unescape_markdown"]

#: characters that are Markdown (or LaTeX in Jupyter) syntax anywhere in a line; CommonMark
#: lets any ASCII punctuation be backslash-escaped, so escaping these is always safe
_ACTIVE = re.compile(r"([\\`*_{}\[\]<>|$~&])")
#: a backslash escape of ASCII punctuation (all CommonMark allows)
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
#: characters that are syntax only at the start of a line or list item (a heading, a
#: nested list, a quote)
_LEADING = re.compile(r"^([#+\-])")


def escape_markdown(text: object, *, extra: str = "") -> str:
    """`text` inert in Markdown and safe in a table cell: `$` (LaTeX in Jupyter), `|`,
    `*`, `_`, `~`, `&`, backticks, brackets and braces backslash-escaped, a leading `#`,
    `+` or `-` too, and line breaks flattened to spaces. `extra` names more ASCII
    punctuation to escape everywhere (e.g. "()" for text that must never look like a
    link target, even to a plain-text reader)."""
    flat = " ".join(str(text).split())
    out = _ACTIVE.sub(r"\\\1", flat)
    if extra:
        out = re.sub(f"([{re.escape(extra)}])", r"\\\1", out)
    return _LEADING.sub(r"\\\1", out)


def table_row(cells: list[str] | tuple[str, ...]) -> str:
    """One pipe-table row of `cells`, each escaped."""
    return "| " + " | ".join(escape_markdown(c) for c in cells) + " |"


def unescape_markdown(text: str) -> str:
    """`text` with its backslash escapes undone: Markdown meant for a terminal, where
    nothing renders it (`python -m nvgw_nb.demo` prints the summary so)."""
    return _ESCAPED.sub(r"\1", text)
