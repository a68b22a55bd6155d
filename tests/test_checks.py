"""Checks (nv.checks), the Score/Scorer base, the code runner and the R9 agreement baseline."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel

import nvgw_nb as nv
from nvgw_nb.embeddings import Embeddings
from nvgw_nb.errors import ConfigError, RateLimited
from nvgw_nb.experiments import checks
from nvgw_nb.experiments.cases import Case
from nvgw_nb.experiments.code_runner import arun_python, extract_code, run_python
from nvgw_nb.experiments.scoring import (
    Check,
    Score,
    Scorer,
    ScoringContext,
    Subject,
    validate_scorers,
)


def score(scorer: Scorer, text: str | None, case: Case, ctx: ScoringContext | None = None) -> Score:
    return asyncio.run(scorer.ascore(Subject(case, text), ctx or ScoringContext()))


PARIS = Case("Capital of France?", id="c1", reference="Paris", check="contains")
BARE = Case("Say something.", id="c2")
JSON_CASE = Case(
    "Extract the person.",
    id="c3",
    reference={"name": "Ada Lovelace", "born": 1815},
    check="json",
    vars={"schema": {"type": "object", "required": ["name", "born"]}},
)
CODE_CASE = Case(
    "Write add(a, b).", id="c4", check="python", vars={"tests": "assert add(2, 3) == 5"}
)


# --- Score and the scorer list ------------------------------------------------------------
def test_score_round_trips_through_a_dict() -> None:
    """to_dict / from_dict keep every field."""
    original = Score(0.5, None, "half", tokens=12, cost_usd=0.001, kind="judge")
    assert Score.from_dict(original.to_dict()) == original
    assert Score.from_dict({"value": None, "passed": None}) == Score(None, None)


def test_scorer_list_rejects_duplicates_and_non_scorers() -> None:
    """A duplicate name or a non-scorer is a ConfigError naming it."""
    assert [s.name for s in validate_scorers([checks.contains(), checks.equals()])] == [
        "contains",
        "equals",
    ]
    with pytest.raises(ConfigError, match="two scorers are named 'contains'"):
        validate_scorers([checks.contains(), checks.contains("x")])
    with pytest.raises(ConfigError, match=r"scorers\[1\] is not a scorer.*call it"):
        validate_scorers([checks.contains(), checks.expected])
    with pytest.raises(ConfigError, match="list of scorers"):
        validate_scorers(checks.contains())  # type: ignore[arg-type]


# --- the table of checks ------------------------------------------------------------------
CASES: list[tuple[str, Scorer, str | None, Case, bool | None, str]] = [
    # contains
    ("contains reference", checks.contains(), "It is paris.", PARIS, True, "found"),
    ("contains miss", checks.contains(), "Lyon", PARIS, False, "not in the answer"),
    ("contains no reference", checks.contains(), "Paris", BARE, None, "no reference"),
    ("contains no answer", checks.contains(), None, PARIS, None, "no answer"),
    ("contains given", checks.contains("LYON"), "lyon!", PARIS, True, "found"),
    ("contains any of", checks.contains(["Rome", "Lyon"]), "lyon", BARE, True, "found"),
    ("contains case", checks.contains("Paris", case_sensitive=True), "paris", PARIS, False, ""),
    # equals
    ("equals normalised", checks.equals(), '  "PARIS."  ', PARIS, True, "equals"),
    ("equals miss", checks.equals(), "Paris, France", PARIS, False, "is not"),
    ("equals no reference", checks.equals(), "x", BARE, None, "no reference"),
    ("equals no answer", checks.equals(), None, PARIS, None, "no answer"),
    ("equals value", checks.equals(42), "42", BARE, True, "equals"),
    ("equals backticks", checks.equals("positive"), "`positive`", BARE, True, ""),
    # regex
    ("regex match", checks.regex(r"\b\d{4}\b"), "born 1815", BARE, True, "matched '1815'"),
    ("regex miss", checks.regex(r"^\d+$"), "twelve", BARE, False, "no match"),
    ("regex no answer", checks.regex("x"), None, BARE, None, "no answer"),
    # expected
    ("expected contains", checks.expected(), "Paris!", PARIS, True, ""),
    ("expected contains miss", checks.expected(), "Nice", PARIS, False, ""),
    ("expected no reference", checks.expected(), "anything", BARE, None, "no reference"),
    ("expected no answer", checks.expected(), None, PARIS, None, "no answer"),
    (
        "expected equals",
        checks.expected(),
        "Positive.",
        Case("Sentiment?", reference="positive", check="equals"),
        True,
        "",
    ),
    (
        "expected no check",
        checks.expected(),
        "Paris",
        Case("Capital?", reference="Paris"),
        None,
        "no check",
    ),
    # json via expected
    (
        "json fenced",
        checks.expected(),
        'Here:\n```json\n{"name": "ada lovelace", "born": 1815, "x": 1}\n```',
        JSON_CASE,
        True,
        "matches",
    ),
    (
        "json inline",
        checks.expected(),
        'Result {"born": 1815.0, "name": "Ada Lovelace"} done',
        JSON_CASE,
        True,
        "",
    ),
    (
        "json wrong value",
        checks.expected(),
        '{"name": "Ada", "born": 1815}',
        JSON_CASE,
        False,
        "name: 'Ada' is not 'Ada Lovelace'",
    ),
    (
        "json schema broken",
        checks.expected(),
        '{"name": "Ada Lovelace"}',
        JSON_CASE,
        False,
        "schema: (root): 'born' is a required property",
    ),
    ("json none", checks.expected(), "no json here", JSON_CASE, False, "no JSON"),
    (
        "json bad fence",
        checks.expected(),
        '```json\n{"name": \n```',
        JSON_CASE,
        False,
        "does not parse",
    ),
    # python via expected (runs code in a child process)
    (
        "python pass",
        checks.expected(),
        "```python\ndef add(a, b):\n    return a + b\n```",
        CODE_CASE,
        True,
        "tests passed",
    ),
    (
        "python fail",
        checks.expected(),
        "def add(a, b):\n    return a - b",
        CODE_CASE,
        False,
        "AssertionError",
    ),
    ("python no answer", checks.expected(), None, CODE_CASE, None, "no answer"),
]


@pytest.mark.parametrize(
    ("scorer", "text", "case", "passed", "says"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_checks(
    scorer: Scorer, text: str | None, case: Case, passed: bool | None, says: str
) -> None:
    """Each check passes, fails, or does not apply, and says why."""
    result = score(scorer, text, case)
    assert result.passed is passed
    assert result.value == (None if passed is None else float(passed))
    assert says in result.reason
    assert (result.tokens, result.cost_usd, result.kind) == (0, 0.0, "check")


def test_expected_python_also_runs_synchronously() -> None:
    """Check.check (sync) grades a python case as ascore does."""
    scorer = checks.expected()
    assert isinstance(scorer, Check)
    ok = scorer.check(Subject(CODE_CASE, "def add(a, b):\n    return a + b"))
    assert ok.passed is True


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: checks.contains(5), "string or a list"),  # type: ignore[arg-type]
        (lambda: checks.contains(""), "must not be empty"),
        (lambda: checks.regex("("), "not a valid pattern"),
        (lambda: checks.regex(5), "pattern string"),  # type: ignore[arg-type]
        (lambda: checks.json_schema(5), "pydantic model class"),  # type: ignore[arg-type]
        (lambda: checks.json_schema({"type": "nonsense"}), "not a valid JSON schema"),
        (lambda: checks.python(5), "takes a function"),  # type: ignore[arg-type]
        (lambda: checks.contains(name=""), "non-empty string"),
        (lambda: checks.expected(timeout_s=0), "seconds > 0"),
        (lambda: checks.similar(threshold=2), "threshold"),
        (lambda: checks.similar(input_type="document"), "input_type"),
        (lambda: checks.similar(truncate="end"), "truncate"),
    ],
)
def test_bad_arguments_are_config_errors(make: Any, says: str) -> None:
    """A bad argument fails when the scorer is built, not mid-run."""
    with pytest.raises(ConfigError, match=says):
        make()


# --- json_schema --------------------------------------------------------------------------
class Person(BaseModel):
    name: str
    born: int


@pytest.mark.parametrize(
    ("spec", "text", "passed", "says"),
    [
        (Person, 'Sure! {"name": "Ada", "born": 1815}', True, "fits Person"),
        (Person, '{"name": "Ada", "born": "long ago"}', False, "born: "),
        (Person, '{"name": "Ada"}', False, "born: Field required"),
        (Person, "[1, 2]", False, "(root)"),
        (Person, "nothing", False, "no JSON"),
        ({"type": "array", "items": {"type": "integer"}}, "ids: [1, 2, 3]", True, "fits"),
        ({"type": "array", "items": {"type": "integer"}}, '["a"]', False, "0: 'a' is not"),
        (Person, 'x = {"a": "}"} then {"name": "Ada", "born": 1}', False, "name: Field required"),
    ],
)
def test_json_schema(spec: Any, text: str, passed: bool, says: str) -> None:
    """The first JSON in the answer is validated; the reason names the first error."""
    result = score(checks.json_schema(spec), text, BARE)
    assert result.passed is passed
    assert says in result.reason


def test_json_schema_without_answer() -> None:
    """A failed call is not a failed schema check."""
    assert score(checks.json_schema(Person), None, BARE) == Score(None, None, "no answer")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ('text {"a": "}"} more', {"a": "}"}),
        ("```json\n[1, 2]\n```", [1, 2]),
        ('{bad} then {"ok": true}', {"ok": True}),
        ('```\n{"plain": 1}\n```', {"plain": 1}),
    ],
)
def test_find_json(text: str, value: Any) -> None:
    """A ```json fence first, else the first balanced {...} / [...] that parses."""
    assert checks.find_json(text) == (value, None)


# --- python(fn) ------------------------------------------------------------------------------
def _boom(text: str, case: Case) -> bool:
    raise ValueError("bad input\nsecond line")


@pytest.mark.parametrize(
    ("fn", "value", "passed", "says"),
    [
        (lambda text, case: "Paris" in text, 1.0, True, ""),
        (lambda text, case: text.startswith("x"), 0.0, False, "returned False"),
        (lambda text, case: 0.25, 0.25, None, ""),
        (lambda text, case: Score(0.7, True, "mine"), 0.7, True, "mine"),
        (_boom, 0.0, False, "ValueError: bad input"),
        (lambda text, case: "yes", 0.0, False, "returned str"),
        (lambda text, case: case.reference == "Paris", 1.0, True, ""),
    ],
)
def test_python_check(fn: Any, value: float, passed: bool | None, says: str) -> None:
    """fn's bool, float or Score is the score; its exception a failed one, never raised."""
    result = score(checks.python(fn), "Paris", PARIS)
    assert (result.value, result.passed) == (value, passed)
    assert says in result.reason
    assert "second line" not in result.reason


def test_python_check_without_answer_does_not_call_fn() -> None:
    """No answer: None score, fn not called."""
    assert score(checks.python(_boom), None, PARIS).reason == "no answer"


# --- human ratings ---------------------------------------------------------------------------
def test_human_reads_the_ratings() -> None:
    """A rated answer scores as rated (kind "human"); an unrated one is None."""
    ctx = ScoringContext(ratings={("c1", "cell-a", 0): True, ("c1", "cell-a", 1): False})
    scorer = checks.human()

    def rated(repeat: int) -> Score:
        subject = Subject(PARIS, "Paris", cell="cell-a", repeat=repeat)
        return asyncio.run(scorer.ascore(subject, ctx))

    assert (rated(0).passed, rated(0).kind) == (True, "human")
    assert rated(1).passed is False
    assert rated(2) == Score(None, None, "not rated", kind="human")


# --- the code runner -------------------------------------------------------------------------
def test_runner_passes_and_fails() -> None:
    """Exit 0 passes; a failing assert names the AssertionError."""
    assert run_python("def f():\n    return 1", "assert f() == 1").passed
    failed = run_python("def f():\n    return 2", "assert f() == 1, 'f is wrong'")
    assert (failed.passed, failed.reason) == (False, "AssertionError: f is wrong")
    broken = run_python("def f(:\n", "")
    assert not broken.passed
    assert "SyntaxError" in broken.reason


def test_runner_timeout_is_bounded() -> None:
    """An endless loop is killed at the timeout."""
    started = time.monotonic()
    outcome = run_python("while True:\n    pass", "", timeout_s=1.0)
    assert time.monotonic() - started < 5
    assert (outcome.passed, outcome.reason) == (False, "timed out after 1 s")


def test_async_runner_timeout_is_bounded() -> None:
    """The async runner kills a sleeping child at the timeout too."""
    started = time.monotonic()
    outcome = asyncio.run(arun_python("import time\ntime.sleep(30)", "", timeout_s=1.0))
    assert time.monotonic() - started < 5
    assert not outcome.passed
    assert "timed out" in outcome.reason


@pytest.mark.skipif(os.name != "posix", reason="resource limits are POSIX")
def test_runner_memory_is_bounded() -> None:
    """A 10 GB allocation fails under the memory limit instead of eating the machine."""
    outcome = run_python("x = bytearray(10 ** 10)", "", memory_mb=256)
    assert (outcome.passed, outcome.reason) == (False, "MemoryError")


@pytest.mark.skipif(os.name != "posix", reason="file size limits are POSIX")
def test_runner_output_is_bounded() -> None:
    """A child printing without end is stopped at the output limit."""
    outcome = run_python("while True:\n    print('x' * 1000)", "", timeout_s=10)
    assert not outcome.passed
    assert "output over" in outcome.reason


def test_runner_child_sees_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of the parent's environment but PATH reaches the child."""
    monkeypatch.setenv("NVIDIA_NIM_API_KEY", "nvapi-canary-child")
    monkeypatch.setenv("CANARY_SECRET", "canary-value")
    code = "import os\nleaked = [k for k, v in os.environ.items() if 'canary' in v]"
    outcome = run_python(
        code, "assert not leaked, leaked\nassert 'CANARY_SECRET' not in os.environ"
    )
    assert outcome.passed, outcome.reason


def test_runner_works_in_a_fresh_directory(tmp_path: Any) -> None:
    """The child's working directory is a new empty one, not the caller's."""
    (tmp_path / "marker.txt").write_text("here")
    tests = "assert sorted(os.listdir('.')) == ['answer.py', 'output.txt'], os.listdir('.')"
    outcome = run_python("import os", tests)
    assert outcome.passed, outcome.reason


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\nx = 1\n```\ntext\n```python\ny = 2\n```", "x = 1\n"),
        ("```\nz = 3\n```", "z = 3\n"),
        ("```bash\nls\n```\n```py\nw = 4\n```", "w = 4\n"),
        ("v = 5", "v = 5"),
    ],
)
def test_extract_code(answer: str, code: str) -> None:
    """The first python fence, else the first fence, else the whole answer."""
    assert extract_code(answer) == code


