"""The answers section of a comparison report: every repeat's answer of two providers side
by side, each with its role, latency, estimated cost, or failure kind and error."""

from __future__ import annotations

import html
import math

from nvgw_nb.compare import Comparison, ComparisonRow, _diff_html

__all__ = ["answers_html", "answers_section"]


def answers_section(cmp: Comparison, limit: int) -> str:
    """Every repeat's answer of the first two providers to each prompt, with the prompt's
    role and each request's latency, estimated cost or failure kind."""
    if len(cmp.providers) < 2:
        return "<p>Only one provider was compared: there is nothing to show side by side.</p>"
    left, right = cmp.providers[:2]
    shown = min(limit, len(cmp.prompts))
    more = (
        f"the first {shown} of {len(cmp.prompts)} prompts"
        if shown < len(cmp.prompts)
        else (f"all {shown} prompts")
    )
    others = (
        f" (of the {len(cmp.providers)} providers, the first two)" if len(cmp.providers) > 2 else ""
    )
    intro = (
        f"Every repeat's answer of {left} (left) and {right} (right){others} to each prompt, "
        f"{more}. Above each answer: the repeat, its latency and estimated cost, or why the "
        "request failed (its failure kind and error); repeats are numbered from 1 here, from 0 "
        "in results.csv. Words only on the left are marked red, "
        "words only on the right green. Agreement is the mean word-level similarity of the "
        "two providers' answers to the prompt."
    )
    return f"<p>{html.escape(intro)}</p>\n{answers_html(cmp, left, right, limit=limit)}"


def answers_html(cmp: Comparison, left: str, right: str, *, limit: int = 50) -> str:
    """The answers table of the report: per prompt a header row (number, role, prompt,
    agreement), then one row per repeat with `left`'s and `right`'s answers side by side."""
    esc = html.escape
    agreement = cmp.agreement()
    by_cell: dict[tuple[str, int, int], ComparisonRow] = {
        (row.provider, row.prompt_index, row.repeat): row for row in cmp.rows
    }
    blocks = []
    for index, prompt in enumerate(cmp.prompts[:limit]):
        role = f' <span class="role">{esc(prompt.role)}</span>' if prompt.role else ""
        score = agreement[index] if index < len(agreement) else math.nan
        score_text = "" if math.isnan(score) else f" · agreement {score:.2f}"
        blocks.append(
            f'<tr><td colspan=2 class="prompt"><b>#{index}</b>{role} {esc(prompt.prompt)}'
            f"<small>{score_text}</small></td></tr>"
        )
        repeats = sorted(
            {r.repeat for r in cmp.rows if r.prompt_index == index and r.provider in (left, right)}
        )
        for repeat in repeats:
            a, b = by_cell.get((left, index, repeat)), by_cell.get((right, index, repeat))
            a_html, b_html = _diff_html(_answer(a), _answer(b))
            blocks.append(
                f"<tr><td>{_meta(a, repeat)}{a_html}</td><td>{_meta(b, repeat)}{b_html}</td></tr>"
            )
    head = f"<tr><th>{esc(left)}</th><th>{esc(right)}</th></tr>"
    return (
        '<table class="nvgw-compare" style="font-size:12px;table-layout:fixed;width:100%">'
        f"{head}{''.join(blocks)}</table>"
    )


def _answer(row: ComparisonRow | None) -> str | None:
    return row.content if row is not None and row.ok else None


def _meta(row: ComparisonRow | None, repeat: int) -> str:
    """The line above an answer: repeat, latency and cost, or the failure."""
    if row is None:
        return f'<span class="meta">repeat {repeat + 1} · not run</span>'
    cost = _usd(row.cost_usd)
    if row.ok:
        return (
            f'<span class="meta">repeat {repeat + 1} · {row.latency_s:.3f} s · {cost}'
            f"{_served(row)}</span>"
        )
    error = f": {html.escape(row.error)}" if row.error else ""
    return (
        f'<span class="meta failed">repeat {repeat + 1} · failed, '
        f"{html.escape(row.failure_kind or 'error')} after {row.latency_s:.3f} s · {cost}"
        f"{error}</span>"
    )


def _usd(value: float) -> str:
    """One request's estimated cost, in plain decimals ("$0.000039", not "3.9e-05")."""
    if value <= 0:
        return "$0"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def _served(row: ComparisonRow) -> str:
    return f" · {html.escape(row.model)}" if row.model else ""
