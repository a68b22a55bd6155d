"""HTML the panels show: answers, status lines, errors, the summary table.

Everything is escaped; nothing here reads a secret. The attempt trace itself is
`nvgw_nb.trace.attempts_html`.
"""

from __future__ import annotations

import difflib
import html
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nvgw_nb.errors import AllProvidersFailed, NvgwError
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult
from nvgw_nb.trace import attempts_html, summary_facts

if TYPE_CHECKING:
    from nvgw_nb.compare import Comparison

__all__ = [
    "CELL",
    "TABLE",
    "answer_html",
    "badge",
    "error_html",
    "markdown_html",
    "note_html",
    "result_status_html",
    "side_by_side_html",
    "token_status_html",
    "trace_html",
    "word_diff_html",
]

RED = "#c62828"
AMBER = "#b35900"
GREY = "#666"
#: a table's own style. Set inline, because inside JupyterLab an HTML widget inherits a
#: 28 px line height (ipywidgets) and right-aligned, unpadded or centred cells
#: (JupyterLab's rendered-HTML rules, which differ between front ends)
TABLE = "border-collapse:collapse;font-size:12px;line-height:1.35;margin:4px 0"
#: a cell's own style: padded, left-aligned, top-aligned, text kept as it is written
CELL = (
    "padding:3px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #e0e0e0;"
    "white-space:normal"
)
_INS = "background:#d4f8d4;text-decoration:none"
_DEL = "background:#fbd3d3;color:#8a1c1c"
_TOKENS = re.compile(r"\s+|\S+")
#: texts longer than this (in words) are not diffed (difflib is quadratic at worst)
DIFF_MAX_TOKENS = 3000


def badge(provider: str) -> str:
    """A coloured pill with the provider's name (never broken over two lines)."""
    colour = provider_color(provider)
    return (
        f'<span class="nvgw-badge" style="background:{colour};color:white;'
        "padding:1px 7px;border-radius:9px;font-weight:600;white-space:nowrap;"
        f'display:inline-block;line-height:1.4">{html.escape(provider)}</span>'
    )


def answer_html(text: str, *, note: str = "") -> str:
    """The answer text as it stands (pre-wrapped, left-aligned), and an optional grey
    note under it."""
    body = (
        '<div class="nvgw-answer" style="white-space:pre-wrap;line-height:1.4;'
        f'text-align:left;overflow-wrap:anywhere">{html.escape(text)}</div>'
        if text
        else ""
    )
    return body + (note_html(note) if note else "")


def note_html(text: str, *, colour: str = GREY) -> str:
    """A short line of small text."""
    return (
        f'<div class="nvgw-note" style="color:{colour};font-size:12px;margin:4px 0;'
        f'line-height:1.4">'
        f"{html.escape(text)}</div>"
    )


def result_status_html(result: ChatResult) -> str:
    """Served-by badge, fallback, latency, tokens and cost on one line (the facts of
    `trace.summary_line`, arranged for a panel)."""
    f = summary_facts(result)
    fell = ' style="color:#b35900"' if f.fell_back else ""
    parts = [
        f"<b>{html.escape(f.model)}</b>",
        f"<span{fell}>{'fell back' if f.fell_back else 'no fallback'}</span>",
        f.latency,
        f.tokens,
        f.cost,
    ]
    if f.truncated:
        parts.append("truncated at max_tokens")
    if f.cached:
        parts.append(
            '<span class="nvgw-cached" style="background:#6e7781;color:white;padding:1px 6px;'
            f'border-radius:3px">cached</span> replay, nothing sent (recorded in '
            f"{f.recorded_latency})"
        )
    if f.simulated:
        parts.append('<b style="color:#b35900">SIMULATED</b>')
    return (
        '<div class="nvgw-status" style="margin:6px 0;font-size:13px;line-height:1.6">'
        f"served by {badge(f.served_by)} " + " · ".join(parts) + "</div>"
    )


