"""HTML the panels show: answers, status lines, errors, the summary table.

Everything is escaped; nothing here reads a secret. The attempt trace itself is
`nvgw_nb.trace.attempts_html`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from nvgw_nb.errors import AllProvidersFailed, NvgwError
from nvgw_nb.providers.gateway import GatewayProvider
from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult
from nvgw_nb.trace import attempts_html, summary_facts

__all__ = [
    "answer_html",
    "badge",
    "error_html",
    "markdown_html",
    "note_html",
    "result_status_html",
    "token_status_html",
    "trace_html",
]

RED = "#c62828"
AMBER = "#b35900"
GREY = "#666"


def badge(provider: str) -> str:
    """A coloured pill with the provider's name."""
    colour = provider_color(provider)
    return (
        f'<span class="nvgw-badge" style="background:{colour};color:white;'
        f'padding:1px 7px;border-radius:9px;font-weight:600">{html.escape(provider)}</span>'
    )


def answer_html(text: str, *, note: str = "") -> str:
    """The answer text as it stands (pre-wrapped), and an optional grey note under it."""
    body = (
        f'<div class="nvgw-answer" style="white-space:pre-wrap;line-height:1.4">'
        f"{html.escape(text)}</div>"
        if text
        else ""
    )
    return body + (note_html(note) if note else "")


def note_html(text: str, *, colour: str = GREY) -> str:
    """A short line of small text."""
    return (
        f'<div class="nvgw-note" style="color:{colour};font-size:12px;margin:4px 0">'
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
        '<div class="nvgw-status" style="margin:6px 0;font-size:13px">'
        f"served by {badge(f.served_by)} " + " · ".join(parts) + "</div>"
    )


def trace_html(attempts: Sequence[Attempt], *, open_: bool = False) -> str:
    """The attempt trace in a collapsible block."""
    if not attempts:
        return ""
    label = f"attempt trace ({len(attempts)} attempt{'s' if len(attempts) != 1 else ''})"
    return (
        f'<details class="nvgw-trace"{" open" if open_ else ""}>'
        f'<summary style="cursor:pointer;font-size:12px">{label}</summary>'
        f"{attempts_html(attempts)}</details>"
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
        f'padding:2px 8px;margin:6px 0"><b>{html.escape(title)}</b>: {body}</div>'
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


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    return _CODE.sub(r"<code>\1</code>", escaped)


def markdown_html(text: str) -> str:
    """The Markdown of `Summary.to_markdown()` as HTML: paragraphs, pipe tables, bullets."""
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
            cells = "".join(f"<th>{_inline(c)}</th>" for c in head)
            body = "".join(
                "<tr>"
                + "".join(
                    f'<td style="text-align:{aligns[i] if i < len(aligns) else "left"}">'
                    f"{_inline(c)}</td>"
                    for i, c in enumerate(row)
                )
                + "</tr>"
                for row in rows
            )
            out.append(
                '<table class="nvgw-summary" style="border-collapse:collapse;font-size:12px">'
                f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"
            )
            table.clear()
        if bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in bullets) + "</ul>")
            bullets.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|") and line.endswith("|"):
            if bullets:
                flush()
            table.append([c.strip() for c in line[1:-1].split("|")])
        elif line.startswith("- "):
            if table:
                flush()
            bullets.append(line[2:])
        else:
            flush()
            if line:
                out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "".join(out)
