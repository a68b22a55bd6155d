"""Case, number_cases and load_cases through their public API: templates, checks, ids, files.

Several tests here first recorded bugs (as strict xfails) that are now fixed: a single
dict as cases, pydantic round trips, non-object CSV vars, a UTF-8 byte-order mark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import CHECKS, Case, CasesFileError, load_cases, number_cases

# --- Case ------------------------------------------------------------------------------------


def test_prompt_is_positional() -> None:
    """Case("...") takes the prompt positionally; the other fields default to empty."""
    case = Case("What is 2 + 2?")
    assert case.prompt == "What is 2 + 2?"
    assert case.text() == "What is 2 + 2?"
    assert (case.id, case.reference, case.vars, case.cluster, case.role, case.check) == (
        None,
        None,
        {},
        None,
        None,
        None,
    )


def test_fields_are_kept() -> None:
    """Every keyword field given is stored as given."""
    case = Case(
        "Q",
        id="q1",
        reference={"a": 1},
        vars={"schema": {"type": "object"}},
        cluster="c",
        role="planner",
        check="json",
    )
    assert case.id == "q1"
    assert case.reference == {"a": 1}
    assert case.vars == {"schema": {"type": "object"}}
    assert (case.cluster, case.role, case.check) == ("c", "planner", "json")


def test_case_is_frozen() -> None:
    """A Case cannot be changed after it is made (it pairs answers across runs)."""
    case = Case("Q", id="q1")
    with pytest.raises(ValueError, match="frozen"):
        case.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("prompt", "variables", "template", "expected"),
    [
        ("Capital of {country}?", {"country": "France"}, None, "Capital of France?"),
        ("{a} and {a}", {"a": "x"}, None, "x and x"),
        ("n = {n}", {"n": 3}, None, "n = 3"),
        ("{first}{second}", {"first": "a", "second": "b"}, None, "ab"),
        ("Q: {q}", {"q": "2+2"}, "Be brief.\n{prompt}\nA:", "Be brief.\nQ: 2+2\nA:"),
        ("plain", {"lang": "fr"}, "[{lang}] {prompt}", "[fr] plain"),
        ("plain", {}, "no prompt field here", "no prompt field here"),
        ('Reply as {"a": 1}', {}, None, 'Reply as {"a": 1}'),
        ('Return {"name": "{name}"}', {"name": "Ada"}, None, 'Return {"name": "Ada"}'),
        ("{ x } {} {0} {x.y} {x:>3}", {}, None, "{ x } {} {0} {x.y} {x:>3}"),
        ("{a}", {"a": "{b}"}, None, "{b}"),
        ("{a}", {"a": "{b}"}, "{prompt}!", "{b}!"),
        ('{"k": {v}}', {"v": 1}, 'JSON: {"x": {prompt}}', 'JSON: {"x": {"k": 1}}'),
    ],
)
def test_text_fills_templates(
    prompt: str, variables: dict[str, Any], template: str | None, expected: str
) -> None:
    """text() fills {var} fields from vars, {prompt} in a template, and leaves other braces."""
    assert Case(prompt, vars=variables).text(template=template) == expected


def test_a_case_without_vars_is_sent_as_written() -> None:
    """No vars, no template filling: code and JSON with braces need no escaping."""
    code = "def f(x):\n    return {x: 1}  # fix {name}"
    assert Case(code).text() == code
    assert Case(code).text(template="Review: {prompt}") == f"Review: {code}"


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: Case("Hi {name}", id="greet", vars={"x": 1}), "greet"),
        (lambda: Case("Hi {name}", id="greet", vars={"nme": "Ada"}), "greet"),
        (lambda: Case("Hi", id="greet").text(template="{prompt} in {lang}"), "greet"),
    ],
)
def test_missing_var_is_a_config_error_naming_the_case(make: Any, named: str) -> None:
    """A {field} with no var is a ConfigError naming the case and the field."""
    with pytest.raises(ConfigError) as caught:
        make()
    message = str(caught.value)
    assert named in message
    assert "{name}" in message or "{lang}" in message


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt_is_rejected(prompt: str) -> None:
    """A blank prompt is a ConfigError."""
    with pytest.raises(ConfigError, match="empty prompt"):
        Case(prompt)


@pytest.mark.parametrize("check", ["regex", "EQUALS", "", "similar"])
def test_unknown_check_is_rejected(check: str) -> None:
    """A check outside CHECKS is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="is not one of") as caught:
        Case("Q", id="q1", check=check, reference="a")
    assert repr(check) in str(caught.value)
    assert "q1" in str(caught.value)


