"""What keeps the panels readable in a notebook: labels, wrapping rows, one-line badges,
padded tables, answers that keep their line breaks, plots at a readable size.

(tests/browser/test_lab_layout.py checks the same in JupyterLab, at 1280 and 1920 px.)
"""

from __future__ import annotations

import re
import struct

import pytest

import nvgw_nb as nv
from nvgw_nb.batch import BatchPrompt
from nvgw_nb.compare import Comparison, ComparisonRow
from nvgw_nb.widgets import CompareBoard, ExperimentMatrix, Playground
from nvgw_nb.widgets._html import answer_html, badge, markdown_html, side_by_side_html
from nvgw_nb.widgets._ui import HTML, HBox, Textarea

CODE_PROMPT = "Fix this:\ndef f(x):\n    return x+1"
NIM_ANSWER = "Use a name:\n\ndef add_one(x):\n    return x + 1"
GATEWAY_ANSWER = "Rename it:\n\ndef increment(x):\n    return x + 1"


def comparison(*, gateway_ok: bool = True) -> Comparison:
    """One code prompt answered by NIM and the gateway, answers over several lines."""
    rows = [
        ComparisonRow(
            prompt_index=0,
            prompt=CODE_PROMPT,
            provider=provider,
            repeat=0,
            ok=ok,
            latency_s=0.1,
            content=answer if ok else "",
        )
        for provider, answer, ok in (
            ("nvidia-nim", NIM_ANSWER, True),
            ("nvidia-gateway", GATEWAY_ANSWER, gateway_ok),
        )
    ]
    return Comparison(
        rows,
        providers=["nvidia-nim", "nvidia-gateway"],
        prompts=[BatchPrompt(prompt=CODE_PROMPT)],
        repeats=1,
    )


def _styles(markup: str, tag: str) -> list[str]:
    return re.findall(rf'<{tag}[^>]*style="([^"]*)"', markup)


def test_badge_never_wraps() -> None:
    """A provider badge stays on one line ("google-genai" has a hyphen to break at)."""
    assert "white-space:nowrap" in badge("google-genai")


def test_answer_is_left_aligned_and_keeps_line_breaks() -> None:
    """An answer keeps its spacing and line breaks and is left-aligned whatever the
    front end's table or cell defaults."""
    markup = answer_html("line one\n    indented")
    assert "white-space:pre-wrap" in markup
    assert "text-align:left" in markup
    assert "line one\n    indented" in markup


def test_side_by_side_keeps_line_breaks_of_answers_and_prompts() -> None:
    """Both answers and the prompt keep their line breaks and indentation, in left-aligned,
    pre-wrapped cells."""
    markup = side_by_side_html(comparison())
    assert "def f(x):\n    return x+1" in markup
    assert "add_one(x):\n    return x + 1" in markup
    assert "\n    return x + 1" in markup.split("nvgw-answer")[-1]
    answers = re.findall(r'<td class="nvgw-answer" style="([^"]*)"', markup)
    assert len(answers) == 2
    for style in answers:
        assert "text-align:left" in style
        assert "white-space:pre-wrap" in style


def test_side_by_side_marks_the_words_that_differ() -> None:
    """Words only in the right answer are <ins>, words only in the left are <del>."""
    markup = side_by_side_html(comparison())
    assert re.search(r"<ins[^>]*>increment\(x\):</ins>", markup)
    assert re.search(r"<del[^>]*>add_one\(x\):</del>", markup)


def test_side_by_side_says_failed() -> None:
    """A provider that failed the prompt shows "failed" in its column."""
    assert "<i>failed</i>" in side_by_side_html(comparison(gateway_ok=False))


def test_summary_table_cells_are_padded() -> None:
    """Every header and body cell of the summary table carries its own padding."""
    markup = markdown_html("| provider | n |\n|---|--:|\n| nvidia-nim | 3 |")
    styles = _styles(markup, "th") + _styles(markup, "td")
    assert len(styles) == 4
    assert all("padding:3px 10px" in s for s in styles)
    assert "text-align:right" in _styles(markup, "td")[1]


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        (r"| cost |\n|---|\n| \$0.0584 |", ">$0.0584</td>"),
        (r"| module |\n|---|\n| nvgw\_nb.pricing |", ">nvgw_nb.pricing</td>"),
        (r"| a |\n|---|\n| x \| y |", ">x | y</td>"),
        (r"- list price \$0.05 (nvgw\_nb)", "<li>list price $0.05 (nvgw_nb)</li>"),
        (r"\*\*not bold\*\*", ">**not bold**</p>"),
    ],
)
def test_markdown_escapes_show_as_the_characters(markdown: str, shown: str) -> None:
    """Backslash escapes of the summary's Markdown (\\$, \\_, \\|) show as the characters."""
    assert shown in markdown_html(markdown.replace(r"\n", "\n"))


def test_playground_boxes_have_visible_labels(session: nv.Session) -> None:
    """ "System prompt" and "Prompt" are written over their boxes, not only as placeholders."""
    panel = Playground(session)
    children = list(panel.children)
    for box, name in ((panel.system_prompt, "System prompt"), (panel.prompt, "Prompt")):
        label = children[children.index(box) - 1]
        assert isinstance(label, HTML)
        assert f">{name}</label>" in label.value
    assert all(m.description for m in panel.model_picker.boxes.values())


def test_playground_rows_wrap_instead_of_clipping(session: nv.Session) -> None:
    """The routing row (order | models) and the controls row (… Run, Stop) wrap."""
    panel = Playground(session)
    rows = [c for c in panel.children if isinstance(c, HBox)]
    assert len(rows) == 2
    assert all(r.layout.flex_flow == "row wrap" for r in rows)
    assert panel.run_button in rows[1].children


def test_compare_board_prompts_are_labelled_and_rows_wrap(session: nv.Session) -> None:
    """The prompts box has a label over it; the providers and Run rows wrap."""
    board = CompareBoard(session)
    children = list(board.children)
    label = children[children.index(board.prompts) - 1]
    assert isinstance(label, HTML)
    assert ">Prompts</label>" in label.value
    assert isinstance(board.prompts, Textarea)
    rows = [c for c in children if isinstance(c, HBox)]
    assert all(r.layout.flex_flow == "row wrap" for r in rows)


async def test_plots_are_one_image_each_at_a_readable_size(session: nv.Session) -> None:
    """One PNG per plot, each at most 750 px wide and shown no wider than that."""
    board = CompareBoard(session, prompts="one\ntwo")
    board.run_button.click()
    await board.wait()
    assert len(board.plot_images) >= 5
    for image in board.plot_images:
        width, height = struct.unpack(">II", bytes(image.value)[16:24])
        assert 600 <= width <= 750
        assert height >= 300
        assert image.layout.max_width == "750px"


def test_matrix_grid_scrolls_sideways_instead_of_clipping() -> None:
    """The header and the rows sit in one box that scrolls when the cells do not fit."""
    from tests.widgets.test_matrix import make_run

    matrix = ExperimentMatrix(make_run())
    (scroller,) = [c for c in matrix.children if matrix.grid in getattr(c, "children", ())]
    assert scroller.layout.overflow == "auto"
    assert matrix.header in scroller.children
