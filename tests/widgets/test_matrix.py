"""ExperimentMatrix: the grid of a run's answers, its filters, and human ratings saved in
the run — built headless from hand-made runs with known answers, and once from the
simulator."""

from __future__ import annotations

import json
from pathlib import Path

import ipywidgets
import pytest

import nvgw_nb as nv
from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import Case, load_cases
from nvgw_nb.experiments.checks import expected
from nvgw_nb.experiments.records import CallRecord
from nvgw_nb.experiments.run import Run
from nvgw_nb.experiments.scoring import Score
from nvgw_nb.experiments.store import Header
from nvgw_nb.widgets import ExperimentMatrix
from nvgw_nb.widgets.matrix import word_diff_html

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cases.jsonl"
A, B, C = "provider=nim", "provider=gw", "provider=other"
CELLS = [
    {"id": A, "label": "nim", "axes": {"provider": "nim"}, "provider": "nvidia-nim"},
    {"id": B, "label": "gateway", "axes": {"provider": "gw"}, "provider": "nvidia-gateway"},
    {"id": C, "label": "other", "axes": {"provider": "other"}, "provider": "nvidia-nim"},
]
#: (case, cell) → one (answer, passed) per repeat; None is a failed call
ANSWERS: dict[tuple[str, str], list[tuple[str, bool] | None]] = {
    ("q1", A): [("Paris", True), ("Paris", True)],
    ("q1", B): [("Paris", True), ("Paris", True)],
    ("q1", C): [("Paris", True), ("Paris", True)],
    ("q2", A): [("the answer is 41", False), ("the answer is 42", True)],
    ("q2", B): [("the answer is 42", True), ("the answer is 42", True)],
    ("q2", C): [None, ("42", True)],
    ("q3", A): [("<script>alert('x')</script> & <b>bold</b>", False), ("no", False)],
    ("q3", B): [("fine", True), ("fine", True)],
    ("q3", C): [("fine", True), ("fine", True)],
}


def record(
    case: str, cell: str, repeat: int, answer: tuple[str, bool] | None, simulated: bool = True
) -> CallRecord:
    provider = next(c["provider"] for c in CELLS if c["id"] == cell)
    axes = next(c["axes"] for c in CELLS if c["id"] == cell)
    if answer is None:
        return CallRecord(
            cell=cell,
            axes=axes,
            case_id=case,
            repeat=repeat,
            provider_asked=provider,
            ok=False,
            error_kind="timeout",
            error="timed out",
            simulated=simulated,
            key=f"{cell}|{case}|{repeat}",
        )
    text, passed = answer
    return CallRecord(
        cell=cell,
        axes=axes,
        case_id=case,
        repeat=repeat,
        provider_asked=provider,
        provider=provider,
        text=text,
        simulated=simulated,
        scores={
            "expected": Score(float(passed), passed, f"reason for {case} in {cell}"),
            "rubric": Score(
                float(passed), passed, f"judge says {'good' if passed else 'bad'}", kind="judge"
            ),
        },
        key=f"{cell}|{case}|{repeat}",
    )


def make_run(*, simulated: bool = True) -> Run:
    cases = [Case(f"Question {i}?", id=f"q{i}", reference="ref") for i in (1, 2, 3)]
    header = Header(cases, [dict(c) for c in CELLS], 2, ["expected", "rubric"], 0, simulated)
    records = [
        record(case, cell, repeat, answer, simulated)
        for (case, cell), answers in ANSWERS.items()
        for repeat, answer in enumerate(answers)
    ]
    return Run(header=header, records=records)


def test_one_row_per_case_and_one_column_per_cell() -> None:
    """Rows are the cases, columns the cells (labels as headers), in the run's order."""
    matrix = ExperimentMatrix(make_run())
    assert list(matrix.rows) == ["q1", "q2", "q3"]
    for row in matrix.rows.values():
        assert len(row.children) == 1 + 3  # the case, then one box per cell
    headers = [h.value for h in matrix.header.children]
    assert "<b>case</b>" in headers[0]
    assert ["nim" in headers[1], "gateway" in headers[2], "other" in headers[3]] == [True] * 3
    assert "(baseline)" in headers[1]
    assert set(matrix.answers) == {(case, cell) for case, cell in ANSWERS}


def test_repeats_fold_as_k_of_k_pass_with_distinct_answers() -> None:
    """Two repeats: "k/2 pass" per scorer, the distinct answers counted, repeat 0 shown."""
    matrix = ExperimentMatrix(make_run())
    q2a = matrix.cell_html("q2", A)
    assert "expected <b style='color:#2e7d32'>" not in q2a  # repeat 0 failed expected
    assert "expected <b style='color:#c62828'>✗</b> 1/2 pass" in q2a
    assert "2 distinct answers" in q2a
    assert "41" in q2a
    assert "the answer is 42" not in q2a
    assert "2/2 pass · rubric" in matrix.cell_html("q1", B)
    assert "1 distinct answer<" in matrix.cell_html("q1", B)