@pytest.mark.parametrize("check", ["equals", "contains", "json"])
def test_check_needs_a_reference(check: str) -> None:
    """equals / contains / json without a reference is a ConfigError naming the case."""
    with pytest.raises(ConfigError, match="needs a reference") as caught:
        Case("Q", id="q7", check=check)
    assert "q7" in str(caught.value)


@pytest.mark.parametrize(
    ("check", "reference", "variables"),
    [
        ("equals", "bug", {}),
        ("contains", "429", {}),
        ("contains", 429, {}),
        ("json", {"a": 1}, {"schema": {"type": "object"}}),
        ("json", [1, 2], {}),
        ("python", "def f():\n    return 1\n", {"tests": "assert f() == 1"}),
        ("python", None, {"tests": "assert f() == 1"}),
    ],
)
def test_valid_checks_are_accepted(check: str, reference: Any, variables: dict[str, Any]) -> None:
    """Every check in CHECKS is accepted with a reference (python: with vars['tests'])."""
    assert check in CHECKS
    case = Case("Q", check=check, reference=reference, vars=variables)
    assert case.check == check


@pytest.mark.parametrize("variables", [{}, {"tests": ["assert True"]}, {"tests": None}])
def test_python_check_needs_tests(variables: dict[str, Any]) -> None:
    """check="python" without a string vars['tests'] is a ConfigError naming the case."""
    with pytest.raises(ConfigError, match=r"vars\['tests'\]") as caught:
        Case("Write f", id="code-1", check="python", reference="def f(): pass", vars=variables)
    assert "code-1" in str(caught.value)


@pytest.mark.parametrize(
    ("case", "label"),
    [
        (Case("Q", id="q1"), "q1"),
        (Case("short prompt"), "short prompt"),
        (Case("word " * 20), ("word " * 8).strip()[:39] + "…"),
    ],
)
def test_label_is_the_id_else_the_prompt_start(case: Case, label: str) -> None:
    """label is the id, else the prompt shortened to 40 characters."""
    assert case.label == label
    assert len(case.label) <= 40


# --- number_cases ----------------------------------------------------------------------------


def test_ids_are_numbered_by_position_when_absent() -> None:
    """Cases without an id get case-<n>, 1-based by position; given ids are kept."""
    cases = number_cases(["a", Case("b", id="mine"), {"prompt": "c"}, Case("d")])
    assert [c.id for c in cases] == ["case-1", "mine", "case-3", "case-4"]
    assert [c.prompt for c in cases] == ["a", "b", "c", "d"]


def test_strings_and_dicts_are_accepted() -> None:
    """A prompt string and a dict of Case fields both become Cases."""
    cases = number_cases(
        [
            "plain",
            {"prompt": "Hi {x}", "vars": {"x": "y"}, "id": 7, "check": "equals", "reference": "z"},
        ]
    )
    assert all(isinstance(c, Case) for c in cases)
    assert cases[0].text() == "plain"
    assert cases[1].text() == "Hi y"
    assert cases[1].id == "7"
    assert cases[1].reference == "z"


def test_given_cases_are_not_changed() -> None:
    """A Case that already has an id comes back as the same object."""
    case = Case("Q", id="q")
    assert number_cases([case])[0] is case


