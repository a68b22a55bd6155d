"""The attempt trace as something people read: a plain-text table and HTML.

The text table has a column per fact; where it would be wider than `TEXT_WIDTH` (a
notebook cell wraps longer lines into an unreadable mess) `result_text` lays the
attempts out one block each instead. The HTML table (`attempts_html`) is the rich view.
Only fields of `Attempt` are shown — never headers, never secrets.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult

__all__ = [
    "TEXT_WIDTH",
    "SummaryFacts",
    "attempts_blocks",
    "attempts_html",
    "attempts_text",
    "result_html",
    "result_text",
    "summary_facts",
    "summary_line",
]

#: the widest text trace `result_text` (so `ChatResult.trace()`) prints as a table; a
#: wider one becomes one block per attempt (a notebook cell shows about 100 columns)
TEXT_WIDTH = 100
#: the narrowest layout offered: below this, lines are cut at this width anyway
_MIN_WIDTH = 40
#: lines of an attempt's error message shown in a block (the rest is cut with "…")
_ERROR_LINES = 3

COLUMNS = (
    "provider",
    "model",
    "try",
    "outcome",
    "status",
    "failure",
    "waited s",
    "latency s",
    "tokens",
    "cost $",
    "correlationId / request id",
)


def _row(attempt: Attempt) -> tuple[str, ...]:
    usage = attempt.usage
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens}" if usage else ""
    if usage and attempt.usage_estimated:
        tokens += " (est.)"
    failure = attempt.error_kind or ""
    if attempt.repairs:
        failure = (failure + " " if failure else "") + "repaired: " + ", ".join(attempt.repairs)
    ids = " / ".join(i for i in (attempt.correlation_id, attempt.request_id) if i)
    return (
        attempt.provider,
        attempt.model,
        str(attempt.attempt) if attempt.attempt else "-",
        attempt.outcome,
        str(attempt.status_code or ""),
        failure,
        f"{attempt.backoff_s:.2f}" if attempt.backoff_s else "",
        f"{attempt.elapsed_s:.3f}" if attempt.outcome != "skipped" else "",
        tokens,
        f"{attempt.cost_usd:.6f}" if attempt.cost_usd else "",
        ids,
    )


def attempts_text(attempts: Sequence[Attempt], *, width: int | None = None) -> str:
    """A fixed-width table of the attempts; with `width`, one block per attempt
    (`attempts_blocks`) when the table would be wider than that."""
    rows = [COLUMNS, *(_row(a) for a in attempts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    table = [line.rstrip() for line in lines]
    if width is not None and max(len(line) for line in table) > width:
        return attempts_blocks(attempts, width=width)
    return "\n".join(table)


def attempts_blocks(attempts: Sequence[Attempt], *, width: int = TEXT_WIDTH) -> str:
    """The attempts one block each, every line at most `width` (at least 40) wide:

    1. nvidia-nim  meta/llama-4-scout-17b-16e-instruct  try 1
       error 503 server_error · latency 0.014 s
       nvidia-nim answered HTTP 503: Service Unavailable
       id 0095ee74-0dde-4885-9f66-27495c4282e0
    """
    width = max(width, _MIN_WIDTH)
    blocks = []
    for number, attempt in enumerate(attempts, 1):
        (provider, model, tried, outcome, status, failure, waited, latency, tokens, cost, ids) = (
            _row(attempt)
        )
        head = f"{number}. {provider}  {model}" + (f"  try {tried}" if tried != "-" else "")
        facts = [" ".join(p for p in (outcome, status, failure) if p)]
        facts += [f"waited {waited} s"] if waited else []
        facts += [f"latency {latency} s"] if latency else []
        facts += [f"tokens {tokens}"] if tokens else []
        facts += [f"cost ${cost}"] if cost else []
        lines = _wrap(head, width, indent="   ")
        lines += _wrap(" · ".join(facts), width, indent="   ", first="   ")
        if attempt.error and attempt.outcome != "ok":
            error = _wrap(" ".join(attempt.error.split()), width, indent="   ", first="   ")
            if len(error) > _ERROR_LINES:
                error = error[:_ERROR_LINES]
                error[-1] = error[-1][: width - 1].rstrip() + "…"
            lines += error
        if ids:
            label = "ids" if " / " in ids else "id"
            lines += _wrap(f"{label} {ids}", width, indent="   ", first="   ")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _wrap(text: str, width: int, *, indent: str, first: str = "") -> list[str]:
    """`text` in lines of at most `width` (long words, such as ids, are cut)."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_on_hyphens=False,
    ) or [first.rstrip()]


@dataclass(frozen=True)
class SummaryFacts:
    """The facts of a result's one-line summary, each worded once; the text line
    (`summary_line`) and the panels' HTML status line arrange them."""

    served_by: str
    model: str
    #: "0.52 s" (a replay: how long the replay took, "0.004 s")
    latency: str
    fell_back: bool
    #: "2 attempt(s)"
    attempts: str
    #: "12 + 34 tokens", with " (est.)" when the provider reported no usage
    tokens: str
    #: "$0.000123": billed now (a replay: $0)
    cost: str
    cost_estimated: bool
    truncated: bool
    cached: bool
    #: a replay's recording: "0.52 s" and what it cost then
    recorded_latency: str
    recorded_cost: str
    simulated: bool