def test_failed_call_has_a_badge_and_judge_reason_comes_first() -> None:
    """A failed repeat shows "failed (kind)", never its error text; the judge's reason is
    the one shown."""
    matrix = ExperimentMatrix(make_run())
    q2c = matrix.cell_html("q2", C)
    assert "failed (timeout)" in q2c
    assert "timed out" not in q2c
    assert "no answer" in q2c
    assert "judge says good" in matrix.cell_html("q1", A)
    assert "reason for q1" not in matrix.cell_html("q1", A)


def test_fell_back_badge() -> None:
    """A call served by another provider is flagged in its cell."""
    run = make_run()
    run.records[0] = run.records[0].model_copy(update={"fell_back": True})
    assert "fell back" in ExperimentMatrix(run).cell_html("q1", A)
    assert "fell back" not in ExperimentMatrix(run).cell_html("q1", B)


def test_baseline_diff_marks_changed_words() -> None:
    """Against the baseline, changed words are <del>/<ins>; the baseline column and equal
    answers carry no marks; switching the baseline or turning diffs off redraws."""
    matrix = ExperimentMatrix(make_run(), baseline=A)
    q2b = matrix.answers[("q2", B)].value
    assert ">41</del>" in q2b
    assert ">42</ins>" in q2b
    assert "<ins" not in matrix.answers[("q2", A)].value
    assert "<ins" not in matrix.answers[("q1", B)].value
    matrix.show_diff.value = False
    assert "<ins" not in matrix.answers[("q2", B)].value
    matrix.show_diff.value = True
    matrix.baseline.value = B
    assert "(baseline)" in matrix.header.children[2].value
    assert ">42</del>" in matrix.answers[("q2", A)].value


def test_word_diff_escapes_both_sides() -> None:
    """Inserted and deleted words are escaped too."""
    out = word_diff_html("a <i>x</i> b", "a <script>y</script> b")
    assert "<script>" not in out
    assert "<i>" not in out
    assert "&lt;script&gt;y&lt;/script&gt;" in out
    assert "<del" in out
    assert "<ins" in out


def test_only_differ_hides_equal_rows() -> None:
    """q1 passes everywhere on the first scorer: hidden by the filter; q2, q3 remain."""
    matrix = ExperimentMatrix(make_run())
    matrix.only_differ.value = True
    assert list(matrix.rows) == ["q2", "q3"]
    assert "of 2" in matrix.page_label.value
    matrix.only_differ.value = False
    assert list(matrix.rows) == ["q1", "q2", "q3"]


def test_pages() -> None:
    """page_size cases a page; the buttons move between pages and stop at the ends."""
    matrix = ExperimentMatrix(make_run(), page_size=2)
    assert matrix.pages == 2
    assert list(matrix.rows) == ["q1", "q2"]
    assert matrix.previous.disabled
    assert not matrix.next.disabled
    matrix.next.click()
    assert list(matrix.rows) == ["q3"]
    assert matrix.next.disabled
    assert "page 2 of 2" in matrix.page_label.value
    matrix.previous.click()
    assert list(matrix.rows) == ["q1", "q2"]


def test_html_in_an_answer_is_escaped() -> None:
    """An answer holding a <script> shows as text: as the baseline, in a diff, plain."""
    matrix = ExperimentMatrix(make_run(), baseline=B)
    for baseline, diff in ((B, True), (A, True), (B, False)):
        matrix.baseline.value = baseline
        matrix.show_diff.value = diff
        for key, widget in matrix.answers.items():
            assert "<script>" not in widget.value, key
            assert "<b>bold" not in widget.value
        assert "&lt;script&gt;" in matrix.answers[("q3", A)].value


def test_long_answer_folds_into_details() -> None:
    """A long answer shows a preview and the whole text in a <details>."""
    run = make_run()
    long = "word " * 200 + "END"
    run.records[0] = run.records[0].model_copy(update={"text": long})
    html_ = ExperimentMatrix(run).cell_html("q1", A)
    assert "<details>" in html_
    assert "END" in html_
    assert html_.index("END") > html_.index("<details>")


def test_simulated_banner() -> None:
    """SIMULATED banner when the run came from the simulator, none otherwise."""
    assert "SIMULATED" in ExperimentMatrix(make_run()).banner.value
    assert ExperimentMatrix(make_run(simulated=False)).banner.value == ""


def test_unknown_baseline_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no cell 'nope'"):
        ExperimentMatrix(make_run(), baseline="nope")


def test_pass_fail_buttons_write_ratings_to_the_run_and_its_file(tmp_path: Path) -> None:
    """Clicking ✓/✗ rates repeat 0 in the run and appends it to the JSONL file; the
    buttons show the mark; a reloaded run has it, and a new matrix shows it."""
    path = make_run().to_jsonl(tmp_path / "run.jsonl")
    run = Run.load(path)
    matrix = ExperimentMatrix(run)
    good, bad = matrix.pass_buttons[("q2", B)]
    good.click()
    assert [(r.kind, r.case_id, r.cell, r.repeat, r.passed) for r in run.ratings] == [
        ("pass", "q2", B, 0, True)
    ]
    assert good.button_style == "success"
    assert bad.button_style == ""
    bad.click()  # changing one's mind replaces the mark
    assert [r.passed for r in run.ratings] == [False]
    assert good.button_style == ""
    assert bad.button_style == "danger"
    reopened = Run.load(path)
    assert [(r.case_id, r.cell, r.passed) for r in reopened.ratings][-1] == ("q2", B, False)
    again = ExperimentMatrix(reopened)
    assert again.pass_buttons[("q2", B)][1].button_style == "danger"
    assert again.pass_buttons[("q1", B)][1].button_style == ""