@pytest.mark.parametrize(
    ("cases", "duplicate"),
    [
        ([Case("a", id="q"), Case("b", id="q")], "q"),
        (["a", Case("b", id="case-1")], "case-1"),
        ([{"prompt": "a", "id": 3}, {"prompt": "b", "id": "3"}], "3"),
    ],
)
def test_duplicate_ids_are_rejected_naming_the_id(cases: list[Any], duplicate: str) -> None:
    """Two cases with one id (given, numbered or int-vs-str) is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="two cases have the id") as caught:
        number_cases(cases)
    assert repr(duplicate) in str(caught.value)


@pytest.mark.parametrize(
    ("cases", "fragment"),
    [
        ([], "no cases"),
        ("one prompt", "not one case"),
        (Case("one"), "not one case"),
        (["ok", 42], "cases[1]"),
        (["ok", None], "cases[1]"),
        ([{"prompt": "a", "colour": "red"}], "cases[0]: unknown field 'colour'"),
        ([{"reference": "x"}], "cases[0]: 'prompt' must be a string"),
        ([{"prompt": "a", "vars": "x=1"}], "cases[0]: 'vars' must be an object"),
        ([{"prompt": "Hi {who}", "vars": {"x": 1}}], "{who}"),
    ],
)
def test_bad_case_lists_are_config_errors(cases: Any, fragment: str) -> None:
    """Not a list, an empty list, or a bad entry: a ConfigError naming the entry."""
    with pytest.raises(ConfigError) as caught:
        number_cases(cases)
    assert fragment in str(caught.value)


def test_a_single_dict_is_not_a_list_of_cases() -> None:
    """One dict passed where a list belongs is a ConfigError, not one case per key."""
    with pytest.raises(ConfigError):
        number_cases({"prompt": "hi", "id": "x"})  # type: ignore[arg-type]


def test_case_round_trips_through_model_dump() -> None:
    """Case.model_validate(case.model_dump()) gives the case back (needed to reload runs)."""
    case = Case("Hi {x}", id="q", vars={"x": "y"}, reference="a", check="contains")
    assert Case.model_validate(case.model_dump()) == case


# --- load_cases: JSONL -----------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_file_loads() -> None:
    """A JSONL file gives Cases with every field; blank lines are skipped; ids numbered."""
    path = Path("cases.jsonl")
    path.write_text(
        '{"prompt": "Capital of {c}?", "vars": {"c": "France"}, "reference": "Paris",'
        ' "check": "contains", "cluster": "geo", "role": "reviewer", "id": "geo-1"}\n'
        "\n"
        '{"prompt": "Extract", "check": "json", "reference": {"a": [1, 2]}}\n'
        "   \n"
        '{"prompt": "third", "id": 12}\n',
        encoding="utf-8",
    )
    cases = load_cases(path)
    assert [c.id for c in cases] == ["geo-1", "case-2", "12"]
    assert cases[0].text() == "Capital of France?"
    assert (cases[0].cluster, cases[0].role, cases[0].check) == ("geo", "reviewer", "contains")
    assert cases[1].reference == {"a": [1, 2]}
    assert load_cases(str(path)) == cases


def test_upper_case_suffix_is_accepted(tmp_path: Path) -> None:
    """The suffix is matched without regard to case (.JSONL, .CSV)."""
    assert load_cases(_write(tmp_path, "C.JSONL", '{"prompt": "a"}\n'))[0].prompt == "a"
    assert load_cases(_write(tmp_path, "C.CSV", "prompt\nb\n"))[0].prompt == "b"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("not json", "not JSON"),
        ('{"prompt": "x",}', "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
        ("null", "JSON object"),
        ('{"prompt": "x", "colour": "red"}', "unknown field 'colour'"),
        ('{"prompt": 5}', "'prompt' must be a string"),
        ('{"id": "x"}', "'prompt' must be a string"),
        ('{"prompt": "x", "vars": [1]}', "'vars' must be an object"),
        ('{"prompt": "x", "id": [1]}', "'id' must be a string"),
        ('{"prompt": "x", "id": 1.5}', "'id' must be a string"),
        ('{"prompt": "x", "cluster": 3}', "cluster"),
        ('{"prompt": "x", "role": ["a"]}', "role"),
        ('{"prompt": "x", "check": 1}', "check"),
        ('{"prompt": "x", "check": "nope", "reference": "a"}', "'nope' is not one of"),
        ('{"prompt": "x", "check": "equals"}', "needs a reference"),
        ('{"prompt": "x", "check": "python", "reference": "y"}', "vars['tests']"),
        ('{"prompt": "Hi {name}", "vars": {"x": 1}}', "{name}"),
        ('{"prompt": ""}', "empty prompt"),
    ],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str, fragment: str) -> None:
    """A bad JSONL line is a CasesFileError naming the file and its line number (blanks count)."""
    path = _write(tmp_path, "bad.jsonl", '{"prompt": "fine"}\n\n' + line + '\n{"prompt": "ok"}\n')
    with pytest.raises(CasesFileError) as caught:
        load_cases(path)
    message = str(caught.value)
    assert f"{path} line 3" in message
    assert fragment in message


def test_jsonl_duplicate_ids_name_the_file_and_id(tmp_path: Path) -> None:
    """Two lines with one id: a CasesFileError naming the file and the id."""
    path = _write(tmp_path, "dup.jsonl", '{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x"}\n')
    with pytest.raises(CasesFileError, match="two cases have the id 'x'") as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


def test_cases_file_error_is_a_config_error() -> None:
    """CasesFileError is caught by `except ConfigError`."""
    assert issubclass(CasesFileError, ConfigError)


# --- load_cases: CSV -------------------------------------------------------------------------


def test_csv_extra_columns_become_vars(tmp_path: Path) -> None:
    """Columns that are not Case fields become vars, merged over the JSON of a vars column."""
    path = _write(
        tmp_path,
        "cases.csv",
        "id,prompt,country,vars,reference,check,cluster,role\n"
        'geo-1,Capital of {country}? {hint},France,"{""hint"": ""One word.""}",Paris,'
        "contains,geo,reviewer\n"
        'geo-2,Capital of {country}?,Peru,"{""country"": ""Chile""}",Lima,equals,,\n',
    )
    first, second = load_cases(path)
    assert first.id == "geo-1"
    assert first.vars == {"country": "France", "hint": "One word."}
    assert first.text() == "Capital of France? One word."
    assert (first.reference, first.check, first.cluster, first.role) == (
        "Paris",
        "contains",
        "geo",
        "reviewer",
    )
    assert second.text() == "Capital of Peru?"  # the column wins over the vars JSON
    assert (second.cluster, second.role) == (None, None)  # empty cells: not given


def test_csv_json_reference_is_parsed_only_for_json_checks(tmp_path: Path) -> None:
    """A "json" case's reference is JSON text; other references stay strings."""
    path = _write(
        tmp_path,
        "cases.csv",
        "prompt,check,reference,vars\n"
        'Extract,json,"{""a"": 1, ""b"": [true, null]}","{""schema"": {""type"": ""object""}}"\n'
        "Status?,contains,429,\n"
        'Label?,equals,"{""a"": 1}",\n',
    )
    extract, status, label = load_cases(path)
    assert extract.reference == {"a": 1, "b": [True, None]}
    assert extract.vars == {"schema": {"type": "object"}}
    assert status.reference == "429"
    assert label.reference == '{"a": 1}'
    assert [c.id for c in (extract, status, label)] == ["case-1", "case-2", "case-3"]