def trace_html(attempts: Sequence[Attempt], *, open_: bool = False) -> str:
    """The attempt trace in a collapsible block."""
    if not attempts:
        return ""
    label = f"attempt trace ({len(attempts)} attempt{'s' if len(attempts) != 1 else ''})"
    return (
        f'<details class="nvgw-trace"{" open" if open_ else ""} style="line-height:1.4">'
        f'<summary style="cursor:pointer;font-size:12px">{label}</summary>'
        f'<div style="overflow-x:auto">{attempts_html(attempts)}</div></details>'
    )


def error_html(err: BaseException) -> str:
    """A short red message: the error's own text (it says what to do), never a traceback.

    `AllProvidersFailed` shows its one line per provider; the attempts follow, collapsed.
    """
    if isinstance(err, NvgwError):
        title = type(err).__name__
        message = err.message
        attempts = err.attempts
    else:  # a bug, not a provider problem: name it, keep the traceback out of the panel
        title = "Unexpected error"
        message = f"{type(err).__name__}: {err}"
        attempts = []
    lines = message.splitlines() if isinstance(err, AllProvidersFailed) else [message]
    body = "<br>".join(html.escape(line.strip()) for line in lines if line.strip())
    return (
        f'<div class="nvgw-error" style="color:{RED};border-left:3px solid {RED};'
        f'padding:2px 8px;margin:6px 0;line-height:1.4"><b>{html.escape(title)}</b>: {body}</div>'
        + trace_html(attempts)
    )


def token_status_html(status: dict[str, Any]) -> str:
    """`Session.token_status()` in words: held or not, when it refreshes, the last error."""
    if not status.get("configured"):
        return note_html(
            "The LLM Gateway is not configured in this Session, so there is no Starfleet "
            f"token (set {' and '.join(GatewayProvider.key_variables)})."
        )
    if status.get("held"):
        line = (
            f"✔ Starfleet token held — refresh in {_duration(status.get('refresh_in_s'))}, "
            f"expires in {_duration(status.get('expires_in_s'))} "
            f"(fetched {status.get('fetched', 0)}×)"
        )
        colour = "#2e7d32"
    else:
        line = "No Starfleet token held yet: one is fetched on the first gateway request."
        colour = GREY
    error = status.get("last_error")
    extra = note_html(f"Last refresh failed: {error}", colour=RED) if error else ""
    return (
        f'<div class="nvgw-token" style="color:{colour};font-size:13px">{html.escape(line)}</div>'
        + extra
    )


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`(.+?)`")
#: a backslash-escaped ASCII punctuation character (CommonMark): the character itself
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
#: a cell border: a `|` with no backslash before it
_CELL_BORDER = re.compile(r"(?<!\\)\|")
#: stands in for an escaped character while bold and code are found (Unicode private use)
_HELD = 0xE000


def _inline(text: str) -> str:
    """`text`'s bold and code spans as HTML, its backslash escapes (a backslash before
    `$`, `_`, `|` …) as the characters they stand for, everything else escaped."""
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(1))
        return chr(_HELD + len(held) - 1)

    escaped = html.escape(_ESCAPED.sub(hold, text))
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    for index, char in enumerate(held):
        escaped = escaped.replace(chr(_HELD + index), html.escape(char))
    return escaped


