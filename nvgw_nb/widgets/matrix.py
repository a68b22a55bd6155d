"""The experiment matrix: rows = cases, columns = cells, and human ratings in place.

`Run.matrix()` returns an `ExperimentMatrix`. Each cell of the grid shows repeat 0's
answer (escaped; a long one folded into a <details>), a pass mark per scorer with repeats
folded as "k/K pass", the judge's reason (else the first scorer's), "fell back" and
"failed (kind)" badges, and — against the baseline column — the words that changed.
Under each answer a human marks pass/fail (`run.rate`), and under each non-baseline
answer which of the two is better (`run.prefer`, the baseline being "a"); marks are
saved in the run (and appended to its JSONL file) and read back when the widget is
rebuilt. The footer shows how far each judge agrees with the human marks (Cohen's κ).

Only answers, scores and reasons are shown — never a request, a header or an error
message — and every text is escaped, so an answer holding HTML shows as text.

>>> run.matrix(baseline=run.cells[0].id)   # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Literal

from nvgw_nb.errors import ConfigError
from nvgw_nb.widgets._html import AMBER, GREY, RED, note_html, word_diff_html
from nvgw_nb.widgets._ui import (
    HTML,
    Box,
    Button,
    Checkbox,
    Dropdown,
    HBox,
    Layout,
    VBox,
    Widget,
    child_widgets,
    wrapping_row,
)

if TYPE_CHECKING:
    from nvgw_nb.experiments.grid import Cell
    from nvgw_nb.experiments.records import CallRecord
    from nvgw_nb.experiments.run import Run

__all__ = ["ExperimentMatrix", "word_diff_html"]

#: cases per page: 20 cases × 6 cells stays quick to draw
PAGE_SIZE = 20
#: an answer longer than this shows a preview and folds the rest into a <details>
PREVIEW_CHARS = 280
GREEN = "#2e7d32"
#: a cell's column: 280 px wide where there is room, down to 220 px, then the grid
#: scrolls sideways (JupyterLab at 1280 px with the file browser open has ~800 px)
_COLUMN = {"flex": "1 1 280px", "min_width": "220px", "max_width": "420px"}
_CASE_COLUMN = {"flex": "0 0 200px", "width": "200px"}
Winner = Literal["a", "b", "tie"]
_MARKS: dict[bool | None, str] = {
    True: f"<b style='color:{GREEN}'>✓</b>",
    False: f"<b style='color:{RED}'>✗</b>",
    None: f"<span style='color:{GREY}'>–</span>",
}
_FLIP: dict[Winner, Winner] = {"a": "b", "b": "a", "tie": "tie"}
#: opens a cell's text: a widget's HTML inherits a 28 px line height in JupyterLab
_LINES = '<div style="line-height:1.4">'


def _badge(text: str, colour: str) -> str:
    return (
        f'<span style="background:{colour};color:white;padding:0 6px;border-radius:3px;'
        f'font-size:11px;margin-right:4px">{html.escape(text)}</span>'
    )


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ExperimentMatrix(VBox):
    """Answers of a run, case by cell, with pass marks, differences and human ratings.

    `baseline` is the id of the column differences and preferences are taken against
    (default: the first cell). Controls: the baseline Dropdown, "word differences",
    "show only cases that differ" (cases whose first scorer's pass marks are not the same
    in every cell), and page buttons (`PAGE_SIZE` cases a page).

    >>> run.matrix()  # doctest: +SKIP
    """

    def __init__(self, run: Run, *, baseline: str | None = None, page_size: int = PAGE_SIZE):
        if not run.cells:
            raise ConfigError("this run has no cells to show")
        ids = [c.id for c in run.cells]
        if baseline is not None and baseline not in ids:
            raise ConfigError(f"no cell {baseline!r} in this run; cells: {', '.join(ids)}")
        self.run = run
        self.page_size = max(1, page_size)
        self.page = 0
        self._cells: dict[str, Cell] = {c.id: c for c in run.cells}
        self._records: dict[tuple[str, str], list[CallRecord]] = {}
        for record in run.records:
            self._records.setdefault((record.case_id, record.cell), []).append(record)
        for found in self._records.values():
            found.sort(key=lambda r: r.repeat)
        self._case_ids = [c for c in run.cases]
        #: the (pass, fail) buttons of each shown answer, by (case id, cell id)
        self.pass_buttons: dict[tuple[str, str], tuple[Button, Button]] = {}
        #: the "which is better" buttons of each shown non-baseline answer, by winner
        self.prefer_buttons: dict[tuple[str, str], dict[Winner, Button]] = {}
        #: the HTML of each shown answer, by (case id, cell id)
        self.answers: dict[tuple[str, str], HTML] = {}
        #: the row of each shown case: its label, then one box per cell
        self.rows: dict[str, HBox] = {}
        self._page_widgets: list[Widget] = []
        #: one Layout per kind of part, shared by every part of that kind
        self._layouts = {
            "button": Layout(width="auto", min_width="64px", margin="1px"),
            "column": Layout(padding="0 4px", **_COLUMN),
            "case": Layout(**_CASE_COLUMN),
            "text": Layout(width="100%"),
            "plain": Layout(flex_flow="row wrap"),
            "row": Layout(border_bottom="1px solid #ddd", padding="4px 0", width="100%"),
        }

        self.banner = HTML(
            '<div style="background:#fff3e0;border:1px solid #b35900;color:#b35900;'
            'font-weight:600;padding:4px 8px;margin:4px 0">SIMULATED — answers from the '
            "built-in simulator, not real endpoints</div>"
            if run.simulated
            else ""
        )
        self.baseline = Dropdown(
            options=[(c.label, c.id) for c in run.cells],
            value=baseline or ids[0],
            description="Baseline",
            layout=Layout(width="100%", max_width="340px"),
        )
        self.show_diff = Checkbox(value=True, description="word differences", indent=False)
        self.only_differ = Checkbox(
            value=False, description="show only cases that differ", indent=False
        )
        self.previous = Button(description="◀ previous", layout=Layout(width="110px"))
        self.next = Button(description="next ▶", layout=Layout(width="110px"))
        self.page_label = HTML()
        self.message = HTML()
        self.header = HBox(layout=Layout(width="100%"))
        self.grid = VBox(layout=Layout(width="100%"))
        self.footer = HTML()
        self.baseline.observe(self._on_view_change, names="value")
        self.show_diff.observe(self._on_view_change, names="value")
        self.only_differ.observe(self._on_filter_change, names="value")
        self.previous.on_click(self._on_previous)
        self.next.on_click(self._on_next)
        super().__init__(
            children=(
                self.banner,
                HBox(
                    children=(self.baseline, self.show_diff, self.only_differ),
                    layout=wrapping_row(),
                ),
                HBox(children=(self.previous, self.next, self.page_label), layout=wrapping_row()),
                self.message,
                # header and rows scroll sideways together when the cells do not fit
                VBox(
                    children=(self.header, self.grid),
                    layout=Layout(overflow="auto", width="100%"),
                ),
                self.footer,
            )
        )
        self._render()

    # --- which cases ----------------------------------------------------------------------
    def differs(self, case_id: str) -> bool:
        """True when the first scorer's pass marks (k of K repeats) are not the same in
        every cell for this case (a missing or failed answer counts as not passing)."""
        names = self.run.scorer_names
        if not names:
            return False
        first = names[0]
        seen = set()
        for cell in self.run.cells:
            records = self._records.get((case_id, cell.id), [])
            passed = sum(1 for r in records if _passed(r, first) is True)
            seen.add(passed / len(records) if records else None)
        return len(seen) > 1

    def filtered_cases(self) -> list[str]:
        """The case ids the filter lets through, in the run's order."""
        if self.only_differ.value:
            return [c for c in self._case_ids if self.differs(c)]
        return list(self._case_ids)

    @property
    def pages(self) -> int:
        """How many pages the filtered cases fill (at least 1)."""
        return max(1, math.ceil(len(self.filtered_cases()) / self.page_size))

    def visible_cases(self) -> list[str]:
        """The case ids on the current page."""
        start = self.page * self.page_size
        return self.filtered_cases()[start : start + self.page_size]

    # --- events ---------------------------------------------------------------------------
    def _on_view_change(self, _: object) -> None:
        self._render()

    def _on_filter_change(self, _: object) -> None:
        self.page = 0
        self._render()

    def _on_previous(self, _: Button) -> None:
        self.go_to(self.page - 1)

    def _on_next(self, _: Button) -> None:
        self.go_to(self.page + 1)

    def go_to(self, page: int) -> None:
        """Show page `page` (0-based, clamped to the pages there are)."""
        self.page = min(max(page, 0), self.pages - 1)
        self._render()

    # --- drawing --------------------------------------------------------------------------
    def _render(self) -> None:
        self.page = min(self.page, self.pages - 1)
        shown = self.visible_cases()
        total = len(self.filtered_cases())
        start = self.page * self.page_size
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1
        if total:
            where = f"cases {start + 1}–{start + len(shown)} of {total}"
        else:
            where = "no case differs between the cells" if self.only_differ.value else "no cases"
        self.page_label.value = note_html(f"page {self.page + 1} of {self.pages} · {where}")
        baseline = self.baseline.value
        self.header.children = (
            HTML("<b>case</b>", layout=self._layouts["case"]),
            *(
                HTML(
                    f"<b>{html.escape(c.label)}</b>"
                    + (" <i style='color:#666'>(baseline)</i>" if c.id == baseline else ""),
                    layout=self._layouts["column"],
                )
                for c in self.run.cells
            ),
        )
        self._close_page()
        self.pass_buttons, self.prefer_buttons, self.answers, self.rows = {}, {}, {}, {}
        for case_id in shown:
            boxes = [self._cell_box(case_id, cell, baseline) for cell in self.run.cells]
            label = HTML(self._case_html(case_id), layout=self._layouts["case"])
            self.rows[case_id] = HBox(children=(label, *boxes), layout=self._layouts["row"])
            self._page_widgets += [label, self.rows[case_id]]
        self.grid.children = tuple(self.rows.values())
        self._show_footer()

    def _close_page(self) -> None:
        """Close the widgets of the page shown so far (ipywidgets keeps every open one)."""
        shared = {id(layout) for layout in self._layouts.values()}
        for widget in self._page_widgets:
            for part in child_widgets(widget):
                if id(part) not in shared and not isinstance(part, (HTML, Button, Box)):
                    part.close()  # a widget's own style
            widget.close()
        self._page_widgets = []

    def _case_html(self, case_id: str) -> str:
        case = self.run.cases[case_id]
        parts = [f"<b>{html.escape(case_id)}</b>"]
        if case.role:
            parts.append(f" <span style='color:{GREY}'>{html.escape(case.role)}</span>")
        parts.append(
            f"<div style='font-size:12px;white-space:pre-wrap'>"
            f"{html.escape(_short(case.prompt, 200))}</div>"
        )
        if case.reference is not None:
            reference = case.reference if isinstance(case.reference, str) else str(case.reference)
            parts.append(
                f"<div style='font-size:11px;color:{GREY}'>reference: "
                f"{html.escape(_short(reference, 120))}</div>"
            )
        return _LINES + "".join(parts) + "</div>"

    def _cell_box(self, case_id: str, cell: Cell, baseline: str) -> VBox:
        key = (case_id, cell.id)
        answer = HTML(self.cell_html(case_id, cell.id), layout=self._layouts["text"])
        self.answers[key] = answer
        self._page_widgets.append(answer)
        has_answer = self._answered(case_id, cell.id)
        good = self._button("✓ pass", "a human's mark: this answer passes", not has_answer)
        bad = self._button("✗ fail", "a human's mark: this answer fails", not has_answer)
        good.on_click(partial(self._on_rate, key, True))
        bad.on_click(partial(self._on_rate, key, False))
        self.pass_buttons[key] = (good, bad)
        self._style_pass(key)
        children: list[HTML | HBox] = [answer, self._hbox((good, bad))]
        if cell.id != baseline:
            off = not has_answer or not self._answered(case_id, baseline)
            buttons: dict[Winner, Button] = {
                "a": self._button("◀ baseline", "the baseline's answer is better", off),
                "tie": self._button("tie", "neither answer is better", off),
                "b": self._button("this ▶", "this answer is better than the baseline's", off),
            }
            for winner, button in buttons.items():
                button.on_click(partial(self._on_prefer, key, winner))
            self.prefer_buttons[key] = buttons
            self._style_prefer(key)
            children.append(self._hbox(tuple(buttons.values())))
        box = VBox(children=tuple(children), layout=self._layouts["column"])
        self._page_widgets.append(box)
        return box

    def _button(self, description: str, tooltip: str, disabled: bool) -> Button:
        button = Button(
            description=description,
            tooltip=tooltip,
            disabled=disabled,
            layout=self._layouts["button"],
        )
        self._page_widgets.append(button)
        return button

    def _hbox(self, children: tuple[Button, ...]) -> HBox:
        box = HBox(children=children, layout=self._layouts["plain"])
        self._page_widgets.append(box)
        return box

    def _answered(self, case_id: str, cell_id: str) -> bool:
        """True when repeat 0 came back with an answer (there is something to rate)."""
        first = self._first(case_id, cell_id)
        return first is not None and first.ok and first.text is not None

    def _first(self, case_id: str, cell_id: str) -> CallRecord | None:
        for record in self._records.get((case_id, cell_id), []):
            if record.repeat == 0:
                return record
        return None

    def cell_html(self, case_id: str, cell_id: str) -> str:
        """One grid cell: badges, pass marks per scorer (k/K over repeats), the reason,
        and repeat 0's answer (marked against the baseline when differences are on)."""
        records = self._records.get((case_id, cell_id), [])
        if not records:
            return note_html("no call")
        first = self._first(case_id, cell_id) or records[0]
        parts: list[str] = []
        badges = ""
        if any(r.ok and r.fell_back for r in records):
            badges += _badge("fell back", AMBER)
        for kind in sorted({r.error_kind or "error" for r in records if not r.ok}):
            badges += _badge(f"failed ({kind})", RED)
        if badges:
            parts.append(f"<div>{badges}</div>")
        parts.append(self._marks_html(records, first))
        reason = _reason(first, self.run.scorer_names)
        if reason:
            parts.append(
                f"<div style='font-size:11px;color:{GREY}'>{html.escape(_short(reason, 200))}</div>"
            )
        parts.append(self._answer_html(case_id, cell_id, first))
        return _LINES + "".join(parts) + "</div>"

    def _marks_html(self, records: Sequence[CallRecord], first: CallRecord) -> str:
        marks = []
        total = len(records)
        for name in self.run.scorer_names:
            symbol = _MARKS[_passed(first, name)]
            text = f"{html.escape(name)} {symbol}"
            if total > 1:
                k = sum(1 for r in records if _passed(r, name) is True)
                text += f" {k}/{total} pass"
            marks.append(text)
        if total > 1:
            distinct = len({r.text for r in records if r.ok and r.text is not None})
            marks.append(f"{distinct} distinct answer{'s' if distinct != 1 else ''}")
        return f"<div style='font-size:12px'>{' · '.join(marks)}</div>" if marks else ""

    def _answer_html(self, case_id: str, cell_id: str, record: CallRecord) -> str:
        if not record.ok or record.text is None:
            return note_html("no answer")
        text = record.text
        baseline = self.baseline.value
        body = html.escape(text)
        if self.show_diff.value and cell_id != baseline:
            base = self._first(case_id, baseline)
            if base is not None and base.ok and base.text is not None:
                body = word_diff_html(base.text, text)
        style = "white-space:pre-wrap;font-size:12px;line-height:1.35;word-break:break-word"
        if len(text) <= PREVIEW_CHARS:
            return f'<div class="nvgw-answer" style="{style}">{body}</div>'
        preview = html.escape(text[:PREVIEW_CHARS]) + "…"
        return (
            f'<div class="nvgw-answer" style="{style}">{preview}</div>'
            f'<details><summary style="cursor:pointer;font-size:11px">all {len(text)} '
            f'characters</summary><div style="{style}">{body}</div></details>'
        )

    # --- ratings --------------------------------------------------------------------------
    def _pass_marks(self) -> dict[tuple[str, str], bool]:
        return {
            (r.case_id, r.cell): bool(r.passed)
            for r in self.run.ratings
            if r.kind == "pass" and r.repeat == 0 and r.passed is not None
        }

    def _preference(self, case_id: str, cell_id: str) -> Winner | None:
        """The human's winner for (baseline, this cell), "a" being the baseline."""
        baseline = self.baseline.value
        found: Winner | None = None
        for r in self.run.ratings:
            if r.kind != "prefer" or r.case_id != case_id or r.winner is None:
                continue
            if (r.cell, r.other_cell) == (baseline, cell_id):
                found = r.winner
            elif (r.cell, r.other_cell) == (cell_id, baseline):
                found = _FLIP[r.winner]
        return found

    def _on_rate(self, key: tuple[str, str], passed: bool, _: object = None) -> None:
        try:
            self.run.rate(key[0], key[1], passed=passed)
        except (ConfigError, OSError) as err:
            self.message.value = note_html(f"could not save the mark: {err}", colour=RED)
            return
        self.message.value = ""
        self._style_pass(key)
        self._show_footer()

    def _on_prefer(self, key: tuple[str, str], winner: Winner, _: object = None) -> None:
        try:
            self.run.prefer(key[0], self.baseline.value, key[1], winner)
        except (ConfigError, OSError) as err:
            self.message.value = note_html(f"could not save the preference: {err}", colour=RED)
            return
        self.message.value = ""
        self._style_prefer(key)
        self._show_footer()

    def _style_pass(self, key: tuple[str, str]) -> None:
        mark = self._pass_marks().get(key)
        good, bad = self.pass_buttons[key]
        good.button_style = "success" if mark is True else ""
        bad.button_style = "danger" if mark is False else ""

    def _style_prefer(self, key: tuple[str, str]) -> None:
        chosen = self._preference(*key)
        for winner, button in self.prefer_buttons[key].items():
            button.button_style = "info" if winner == chosen else ""

    def _show_footer(self) -> None:
        ratings = self.run.ratings
        # a reloaded file may hold a changed mark twice: count each answer / pair once
        marks = len({(r.case_id, r.cell, r.repeat) for r in ratings if r.kind == "pass"})
        prefs = len(
            {(r.case_id, frozenset((r.cell, r.other_cell))) for r in ratings if r.kind == "prefer"}
        )
        lines = [f"Human ratings: {marks} pass/fail marks, {prefs} preferences."]
        if marks:
            for name in _judge_scorers(self.run):
                agreement = self.run.judge_agreement(name)
                if agreement.n:
                    lines.append(
                        f"{name}: κ = {agreement.kappa:.2f}, n = {agreement.n} — "
                        f"{agreement.verdict}"
                    )
                else:
                    lines.append(agreement.verdict)
        self.footer.value = "".join(note_html(line) for line in lines)


def _passed(record: CallRecord, name: str) -> bool | None:
    score = record.scores.get(name)
    return None if score is None else score.passed


def _reason(record: CallRecord, names: Sequence[str]) -> str:
    """The judge's reason when a judge scored the answer, else the first scorer's."""
    for name in names:
        score = record.scores.get(name)
        if score is not None and score.kind == "judge" and score.reason:
            return score.reason
    for name in names:
        score = record.scores.get(name)
        if score is not None:
            return score.reason
    return ""


def _judge_scorers(run: Run) -> list[str]:
    names = []
    for name in run.scorer_names:
        if any((s := r.scores.get(name)) is not None and s.kind == "judge" for r in run.records):
            names.append(name)
    return names