# --- embeddings: similar and semantic_agreement ------------------------------------------------
class FakeEmbedder:
    """Stands in for a Session: fixed vectors per text, and a record of each request."""

    def __init__(self, vectors: dict[str, list[float]], fail: Exception | None = None) -> None:
        self.vectors = vectors
        self.calls: list[tuple[list[str], str]] = []
        self.fail = fail

    async def aembed(
        self,
        texts: Sequence[str],
        *,
        input_type: str = "passage",
        truncate: str = "NONE",
        model: str | None = None,
    ) -> Embeddings:
        self.calls.append((list(texts), input_type))
        if self.fail is not None:
            raise self.fail
        return Embeddings(
            vectors=[self.vectors[t] for t in texts],
            model="fake-embed",
            prompt_tokens=10 * len(texts),
            cost_usd=0.001 * len(texts),
        )


def _ctx(fake: FakeEmbedder) -> ScoringContext:
    return ScoringContext(session=fake)  # type: ignore[arg-type]


def test_similar_scores_the_cosine_with_the_reference() -> None:
    """value = cosine(answer, reference), passed at the threshold; cost recorded."""
    fake = FakeEmbedder({"Paris": [1.0, 0.0], "It is Paris": [1.0, 1.0]})
    result = score(
        checks.similar(threshold=0.8, input_type="query"), "It is Paris", PARIS, _ctx(fake)
    )
    assert result.value == pytest.approx(1 / math.sqrt(2))
    assert result.passed is False
    assert (result.tokens, result.cost_usd, result.kind) == (20, 0.002, "embedding")
    assert fake.calls == [(["It is Paris", "Paris"], "query")]  # one input_type, both sides
    passing = score(checks.similar(threshold=0.7), "It is Paris", PARIS, _ctx(fake))
    assert passing.passed is True