def test_prefer_buttons_write_preferences(tmp_path: Path) -> None:
    """ "which is better" compares the baseline ("a") with the other column ("b")."""
    path = make_run().to_jsonl(tmp_path / "run.jsonl")
    run = Run.load(path)
    matrix = ExperimentMatrix(run, baseline=A)
    assert ("q1", A) not in matrix.prefer_buttons  # no pair for the baseline itself
    matrix.prefer_buttons[("q3", B)]["b"].click()
    assert [(r.kind, r.case_id, r.cell, r.other_cell, r.winner) for r in run.ratings] == [
        ("prefer", "q3", A, B, "b")
    ]
    assert matrix.prefer_buttons[("q3", B)]["b"].button_style == "info"
    assert matrix.prefer_buttons[("q3", B)]["a"].button_style == ""
    reopened = ExperimentMatrix(Run.load(path), baseline=A)
    assert reopened.prefer_buttons[("q3", B)]["b"].button_style == "info"
    # seen from the other side, the same preference reads flipped
    flipped = ExperimentMatrix(Run.load(path), baseline=B)
    assert flipped.prefer_buttons[("q3", A)]["a"].button_style == "info"


def test_controls_of_a_missing_answer_are_disabled() -> None:
    """Repeat 0 of q2 in C failed: nothing to rate there."""
    matrix = ExperimentMatrix(make_run())
    assert all(b.disabled for b in matrix.pass_buttons[("q2", C)])
    assert all(b.disabled for b in matrix.prefer_buttons[("q2", C)].values())
    assert not any(b.disabled for b in matrix.pass_buttons[("q2", B)])


def test_footer_shows_judge_agreement_once_rated() -> None:
    """The footer gives κ and n for each judge-kind scorer once there are pass marks."""
    run = make_run()
    matrix = ExperimentMatrix(run)
    assert "0 pass/fail marks" in matrix.footer.value
    assert "κ" not in matrix.footer.value
    matrix.pass_buttons[("q1", A)][0].click()  # judge: pass, human: pass
    matrix.pass_buttons[("q3", A)][0].click()  # judge: fail, human: pass
    footer = matrix.footer.value
    assert "2 pass/fail marks" in footer
    assert "rubric: κ = " in footer
    assert "n = 2" in footer
    assert "expected: κ" not in footer  # a check, not a judge
    assert "rubric: κ = " in ExperimentMatrix(run).footer.value


def test_matrix_of_a_simulated_experiment() -> None:
    """Run.matrix() on a real (simulated) run: every case and cell, repeats folded."""
    cases = load_cases(EXAMPLES)[:6]
    with (
        nv.Simulator(time_scale=0, accuracy={"nvidia-nim": 0.6, "nvidia-gateway": 0.9}) as sim,
        sim.session() as session,
    ):
        exp = session.experiment(
            cases,
            vary={
                "provider": ["nvidia-nim", "nvidia-gateway"],
                "system": {"a": "", "b": "Be brief."},
            },
            scorers=[expected()],
            repeats=2,
        )
        run = exp.run(progress=False)
    matrix = run.matrix()
    assert isinstance(matrix, ExperimentMatrix)
    assert len(matrix.rows) == 6
    assert len(matrix.header.children) == 1 + 4
    assert all("/2 pass" in w.value for w in matrix.answers.values())
    assert "SIMULATED" in matrix.banner.value


def test_no_widget_state_holds_a_secret() -> None:
    """After a simulated experiment (token fetched, some calls failing), no state of any
    widget in the matrix holds a key, the client secret or the Starfleet token."""
    cases = load_cases(EXAMPLES)[:3]
    with nv.Simulator(time_scale=0) as sim, sim.session() as session:
        sim.inject("nvidia-nim", "X4")  # NIM rejects the key: failed calls, errors recorded
        exp = session.experiment(
            cases, vary={"provider": ["nvidia-nim", "nvidia-gateway"]}, scorers=[expected()]
        )
        run = exp.run(progress=False)
        env = sim.env()
        secrets = [env[n] for n in ("NVIDIA_NIM_API_KEY", "STARFLEET_ID", "STARFLEET_SECRET")]
        token = session._auths["nvidia-gateway"].cache.usable()  # type: ignore[attr-defined]
        assert token is not None
        secrets.append(token.get_secret_value())
    assert any(not r.ok for r in run.records)
    matrix = run.matrix()
    seen: set[int] = set()
    stack: list[ipywidgets.Widget] = [matrix]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        state = json.dumps(widget.get_state(), default=repr)
        for secret in secrets:
            assert secret not in state
        for key in widget.keys:
            value = getattr(widget, key, None)
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, ipywidgets.Widget):
                    stack.append(item)
    assert len(seen) > 20
