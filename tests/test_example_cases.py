"""examples/cases.jsonl: the labelled cases the demo and the quality report run on.

Every gold answer must be right by its own check: a JSON reference fits its schema, a code
reference passes its own tests in a fresh interpreter, a router label is one the prompt
offers. A wrong gold answer would make every model look worse than it is.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from nvgw_nb.experiments.cases import Case, load_cases
from nvgw_nb.roles import ROLE_NAMES

CASES_FILE = Path(__file__).resolve().parent.parent / "examples" / "cases.jsonl"
CASES = load_cases(CASES_FILE)
ROUTER_LABELS = ("bug", "feature", "question", "docs", "infra")
CHECK_OF_ROLE = {
    "router": "equals",
    "planner": "json",
    "programmer": "python",
    "reviewer": "contains",
}
CODE_TIMEOUT_S = 20


def _of(check: str) -> list[Case]:
    return [case for case in CASES if case.check == check]


def _ids(cases: list[Case]) -> list[str]:
    return [str(case.id) for case in cases]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in an isolated interpreter (no site-packages path tricks, no cwd import)."""
    return subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=CODE_TIMEOUT_S,
        check=False,
    )


def _function_name(code: str) -> str:
    """The name of the first top-level function a reference solution defines."""
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            return node.name
    raise AssertionError("the reference defines no function")


def test_file_loads_with_enough_cases() -> None:
    """The file loads with load_cases and holds at least 40 cases."""
    assert len(CASES) >= 40


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_has_ten_cases_or_more(role: str) -> None:
    """Every one of the four roles has at least 10 cases."""
    assert sum(case.role == role for case in CASES) >= 10


def test_every_case_has_a_known_role() -> None:
    """No case names a role outside nvgw_nb.roles."""
    assert {case.role for case in CASES} <= set(ROLE_NAMES)


def test_ids_are_unique_readable_and_given() -> None:
    """Ids are written in the file (not numbered by position), unique, and '<role>-NN'."""
    ids = _ids(CASES)
    assert len(set(ids)) == len(ids)
    for case in CASES:
        assert re.fullmatch(rf"{case.role}-\d\d", str(case.id)), case.id


def test_every_case_has_a_check_reference_and_cluster() -> None:
    """Each case carries a check, a reference and a cluster."""
    for case in CASES:
        assert case.check is not None, case.id
        assert case.reference is not None, case.id
        assert case.cluster, case.id


def test_each_role_uses_its_check() -> None:
    """router → equals, planner → json, programmer → python, reviewer → contains."""
    for case in CASES:
        assert case.role is not None
        assert case.check == CHECK_OF_ROLE[case.role], case.id


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_spans_several_clusters(role: str) -> None:
    """Three or more clusters per role, none holding a single case (clustered SEs need both)."""
    sizes = Counter(case.cluster for case in CASES if case.role == role)
    assert len(sizes) >= 3
    assert min(sizes.values()) >= 2


def test_some_router_cases_use_the_request_template() -> None:
    """Some router prompts are `{request}` templates, filled from vars when sent."""
    templated = [c for c in CASES if c.role == "router" and "{request}" in c.prompt]
    assert len(templated) >= 4
    for case in templated:
        assert case.vars["request"] in case.text()
        assert "{request}" not in case.text()


@pytest.mark.parametrize("case", _of("equals"), ids=_ids(_of("equals")))
def test_router_label_is_one_the_prompt_offers(case: Case) -> None:
    """A router's gold label is one of the fixed labels, and the prompt lists all of them."""
    assert case.reference in ROUTER_LABELS
    text = case.text()
    for label in ROUTER_LABELS:
        assert label in text


def test_router_labels_cover_the_label_set() -> None:
    """Every label is the gold answer of at least one case."""
    assert {case.reference for case in _of("equals")} == set(ROUTER_LABELS)


@pytest.mark.parametrize("case", _of("json"), ids=_ids(_of("json")))
def test_json_reference_fits_its_schema(case: Case) -> None:
    """A "json" case's schema is valid, and its reference validates against it."""
    schema = case.vars["schema"]
    validator = jsonschema.Draft202012Validator
    validator.check_schema(schema)
    validator(schema).validate(case.reference)
    assert set(case.reference) == set(schema["required"])