def test_similar_without_reference_answer_or_service() -> None:
    """No reference / no answer: None, nothing sent; an embedding error: None with its kind."""
    fake = FakeEmbedder({})
    assert score(checks.similar(), "x", BARE, _ctx(fake)).reason == "no reference"
    assert score(checks.similar(), None, PARIS, _ctx(fake)).reason == "no answer"
    assert fake.calls == []
    failing = FakeEmbedder(
        {}, fail=RateLimited("slow down", provider="nvidia-nim", retry_after_s=None)
    )
    failed = score(checks.similar(), "Paris", PARIS, _ctx(failing))
    assert failed == Score(None, None, "embedding failed: rate_limited", kind="embedding")


def test_similar_on_the_simulator(session: nv.Session) -> None:
    """End to end on the simulator: NIM's embeddings, tokens counted, cost 0."""
    near = score(
        checks.similar(threshold=0.0), "The capital is Paris", PARIS, ScoringContext(session)
    )
    far = score(
        checks.similar(threshold=0.0), "Bananas are yellow fruit", PARIS, ScoringContext(session)
    )
    assert near.value is not None
    assert far.value is not None
    assert near.value > far.value
    assert near.tokens > 0
    assert near.cost_usd == 0.0


def test_semantic_agreement_math() -> None:
    """Mean pairwise cosines within each arm and across, on fixed vectors."""
    vectors = {
        "a1": [1.0, 0.0],
        "a2": [0.0, 1.0],
        "b1": [1.0, 0.0],
        "b2": [1.0, 0.0],
        "c1": [1.0, 1.0],
    }
    fake = FakeEmbedder(vectors)
    found = asyncio.run(
        checks.semantic_agreement(
            fake,  # type: ignore[arg-type]
            {"q1": ["a1", "a2"], "q2": ["c1"], "only-a": ["a1"]},
            {"q1": ["b1", "b2", None], "q2": ["b1"]},
        )
    )
    assert set(found) == {"q1", "q2"}
    q1 = found["q1"]
    assert q1.cos_aa == pytest.approx(0.0)  # a1 ⟂ a2
    assert q1.cos_bb == pytest.approx(1.0)
    assert q1.cos_ab == pytest.approx(0.5)  # (1 + 1 + 0 + 0) / 4
    assert q1.gap == pytest.approx(-0.5)
    q2 = found["q2"]
    assert (q2.cos_aa, q2.cos_bb, q2.gap) == (None, None, None)
    assert q2.cos_ab == pytest.approx(1 / math.sqrt(2))
    # identical texts embedded once, in one request; tokens shared out in full
    assert len(fake.calls) == 1
    assert sorted(fake.calls[0][0]) == ["a1", "a2", "b1", "b2", "c1"]
    assert sum(a.tokens for a in found.values()) == 50
    assert sum(a.cost_usd for a in found.values()) == pytest.approx(0.005)


def test_semantic_agreement_batches_of_64() -> None:
    """More than 64 distinct texts go in requests of at most 64."""
    texts = [f"t{i}" for i in range(100)]
    fake = FakeEmbedder({t: [1.0, float(i)] for i, t in enumerate(texts)})
    asyncio.run(checks.semantic_agreement(fake, {"q": texts[:50]}, {"q": texts[50:]}))  # type: ignore[arg-type]
    assert [len(c[0]) for c in fake.calls] == [64, 36]


def test_cosine_edges() -> None:
    """Zero vectors give 0; different lengths are refused."""
    assert checks.cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    assert checks.cosine([2.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="different lengths"):
        checks.cosine([1.0], [1.0, 2.0])