def test_csv_python_case_takes_tests_from_a_column(tmp_path: Path) -> None:
    """A "tests" column becomes vars['tests'] for a python case."""
    path = _write(
        tmp_path,
        "code.csv",
        'prompt,check,tests\nWrite f,python,"assert f() == 1\nassert f() != 2"\n',
    )
    (case,) = load_cases(path)
    assert case.vars["tests"] == "assert f() == 1\nassert f() != 2"


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ('Q,"{not json",,', "vars/reference is not JSON"),
        ("Q,,json,{bad", "vars/reference is not JSON"),
        ("Q,,equals,", "needs a reference"),
        ('Hi {who},"{""x"": 1}",,', "{who}"),
        ("Q,,,,extra", "more cells than header columns"),
        (",,,", "'prompt' must be a string"),
        ("Q,,bogus,x", "'bogus' is not one of"),
    ],
)
def test_csv_bad_row_names_file_and_line(tmp_path: Path, row: str, fragment: str) -> None:
    """A bad CSV row is a CasesFileError naming the file and the row's line number."""
    path = _write(tmp_path, "bad.csv", f"prompt,vars,check,reference\nfine,,,\n{row}\nok,,,\n")
    with pytest.raises(CasesFileError) as caught:
        load_cases(path)
    message = str(caught.value)
    assert f"{path} line 3" in message
    assert fragment in message