@pytest.mark.parametrize("case", _of("json"), ids=_ids(_of("json")))
def test_json_schema_rejects_a_wrong_enum_value(case: Case) -> None:
    """The schema has teeth: an enum field set to a value outside the enum fails."""
    schema = case.vars["schema"]
    enums = [key for key, spec in schema["properties"].items() if "enum" in spec]
    assert enums, "each extraction schema should constrain at least one field"
    wrong = {**case.reference, enums[0]: "not-a-choice"}
    assert not jsonschema.Draft202012Validator(schema).is_valid(wrong)


@pytest.mark.parametrize("case", _of("python"), ids=_ids(_of("python")))
def test_python_reference_passes_its_own_tests(case: Case) -> None:
    """The reference solution with the case's tests appended exits 0 in a fresh interpreter."""
    result = _run(case.reference + "\n\n" + case.vars["tests"])
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("case", _of("python"), ids=_ids(_of("python")))
def test_python_tests_fail_a_stub(case: Case) -> None:
    """The tests can fail: a function of the right name that returns None does not pass."""
    stub = f"def {_function_name(case.reference)}(*args, **kwargs):\n    return None\n"
    result = _run(stub + "\n" + case.vars["tests"])
    assert result.returncode != 0


@pytest.mark.parametrize("case", _of("python"), ids=_ids(_of("python")))
def test_python_tests_have_several_asserts(case: Case) -> None:
    """Each code task is checked by at least four assertions or raise checks."""
    tests = case.vars["tests"]
    assert tests.count("assert") + tests.count("raise AssertionError") >= 4


@pytest.mark.parametrize("case", _of("python"), ids=_ids(_of("python")))
def test_python_reference_uses_only_the_standard_library(case: Case) -> None:
    """Reference solutions import nothing outside the standard library and do no I/O."""
    tree = ast.parse(case.reference)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"open", "input", "print", "exec", "eval"}
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names, name


@pytest.mark.parametrize("case", _of("contains"), ids=_ids(_of("contains")))
def test_contains_reference_is_not_given_away_by_the_question(case: Case) -> None:
    """A "contains" reference does not appear in the prompt, so echoing it cannot pass."""
    assert str(case.reference).casefold() not in case.text().casefold()


def test_no_urls_other_than_example_com() -> None:
    """The file holds no links except to example.com."""
    text = CASES_FILE.read_text(encoding="utf-8")
    for url in re.findall(r"[a-z]+://[^\s\"'\\]+", text):
        assert re.match(r"[a-z]+://(?:[a-z0-9-]+\.)*example\.com(?:[/:]|$)", url), url


# --- the gold answers through checks.expected() (the scorer the demo uses) ------------------


def _expected(case: Case, answer: str) -> Any:
    """checks.expected()'s Score for `answer` to `case`, through the Scorer API."""
    from nvgw_nb.experiments.checks import expected
    from nvgw_nb.experiments.scoring import ScoringContext, Subject

    return asyncio.run(
        expected(timeout_s=CODE_TIMEOUT_S).ascore(Subject(case, answer), ScoringContext())
    )


def _gold_answer(case: Case) -> str:
    """The reference written as a model would answer: JSON in a fence, code in a fence."""
    if case.check == "json":
        return "Here it is:\n```json\n" + json.dumps(case.reference, indent=2) + "\n```"
    if case.check == "python":
        return "```python\n" + case.reference + "```\n"
    return str(case.reference)


def _wrong_answer(case: Case) -> str:
    """An answer that is plainly wrong for `case` but has the right shape."""
    if case.check == "equals":
        return next(label for label in ROUTER_LABELS if label != case.reference)
    if case.check == "json":
        schema = case.vars["schema"]
        key = next(k for k, spec in schema["properties"].items() if "enum" in spec)
        other = next(v for v in schema["properties"][key]["enum"] if v != case.reference[key])
        return json.dumps({**case.reference, key: other})
    if case.check == "python":
        return f"def {_function_name(case.reference)}(*args, **kwargs):\n    return None\n"
    return "I am not sure."


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_gold_answer_passes_checks_expected(case: Case) -> None:
    """Each case's own reference, answered as a model would, passes checks.expected()."""
    score = _expected(case, _gold_answer(case))
    assert score.passed is True, score.reason
    assert score.value == 1.0


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_wrong_answer_fails_checks_expected(case: Case) -> None:
    """A plainly wrong answer of the right shape fails checks.expected()."""
    score = _expected(case, _wrong_answer(case))
    assert score.passed is False, score.reason