def markdown_html(text: str) -> str:
    """The Markdown of `Summary.to_markdown()` as HTML: paragraphs, pipe tables (padded
    cells, the alignment the Markdown asks for), bullets; backslash escapes show as the
    characters they escape."""
    out: list[str] = []
    table: list[list[str]] = []
    bullets: list[str] = []

    def flush() -> None:
        if table:
            head, *rows = table
            aligns: list[str] = []
            if rows and all(c and set(c) <= set("-:") for c in rows[0]):
                aligns = ["right" if c.endswith(":") else "left" for c in rows[0]]
                rows = rows[1:]

            def align(i: int) -> str:
                return aligns[i] if i < len(aligns) else "left"

            cells = "".join(
                f'<th style="{CELL};text-align:{align(i)};border-bottom:1px solid #999">'
                f"{_inline(c)}</th>"
                for i, c in enumerate(head)
            )
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td style="{CELL};text-align:{align(i)}">{_inline(c)}</td>'
                    for i, c in enumerate(row)
                )
                + "</tr>"
                for row in rows
            )
            out.append(
                f'<div style="overflow-x:auto"><table class="nvgw-summary" style="{TABLE}">'
                f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>"
            )
            table.clear()
        if bullets:
            out.append(
                '<ul style="line-height:1.4">'
                + "".join(f"<li>{_inline(b)}</li>" for b in bullets)
                + "</ul>"
            )
            bullets.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|") and line.endswith("|") and not line.endswith("\\|"):
            if bullets:
                flush()
            table.append([c.strip() for c in _CELL_BORDER.split(line[1:-1])])
        elif line.startswith("- "):
            if table:
                flush()
            bullets.append(line[2:])
        else:
            flush()
            if line:
                out.append(f'<p style="line-height:1.4;margin:4px 0">{_inline(line)}</p>')
    flush()
    return "".join(out)


def word_diff_html(baseline: str, text: str) -> str:
    """`text` with the words that differ from `baseline` marked: <ins> for words only in
    `text`, <del> for words only in `baseline`; every piece escaped, spacing and line
    breaks kept as written."""
    old, new = _TOKENS.findall(baseline), _TOKENS.findall(text)
    if len(old) > DIFF_MAX_TOKENS or len(new) > DIFF_MAX_TOKENS:
        return html.escape(text)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(new[j1:j2])))
            continue
        removed = "".join(old[i1:i2])
        added = "".join(new[j1:j2])
        if removed.strip():
            out.append(f'<del style="{_DEL}">{html.escape(removed)}</del>')
        if added.strip():
            out.append(f'<ins style="{_INS}">{html.escape(added)}</ins>')
        elif added:
            out.append(html.escape(added))
    return "".join(out)


def side_by_side_html(comparison: Comparison, *, limit: int = 10) -> str:
    """The first answers of the first two providers per prompt, in two left-aligned
    columns that keep the answers' and prompts' line breaks; on the right, the words that
    differ from the left ("" with fewer than two providers)."""
    if len(comparison.providers) < 2:
        return ""
    left, right = comparison.providers[:2]
    scores = comparison.agreement()
    pre = f"{CELL};white-space:pre-wrap;overflow-wrap:anywhere;width:50%"
    rows = []
    for index, prompt in enumerate(comparison.prompts[:limit]):
        a, b = (_first_answer(comparison, p, index) for p in (left, right))
        score = "" if math.isnan(scores[index]) else f" · agreement {scores[index]:.2f}"
        a_html = html.escape(a) if a is not None else "<i>failed</i>"
        if b is None:
            b_html = "<i>failed</i>"
        else:
            b_html = word_diff_html(a, b) if a is not None else html.escape(b)
        rows.append(
            f'<tr><td colspan="2" style="{CELL};white-space:pre-wrap;background:#f6f6f6">'
            f"<b>#{index}</b> {html.escape(prompt.prompt)}"
            f'<small style="color:{GREY}">{score}</small></td></tr>'
            f'<tr><td class="nvgw-answer" style="{pre}">{a_html}</td>'
            f'<td class="nvgw-answer" style="{pre}">{b_html}</td></tr>'
        )
    head = (
        f'<tr><th style="{CELL}">{html.escape(left)}</th>'
        f'<th style="{CELL}">{html.escape(right)}</th></tr>'
    )
    return (
        note_html(f"Words of {right}'s answer that differ from {left}'s are marked.")
        + f'<table class="nvgw-compare" style="{TABLE};table-layout:fixed;width:100%">'
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _first_answer(comparison: Comparison, provider: str, index: int) -> str | None:
    """`provider`'s first answer to prompt `index` (None if it failed or is missing)."""
    row = next((r for r in comparison.rows_for(provider) if r.prompt_index == index), None)
    return row.content if row is not None and row.ok else None
