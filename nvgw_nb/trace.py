"""The attempt trace as something people read: a plain-text table and HTML.

Only fields of `Attempt` are shown — never headers, never secrets.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from nvgw_nb.providers.registry import provider_color
from nvgw_nb.results import Attempt, ChatResult

__all__ = ["attempts_html", "attempts_text", "result_html", "result_text", "summary_line"]

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


def attempts_text(attempts: Sequence[Attempt]) -> str:
    """A fixed-width table of the attempts."""
    rows = [COLUMNS, *(_row(a) for a in attempts)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def summary_line(result: ChatResult) -> str:
    """One line: who served the answer, how fast, whether it fell back, attempts, cost."""
    cost = f"est. cost ${result.cost_usd:.6f}" + (
        " (some tokens estimated)" if result.cost_estimated else ""
    )
    if result.cached:
        # A replay sent nothing: the attempts, fallback and cost are the recording's.
        recorded = sum(a.cost_usd for a in result.attempts)
        return (
            f"served by {result.served_by} ({result.model}), CACHED: replayed in "
            f"{result.latency_s:.3f} s, no request sent; recorded in "
            f"{result.original_latency_s or 0.0:.2f} s, fell back: "
            f"{'yes' if result.fell_back else 'no'}, {len(result.attempts)} attempt(s), "
            f"est. cost ${recorded:.6f}" + ("; SIMULATED" if result.simulated else "")
        )
    return (
        f"served by {result.served_by} ({result.model}) in {result.latency_s:.2f} s; "
        f"fell back: {'yes' if result.fell_back else 'no'}; {len(result.attempts)} attempt(s); "
        f"{cost}" + ("; SIMULATED" if result.simulated else "")
    )


def result_text(result: ChatResult) -> str:
    """Summary line, then the attempts table."""
    return summary_line(result) + "\n" + attempts_text(result.attempts)


def attempts_html(attempts: Sequence[Attempt]) -> str:
    """An HTML table of the attempts (escaped)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for attempt in attempts:
        colour = {"ok": "#e8f5e0", "error": "#fbe9e7", "skipped": "#f3f3f3"}[attempt.outcome]
        cells = "".join(f"<td>{html.escape(cell)}</td>" for cell in _row(attempt))
        body.append(f'<tr style="background:{colour}">{cells}</tr>')
    return (
        '<table style="font-size:12px;border-collapse:collapse">'
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