def test_csv_without_prompt_column_is_rejected(tmp_path: Path) -> None:
    """A CSV whose header has no 'prompt' column is a CasesFileError naming the file."""
    path = _write(tmp_path, "noprompt.csv", "question,reference\nQ,A\n")
    with pytest.raises(CasesFileError, match="'prompt' column") as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("cell", ['"[1, 2]"', "5", "null"])
def test_csv_vars_that_is_not_an_object_names_the_line(tmp_path: Path, cell: str) -> None:
    """A vars cell holding JSON that is not an object is a CasesFileError naming the line."""
    path = _write(tmp_path, "vars.csv", f"prompt,vars\nQ,{cell}\n")
    with pytest.raises(CasesFileError, match="line 2"):
        load_cases(path)


def test_csv_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    """A CSV saved with a UTF-8 byte order mark loads like one without."""
    path = tmp_path / "excel.csv"
    path.write_text("\ufeffprompt,id\nQ,x\n", encoding="utf-8")
    assert load_cases(path)[0].id == "x"


# --- load_cases: files that cannot be used ---------------------------------------------------


def test_missing_file_is_a_cases_file_error(tmp_path: Path) -> None:
    """A path that does not exist is a CasesFileError naming it."""
    path = tmp_path / "nowhere.jsonl"
    with pytest.raises(CasesFileError, match="cannot read") as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


def test_directory_is_a_cases_file_error(tmp_path: Path) -> None:
    """A directory named like a cases file is a CasesFileError naming it."""
    path = tmp_path / "dir.jsonl"
    path.mkdir()
    with pytest.raises(CasesFileError, match="cannot read") as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


def test_file_that_is_not_utf8_is_a_cases_file_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a CasesFileError naming the file."""
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"prompt": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(CasesFileError, match="cannot read") as caught:
        load_cases(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "shown"), [("cases.txt", ".txt"), ("cases.json", ".json"), ("cases", "none")]
)
def test_unknown_suffix_is_rejected(tmp_path: Path, name: str, shown: str) -> None:
    """Only .jsonl and .csv are read; any other suffix is a CasesFileError saying which."""
    path = _write(tmp_path, name, '{"prompt": "a"}\n')
    with pytest.raises(CasesFileError, match=r"\.jsonl or \.csv") as caught:
        load_cases(path)
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("empty.jsonl", "", "has no cases"),
        ("blank.jsonl", "\n   \n\t\n", "has no cases"),
        ("header.csv", "prompt,reference\n", "has no cases"),
        ("empty.csv", "", "'prompt' column"),
    ],
)
def test_empty_file_is_rejected(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    """A file with no cases is a CasesFileError naming the file."""
    path = _write(tmp_path, name, text)
    with pytest.raises(CasesFileError) as caught:
        load_cases(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)
