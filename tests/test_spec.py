"""Experiment specs (`nvgw_nb.experiments.spec`): parsing, errors that name the file and the
key, and expectations judged from the interval — by hand-made numbers and on simulator runs."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pytest

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.analysis import PairedComparison
from nvgw_nb.experiments.run import Run
from nvgw_nb.experiments.spec import Expectation, Spec, load_spec
from nvgw_nb.experiments.summary import MetricSummary
from nvgw_nb.sim import Simulator

_WORDS = ("amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "harbor")

#: a spec over `write_cases`' file: NIM vs the gateway, graded by each case's reference
SPEC = """\
cases = "cases.jsonl"
repeats = 1
seed = 0
description = "test spec"

[vary]
provider = ["nvidia-nim", "nvidia-gateway"]

[options]
temperature = 0

[[scorers]]
type = "expected"

[[expect]]
metric = "expected"
a = { provider = "nvidia-nim" }
b = { provider = "nvidia-gateway" }
not_worse_than = -0.30
"""


def write_cases(directory: Path, n: int = 40) -> Path:
    """`n` cases (no clusters) whose reference is a code word, graded by "contains"."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cases.jsonl"
    lines = [
        json.dumps(
            {
                "id": f"q{i:02d}",
                "prompt": f"Which code word goes with item {i}? Answer with the word.",
                "reference": f"{_WORDS[i % len(_WORDS)]}{i}",
                "check": "contains",
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_spec(directory: Path, text: str = SPEC, *, cases: bool = True) -> Path:
    """`text` as directory/spec.toml, with the cases file beside it."""
    if cases:
        write_cases(directory)
    path = directory / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def simulated_run(spec: Spec, accuracy: Mapping[str, float]) -> Run:
    """`spec` run on a zero-latency simulator with these accuracies."""
    with Simulator(time_scale=0, accuracy=accuracy) as sim, sim.session() as session:
        return spec.build(session).run(progress=False)


# --- parsing ------------------------------------------------------------------------------------
def test_good_spec(tmp_path: Path) -> None:
    """Every part of a good spec is read: cases, grid, options, scorers, expectations."""
    spec = load_spec(write_spec(tmp_path))
    assert len(spec.cases) == 40
    assert spec.cases_path == (tmp_path / "cases.jsonl").resolve()
    assert spec.vary == {"provider": ["nvidia-nim", "nvidia-gateway"]}
    assert (spec.repeats, spec.seed, spec.description) == (1, 0, "test spec")
    assert spec.options == {"temperature": 0}
    assert [s.scorer.name for s in spec.scorers] == ["expected"]
    (only,) = spec.expectations
    assert (only.kind, only.metric, only.threshold) == ("not_worse_than", "expected", -0.30)
    assert (only.a, only.b, only.key) == (
        {"provider": "nvidia-nim"},
        {"provider": "nvidia-gateway"},
        "expect[1]",
    )


def test_cases_path_is_relative_to_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cases` is found next to the spec, whatever the working directory."""
    write_cases(tmp_path / "specs" / "data")
    spec_path = tmp_path / "specs" / "exp.toml"
    spec_path.write_text(SPEC.replace('"cases.jsonl"', '"data/cases.jsonl"'), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec(Path("..") / "specs" / "exp.toml")
    assert spec.cases_path == (tmp_path / "specs" / "data" / "cases.jsonl").resolve()
    assert len(spec.cases) == 40


def test_defaults(tmp_path: Path) -> None:
    """Only `cases` is required; the metric defaults to the first scorer's name."""
    text = 'cases = "cases.jsonl"\n[[scorers]]\ntype = "contains"\nname = "has"\n'
    text += '[[expect]]\narm = {provider = "nvidia-nim"}\nat_least = 0.5\n'
    spec = load_spec(write_spec(tmp_path, text))
    assert (spec.repeats, spec.seed, spec.vary, spec.options) == (1, 0, {}, {})
    assert spec.expectations[0].metric == "has"


@pytest.mark.parametrize(
    ("kind", "options", "name"),
    [
        ("expected", {}, "expected"),
        ("contains", {"text": "paris", "case_sensitive": True}, "contains"),
        ("equals", {"value": "bug", "name": "label"}, "label"),
        ("regex", {"pattern": "(?i)paris"}, "regex"),
        ("json_schema", {"model_or_schema": {"type": "object"}}, "json_schema"),
        ("similar", {"threshold": 0.7}, "similar"),
        ("human", {}, "human"),
    ],
)
def test_scorer_types(tmp_path: Path, kind: str, options: dict[str, object], name: str) -> None:
    """Each check type maps to its nv.checks factory, with its keyword arguments."""
    table = "".join(
        f"{k} = {json.dumps(v)}\n" for k, v in options.items() if k != "model_or_schema"
    )
    if "model_or_schema" in options:
        table += 'model_or_schema = { type = "object" }\n'
    text = f'cases = "cases.jsonl"\n[[scorers]]\ntype = "{kind}"\n{table}'
    spec = load_spec(write_spec(tmp_path, text))
    (scorer,) = spec.scorers
    assert (scorer.type, scorer.scorer.name) == (kind, name)


_BAD: list[tuple[str, str, str]] = [
    # (what is wrong, the spec text, the key the error must name)
    ("unknown top-level key", SPEC + "colour = 1\n", "colour"),
    ("cases missing", SPEC.replace('cases = "cases.jsonl"\n', ""), "cases"),
    ("cases not a string", SPEC.replace('"cases.jsonl"', "3"), "cases"),
    ("no such cases file", SPEC.replace('"cases.jsonl"', '"nope.jsonl"'), "cases"),
    ("repeats a string", SPEC.replace("repeats = 1", 'repeats = "2"'), "repeats"),
    ("repeats zero", SPEC.replace("repeats = 1", "repeats = 0"), "repeats"),
    ("repeats a boolean", SPEC.replace("repeats = 1", "repeats = true"), "repeats"),
    ("seed a float", SPEC.replace("seed = 0", "seed = 1.5"), "seed"),
    ("description not a string", SPEC.replace('"test spec"', "[1]"), "description"),
    ("vary a value", SPEC.replace("[vary]\n", "").replace("provider = [", "vary = ["), "vary"),
    (
        "an axis a string",
        SPEC.replace('["nvidia-nim", "nvidia-gateway"]', '"nim"'),
        "vary.provider",
    ),
    ("an axis empty", SPEC.replace('["nvidia-nim", "nvidia-gateway"]', "[]"), "vary.provider"),
    ("unknown option", SPEC.replace("temperature = 0", "colour = 0"), "options.colour"),
    ("validator option", SPEC.replace("temperature = 0", 'validator = "x"'), "options.validator"),
    (
        "temperature a string",
        SPEC.replace("temperature = 0", 'temperature = "hot"'),
        "options.temperature",
    ),
    (
        "max_tokens a float",
        SPEC.replace("temperature = 0", "max_tokens = 1.5"),
        "options.max_tokens",
    ),
    ("system a number", SPEC.replace("temperature = 0", "system = 1"), "options.system"),
    ("unknown scorer", SPEC.replace('type = "expected"', 'type = "telepathy"'), "scorers[1].type"),
    ("python scorer", SPEC.replace('type = "expected"', 'type = "python"'), "scorers[1].type"),
    ("scorer without type", SPEC.replace('type = "expected"', 'name = "x"'), "scorers[1].type"),
    ("scorer type a number", SPEC.replace('type = "expected"', "type = 1"), "scorers[1].type"),
    (
        "unknown scorer key",
        SPEC.replace('type = "expected"', 'type = "expected"\nbogus = 1'),
        "scorers[1].bogus",
    ),
    (
        "regex without pattern",
        SPEC.replace('type = "expected"', 'type = "regex"'),
        "scorers[1].pattern",
    ),
    (
        "bad regex",
        SPEC.replace('type = "expected"', "type = \"regex\"\npattern = '('"),
        "scorers[1]",
    ),
    ("scorers a table", SPEC.replace("[[scorers]]", "[scorers]"), "scorers"),
    (
        "two scorers, one name",
        SPEC.replace('type = "expected"', 'type = "expected"\n[[scorers]]\ntype = "expected"'),
        "scorers[2].name",
    ),
    ("unknown expect key", SPEC + "colour = 1\n", "expect[1].colour"),
    ("two kinds", SPEC + "better = true\n", "expect[1]"),
    ("no kind", SPEC.replace("not_worse_than = -0.30\n", ""), "expect[1]"),
    (
        "unknown metric",
        SPEC.replace('metric = "expected"', 'metric = "accuracy"'),
        "expect[1].metric",
    ),
    ("positive margin", SPEC.replace("-0.30", "0.05"), "expect[1].not_worse_than"),
    ("margin a string", SPEC.replace("-0.30", '"a lot"'), "expect[1].not_worse_than"),
    ("margin not finite", SPEC.replace("-0.30", "-inf"), "expect[1].not_worse_than"),
    (
        "better = false",
        SPEC.replace("not_worse_than = -0.30", "better = false"),
        "expect[1].better",
    ),
    ("a not a table", SPEC.replace('{ provider = "nvidia-nim" }', '"nim"'), "expect[1].a"),
    ("b missing", SPEC.replace('b = { provider = "nvidia-gateway" }\n', ""), "expect[1].b"),
    ("arm with a and b", SPEC + 'arm = { provider = "nvidia-nim" }\n', "expect[1].arm"),
    (
        "at_least without arm",
        SPEC.replace("not_worse_than = -0.30", "at_least = 0.5"),
        "expect[1].arm",
    ),
    ("expect without scorers", SPEC.replace('[[scorers]]\ntype = "expected"\n', ""), "expect[1]"),
    ("not TOML", SPEC + "this is = = not toml\n", "not a valid TOML"),
]


@pytest.mark.parametrize(("problem", "text", "key"), _BAD, ids=[b[0] for b in _BAD])
def test_bad_spec_names_file_and_key(tmp_path: Path, problem: str, text: str, key: str) -> None:
    """Each mistake is a ConfigError naming the spec file and the offending key."""
    path = write_spec(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert str(path) in message, problem
    assert key in message, (problem, message)


def test_missing_spec_file(tmp_path: Path) -> None:
    """A spec that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_spec(tmp_path / "nope.toml")


def test_bad_cases_file_names_the_spec_and_the_line(tmp_path: Path) -> None:
    """A broken cases file is reported under the spec's `cases` key, with its own line."""
    path = write_spec(tmp_path)
    (tmp_path / "cases.jsonl").write_text('{"prompt": "ok"}\n{not json\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    assert str(path) in str(caught.value)
    assert "cases" in str(caught.value)
    assert "2" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SPEC.replace('{ provider = "nvidia-nim" }', '{ provider = "openai" }'), "expect[1].a"),
        (SPEC.replace('{ provider = "nvidia-nim" }', '{ system = "terse" }'), "expect[1].a"),
        (SPEC.replace("[options]", '[vary.model]\nopenai = ["gpt-4o"]\n[options]'), "model"),
    ],
)
def test_build_errors_name_the_file(tmp_path: Path, text: str, key: str) -> None:
    """Problems only the grid can see (an arm no cell matches, a bad axis) name the file."""
    spec = load_spec(write_spec(tmp_path, text))
    with (
        Simulator(time_scale=0) as sim,
        sim.session() as session,
        pytest.raises(ConfigError) as caught,
    ):
        spec.build(session)
    assert str(spec.path) in str(caught.value)
    assert key in str(caught.value)


# --- expectations on hand-made numbers ------------------------------------------------------------
def _comparison(delta: float, low: float, high: float, n: int = 40) -> PairedComparison:
    return PairedComparison(
        metric="expected",
        a="nvidia-nim",
        b="nvidia-gateway",
        delta=delta,
        ci=(low, high),
        p_value=0.5,
        test="McNemar exact",
        n_cases=n,
        n_calls=2 * n,
        mde=0.2,
        mean_a=0.8 + delta,
        mean_b=0.8,
        binary=True,
    )


def _expect(kind: str, threshold: float) -> Expectation:
    return Expectation(
        kind=kind,  # type: ignore[arg-type]
        metric="expected",
        threshold=threshold,
        a={"provider": "nvidia-nim"},
        b={"provider": "nvidia-gateway"},
    )


@pytest.mark.parametrize(
    ("delta", "low", "high", "passed"),
    [
        (0.01, -0.04, 0.06, True),  # the whole interval is above the margin
        (-0.02, -0.05, 0.01, True),  # the lower bound exactly at the margin
        (-0.02, -0.0500001, 0.01, False),  # just below it
        (0.02, -0.09, 0.13, False),  # a fine point estimate does not rescue a wide interval
        (-0.20, -0.30, -0.10, False),  # clearly worse
    ],
)
def test_non_inferiority(delta: float, low: float, high: float, passed: bool) -> None:
    """`not_worse_than` passes only when the CI's lower bound of a − b is at or above it."""
    result = _expect("not_worse_than", -0.05).judge_difference(_comparison(delta, low, high))
    assert result.passed is passed
    assert result.statement.startswith("PASS" if passed else "FAIL")
    assert "(95% CI " in result.statement
    assert "5.0 points" in result.statement


def test_non_inferiority_statement_is_honest_about_a_wide_interval() -> None:
    """A failing non-inferiority with a good point estimate says the data could not rule
    the loss out, rather than that a is worse."""
    result = _expect("not_worse_than", -0.05).judge_difference(_comparison(-0.02, -0.09, 0.05))
    assert not result.passed
    assert "could not rule out" in result.statement
    assert "point estimate" in result.statement
    assert "−9.0 to 5.0 points" in result.statement
    worse = _expect("not_worse_than", -0.05).judge_difference(_comparison(-0.2, -0.3, -0.1))
    assert "is worse than nvidia-gateway by more than 5.0 points" in worse.statement


@pytest.mark.parametrize(
    ("low", "high", "passed", "words"),
    [
        (0.01, 0.2, True, "is better than"),
        (0.0, 0.2, False, "includes 0"),
        (-0.1, 0.1, False, "no difference shown"),
        (-0.2, -0.01, False, "below 0"),
    ],
)
def test_better(low: float, high: float, passed: bool, words: str) -> None:
    """`better` passes only when the interval lies wholly above 0."""
    result = _expect("better", 0.0).judge_difference(_comparison((low + high) / 2, low, high))
    assert result.passed is passed
    assert words in result.statement


def test_too_few_cases_fail() -> None:
    """No interval (fewer than 2 shared cases) is never a pass."""
    result = _expect("not_worse_than", -0.5).judge_difference(
        _comparison(0.0, math.nan, math.nan, n=1)
    )
    assert not result.passed
    assert "no interval" in result.statement


@pytest.mark.parametrize(
    ("mean", "low", "passed"),
    [(0.9, 0.81, True), (0.9, 0.8, True), (0.9, 0.79, False), (0.7, 0.6, False)],
)
def test_at_least(mean: float, low: float, passed: bool) -> None:
    """`at_least` passes only when the arm's lower bound is at or above it."""
    expectation = Expectation(
        kind="at_least", metric="expected", threshold=0.8, arm={"provider": "nvidia-nim"}
    )
    summary = MetricSummary("expected", mean, low, 0.95, 40, True, "Wilson")
    result = expectation.judge_level(summary, simulated=True)
    assert result.passed is passed
    assert "80.0%" in result.statement
    assert result.statement.endswith("[SIMULATED]")
    if not passed and mean >= 0.8:
        assert "could not rule out" in result.statement


# --- expectations on simulator runs ---------------------------------------------------------------
@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    """The test spec with four expectations, one of each kind and a tight margin."""
    text = SPEC + (
        '\n[[expect]]\na = { provider = "nvidia-gateway" }\nb = { provider = "nvidia-nim" }\n'
        "better = true\n"
        '\n[[expect]]\na = { provider = "nvidia-nim" }\nb = { provider = "nvidia-gateway" }\n'
        "not_worse_than = -0.05\n"
        '\n[[expect]]\narm = { provider = "nvidia-gateway" }\nat_least = 0.6\n'
    )
    return load_spec(write_spec(tmp_path_factory.mktemp("spec"), text))


@pytest.fixture(scope="module")
def equal_run(spec: Spec) -> Run:
    """Both providers 80% accurate."""
    return simulated_run(spec, {"nvidia-nim": 0.8, "nvidia-gateway": 0.8})


@pytest.fixture(scope="module")
def unequal_run(spec: Spec) -> Run:
    """NIM 50%, the gateway 95% accurate."""
    return simulated_run(spec, {"nvidia-nim": 0.5, "nvidia-gateway": 0.95})


def test_equal_accuracy(spec: Spec, equal_run: Run) -> None:
    """Equal accuracy: non-inferiority at −30 points holds; `better` is not shown; the tight
    −5-point margin cannot be shown on 40 cases."""
    wide, better, tight, level = spec.check(equal_run)
    assert wide.passed, wide.statement
    assert not better.passed, better.statement
    assert not tight.passed
    assert "could not rule out" in tight.statement
    assert level.summary is not None
    assert level.summary.n_cases == 40
    assert all("[SIMULATED]" in r.statement for r in (wide, better, tight, level))


def test_unequal_accuracy(spec: Spec, unequal_run: Run) -> None:
    """NIM 50% vs the gateway 95%: the gateway is better, NIM fails non-inferiority, and
    the gateway's pass rate is at least 60%."""
    wide, better, tight, level = spec.check(unequal_run)
    assert better.passed, better.statement
    assert not tight.passed
    assert not wide.passed
    assert tight.comparison is not None
    assert tight.comparison.ci[1] < 0
    assert level.passed, level.statement