def summary_facts(result: ChatResult) -> SummaryFacts:
    """The facts of `result`'s summary, worded."""
    usage = result.usage
    return SummaryFacts(
        served_by=result.served_by,
        model=result.model,
        latency=f"{result.latency_s:.3f} s" if result.cached else f"{result.latency_s:.2f} s",
        fell_back=result.fell_back,
        attempts=f"{len(result.attempts)} attempt(s)",
        tokens=f"{usage.prompt_tokens} + {usage.completion_tokens} tokens"
        + (" (est.)" if result.cost_estimated else ""),
        cost=f"${result.cost_usd:.6f}",
        cost_estimated=result.cost_estimated,
        truncated=result.truncated,
        cached=result.cached,
        recorded_latency=f"{result.original_latency_s or 0.0:.2f} s",
        recorded_cost=f"${sum(a.cost_usd for a in result.attempts):.6f}",
        simulated=result.simulated,
    )


def summary_line(result: ChatResult) -> str:
    """One line: who served the answer, how fast, whether it fell back, attempts, cost."""
    f = summary_facts(result)
    fell_back = "yes" if f.fell_back else "no"
    simulated = "; SIMULATED" if f.simulated else ""
    if f.cached:
        # A replay sent nothing: the attempts, fallback and cost are the recording's.
        return (
            f"served by {f.served_by} ({f.model}), CACHED: replayed in {f.latency}, no request "
            f"sent; recorded in {f.recorded_latency}, fell back: {fell_back}, {f.attempts}, "
            f"est. cost {f.recorded_cost}{simulated}"
        )
    estimated = " (some tokens estimated)" if f.cost_estimated else ""
    return (
        f"served by {f.served_by} ({f.model}) in {f.latency}; fell back: {fell_back}; "
        f"{f.attempts}; est. cost {f.cost}{estimated}{simulated}"
    )


def result_text(result: ChatResult, *, width: int | None = TEXT_WIDTH) -> str:
    """Summary line, then the attempts table — or, when the table would be wider than
    `width` columns, the summary wrapped and one block per attempt. `width=None`: the
    table, however wide."""
    line = summary_line(result)
    if width is None:
        return line + "\n" + attempts_text(result.attempts)
    body = attempts_text(result.attempts, width=width)
    if len(line) > width:
        line = "\n".join(_pack(line.split("; "), max(width, _MIN_WIDTH)))
    return line + "\n" + body


def _pack(parts: Sequence[str], width: int) -> list[str]:
    """`parts` joined by "; " into lines of at most `width`, broken between parts (the
    lines after the first indented)."""
    lines: list[str] = []
    room = width - 1  # a line may end with ";"
    for part in parts:
        if lines and len(lines[-1]) + 2 + len(part) <= room:
            lines[-1] += "; " + part
        elif lines:
            lines[-1] += ";"
            lines += _wrap(part, room, indent="  ", first="  ")
        else:
            lines += _wrap(part, room, indent="  ")
    return lines


#: the cells' own style, inline: front ends differ in how they pad and align table cells
#: (JupyterLab right-aligns them; inside a widget they inherit a 28 px line height)
_CELL = "padding:2px 6px;text-align:left;vertical-align:top;line-height:1.35;"
#: values kept on one line (names and numbers); model names and ids wrap anywhere, so
#: that the table fits a notebook at laptop width (about 800 px)
_ONE_LINE = {"provider", "try", "outcome", "status", "waited s", "latency s", "tokens", "cost $"}
_ANYWHERE = {"model", "correlationId / request id"}


def _cell_style(column: str) -> str:
    if column in _ONE_LINE:
        return _CELL + "white-space:nowrap"
    if column in _ANYWHERE:
        return _CELL + "overflow-wrap:anywhere;min-width:7em"
    return _CELL


def attempts_html(attempts: Sequence[Attempt]) -> str:
    """An HTML table of the attempts (escaped)."""
    head = "".join(f'<th style="{_CELL}">{html.escape(c)}</th>' for c in COLUMNS)
    styles = [_cell_style(c) for c in COLUMNS]
    body = []
    for attempt in attempts:
        colour = {"ok": "#e8f5e0", "error": "#fbe9e7", "skipped": "#f3f3f3"}[attempt.outcome]
        cells = "".join(
            f'<td style="{style}">{html.escape(cell)}</td>'
            for cell, style in zip(_row(attempt), styles, strict=True)
        )
        body.append(f'<tr style="background:{colour}">{cells}</tr>')
    return (
        '<table class="nvgw-attempts" style="font-size:12px;border-collapse:collapse">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def result_html(result: ChatResult, *, max_chars: int = 2000) -> str:
    """The answer (escaped, cut at `max_chars`), a summary line and the attempts table."""
    content = (
        result.content if len(result.content) <= max_chars else (result.content[:max_chars] + "…")
    )
    calls = "".join(
        f"<li><code>{html.escape(c.name)}({html.escape(str(c.arguments))})</code></li>"
        for c in result.tool_calls
    )
    badge = provider_color(result.served_by)
    cached = (
        '<span class="nvgw-cached" style="background:#6e7781;color:white;padding:1px 6px;'
        'border-radius:3px">cached</span> '
        if result.cached
        else ""
    )
    return (
        '<div class="nvgw-result">'
        f'<div style="white-space:pre-wrap">{html.escape(content)}</div>'
        + (f"<ul>{calls}</ul>" if calls else "")
        + f'<div style="margin:4px 0"><span style="background:{badge};color:white;'
        f'padding:1px 6px;border-radius:3px">{html.escape(result.served_by)}</span> '
        f"{cached}{html.escape(summary_line(result))}</div>"
        f"<details><summary>attempt trace</summary>{attempts_html(result.attempts)}</details>"
        "</div>"
    )
