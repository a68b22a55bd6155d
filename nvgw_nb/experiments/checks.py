"""Checks: scorers that grade an answer locally, plus embedding similarity (`nv.checks`).

Every check returns a `Score`; none raises on a bad answer. A failed call (no answer)
scores `Score(None, None, "no answer")`, a case without a reference `Score(None, None,
"no reference")` where one is needed.

>>> scorers = [checks.expected(), checks.contains(), checks.regex(r"\\bParis\\b")]  # doctest: +SKIP

`checks.similar()` embeds the answer and the reference with NIM's `/v1/embeddings` and
scores their cosine; `semantic_agreement` is the self-consistency baseline (R9): are two
arms' answers further apart than each arm's repeats are from each other?
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from nvgw_nb.errors import ConfigError, NvgwError
from nvgw_nb.experiments.code_runner import arun_python, extract_code, run_python
from nvgw_nb.experiments.scoring import (
    Check,
    Score,
    Scorer,
    ScoringContext,
    Subject,
    check_name,
    not_applicable,
    verdict,
)
from nvgw_nb.untrusted import UnreadableJson, cut, loads
from nvgw_nb.validation import schema_error, schema_problem

if TYPE_CHECKING:
    from nvgw_nb.embeddings import Embeddings
    from nvgw_nb.experiments.cases import Case
    from nvgw_nb.session import Session

__all__ = [
    "Agreement",
    "PythonCheck",
    "contains",
    "cosine",
    "equals",
    "expected",
    "find_json",
    "human",
    "json_schema",
    "normalise",
    "python",
    "reference_text",
    "regex",
    "semantic_agreement",
    "similar",
]

_REASON = 200
#: the tokens one answer-plus-reference embedding is assumed to take, for plans
EMBED_TOKENS_PER_ANSWER = 300
#: the most texts sent in one embeddings request
EMBED_BATCH = 64
_QUOTES = " \t\n\"'`“”‘’"
_JSON_FENCE = re.compile(r"```[ \t]*(json)?[^\n]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def normalise(text: str, *, casefold: bool = True) -> str:
    """Strip, casefold, collapse whitespace, strip surrounding quotes/backticks and a
    trailing period.

    >>> normalise('  "Paris."  ')
    'paris'
    """
    out = " ".join(text.split())
    if casefold:
        out = out.casefold()
    out = out.strip(_QUOTES)
    if out.endswith("."):
        out = out[:-1]
    return out.strip(_QUOTES)


def _shown(text: str) -> str:
    return repr(cut(text, 60))


def reference_text(value: object) -> str:
    """A reference as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _alternatives(value: object) -> list[str]:
    """A reference that is a list of strings means "any of these"."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return [reference_text(value)]


def _name(name: str | None, default: str) -> str:
    return check_name(default if name is None else name)


# --- contains / equals / regex ------------------------------------------------------------
class Contains(Check):
    """The answer contains the text (or the case's reference), normalised."""

    def __init__(self, text: str | Sequence[str] | None, case_sensitive: bool, name: str) -> None:
        super().__init__(name)
        if (
            text is not None
            and not isinstance(text, str)
            and not (
                isinstance(text, (list, tuple)) and text and all(isinstance(t, str) for t in text)
            )
        ):
            raise ConfigError("contains(text=...) takes a string or a list of strings")
        if isinstance(text, str) and not normalise(text, casefold=False):
            raise ConfigError("contains(text=...) must not be empty")
        self.text = text
        self.case_sensitive = case_sensitive

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        wanted = self.text if self.text is not None else subject.case.reference
        if wanted is None:
            return not_applicable("no reference")
        fold = not self.case_sensitive
        answer = normalise(subject.text, casefold=fold)
        for option in _alternatives(wanted):
            needle = normalise(option, casefold=fold)
            if needle and needle in answer:
                return verdict(True, f"found {_shown(option)}")
        options = " or ".join(_shown(o) for o in _alternatives(wanted))
        return verdict(False, f"{options} not in the answer")


class Equals(Check):
    """The normalised answer equals the value (or the case's reference)."""

    def __init__(self, value: object, name: str) -> None:
        super().__init__(name)
        self.value = value

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        wanted = self.value if self.value is not None else subject.case.reference
        if wanted is None:
            return not_applicable("no reference")
        answer = normalise(subject.text)
        for option in _alternatives(wanted):
            if answer == normalise(option):
                return verdict(True, f"equals {_shown(option)}")
        return verdict(False, f"{_shown(subject.text)} is not {_shown(reference_text(wanted))}")


class Regex(Check):
    """The answer matches a regular expression (`re.search`)."""

    def __init__(self, pattern: str | re.Pattern[str], name: str) -> None:
        super().__init__(name)
        if isinstance(pattern, re.Pattern):
            self.pattern = pattern
        elif isinstance(pattern, str):
            try:
                self.pattern = re.compile(pattern)
            except re.error as err:
                raise ConfigError(f"regex({pattern!r}) is not a valid pattern: {err}") from None
        else:
            raise ConfigError(f"regex() takes a pattern string, not {type(pattern).__name__}")

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        found = self.pattern.search(subject.text)
        if found:
            return verdict(True, f"matched {_shown(found.group(0))}")
        return verdict(False, f"no match for /{cut(self.pattern.pattern, 60)}/")


def contains(
    text: str | Sequence[str] | None = None,
    *,
    case_sensitive: bool = False,
    name: str | None = None,
) -> Check:
    """Pass when the answer contains `text` (default: the case's reference; a list means
    any of them), both normalised (`normalise`; case kept with `case_sensitive=True`).

    >>> checks.contains("Paris")  # doctest: +SKIP
    """
    return Contains(text, case_sensitive, _name(name, "contains"))


def equals(value: object = None, *, name: str | None = None) -> Check:
    """Pass when the normalised answer equals `value` (default: the case's reference;
    a list of strings means any of them)."""
    return Equals(value, _name(name, "equals"))


def regex(pattern: str | re.Pattern[str], *, name: str | None = None) -> Check:
    """Pass when `pattern` is found in the answer (`re.search`; flags inline: `(?i)`)."""
    return Regex(pattern, _name(name, "regex"))


# --- JSON -----------------------------------------------------------------------------------
def find_json(text: str) -> tuple[Any, str | None]:
    """The first JSON object or array in `text`: a ```json fence's content, else the first
    balanced {...} or [...] that parses. Returns (value, None), or (None, why not).

    >>> find_json('Sure: {"a": 1} ok')
    ({'a': 1}, None)
    """
    fence = _JSON_FENCE.search(text)
    if fence is not None and (fence.group(1) or fence.group(2).lstrip()[:1] in ("{", "[")):
        try:
            return loads(fence.group(2)), None
        except UnreadableJson as err:
            return None, f"the JSON block does not parse ({cut(str(err), 100)})"
    tried = 0
    for start, char in enumerate(text):
        if char not in "{[":
            continue
        end = _balanced_end(text, start)
        if end is None:
            continue
        tried += 1
        try:
            return loads(text[start:end]), None
        except UnreadableJson as err:
            if tried >= 20:
                return None, f"no JSON that parses ({cut(str(err), 100)})"
    return None, "no JSON object or array in the answer"


def _balanced_end(text: str, start: int) -> int | None:
    """The index after the bracket closing the one at `start` (strings respected)."""
    closing = {"{": "}", "[": "]"}
    stack = [closing[text[start]]]
    in_string = escaped = False
    for index in range(start + 1, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in closing:
            stack.append(closing[char])
        elif char in "}]":
            if char != stack.pop():
                return None
            if not stack:
                return index + 1
    return None


def _mismatch(answer: Any, reference: Any, where: str) -> str | None:
    """Where `answer` differs from `reference` on the reference's keys (strings compared
    normalised), or None when it matches."""
    if isinstance(reference, Mapping):
        if not isinstance(answer, Mapping):
            return f"{where or '(root)'}: expected an object"
        for key, value in reference.items():
            path = f"{where}/{key}" if where else str(key)
            if key not in answer:
                return f"{path}: missing"
            problem = _mismatch(answer[key], value, path)
            if problem:
                return problem
        return None
    if isinstance(reference, list):
        if not isinstance(answer, list) or len(answer) != len(reference):
            return f"{where or '(root)'}: expected a list of {len(reference)}"
        for index, (got, want) in enumerate(zip(answer, reference, strict=False)):
            problem = _mismatch(got, want, f"{where}/{index}" if where else str(index))
            if problem:
                return problem
        return None
    if _same_scalar(answer, reference):
        return None
    got, want = cut(reference_text(answer), 40), cut(reference_text(reference), 40)
    return f"{where or '(root)'}: {got!r} is not {want!r}"


def _same_scalar(answer: Any, reference: Any) -> bool:
    if isinstance(reference, str):
        return isinstance(answer, str) and normalise(answer) == normalise(reference)
    if isinstance(reference, bool) or reference is None:
        return answer is reference
    if isinstance(reference, (int, float)):
        number = isinstance(answer, (int, float)) and not isinstance(answer, bool)
        return number and math.isclose(answer, reference, rel_tol=1e-9, abs_tol=1e-12)
    return bool(answer == reference)


def _json_expected(text: str, case: Case) -> Score:
    value, problem = find_json(text)
    if problem is not None:
        return verdict(False, problem)
    schema = case.vars.get("schema")
    if isinstance(schema, Mapping):
        broken = schema_problem(value, schema)
        if broken is not None:
            return verdict(False, f"schema: {cut(broken, _REASON)}")
    mismatch = _mismatch(value, case.reference, "")
    if mismatch is not None:
        return verdict(False, mismatch)
    return verdict(True, "JSON matches the reference")


class JsonSchema(Check):
    """The answer's JSON fits a pydantic model or a JSON schema."""

    def __init__(self, spec: type[BaseModel] | Mapping[str, Any], name: str) -> None:
        super().__init__(name)
        if isinstance(spec, type) and issubclass(spec, BaseModel):
            self.model: type[BaseModel] | None = spec
            self.schema: Mapping[str, Any] | None = None
        elif isinstance(spec, Mapping):
            problem = schema_error(spec)
            if problem is not None:
                raise ConfigError(f"json_schema(): not a valid JSON schema ({problem})")
            self.model, self.schema = None, spec
        else:
            raise ConfigError(
                "json_schema() takes a pydantic model class or a JSON schema dict, not "
                f"{type(spec).__name__}"
            )

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        value, problem = find_json(subject.text)
        if problem is not None:
            return verdict(False, problem)
        if self.model is not None:
            try:
                self.model.model_validate(value)
            except ValidationError as err:
                first = err.errors()[0]
                where = "/".join(str(p) for p in first["loc"]) or "(root)"
                return verdict(False, cut(f"{where}: {first['msg']}", _REASON))
            return verdict(True, f"fits {self.model.__name__}")
        assert self.schema is not None
        broken = schema_problem(value, self.schema)
        if broken is not None:
            return verdict(False, cut(broken, _REASON))
        return verdict(True, "fits the schema")


def json_schema(
    model_or_schema: type[BaseModel] | Mapping[str, Any], *, name: str | None = None
) -> Check:
    """Pass when the answer's first JSON object or array (a ```json fence, else the first
    balanced {...}) validates against a pydantic model class or a JSON schema dict; the
    reason names the first error."""
    return JsonSchema(model_or_schema, _name(name, "json_schema"))


# --- python ---------------------------------------------------------------------------------
PythonFn = Callable[[str, "Case"], "bool | float | Score"]


class PythonCheck(Check):
    """Your function grades the answer: fn(answer_text, case) -> bool | float | Score."""

    def __init__(self, fn: PythonFn, name: str) -> None:
        super().__init__(name)
        if not callable(fn):
            raise ConfigError(f"python() takes a function, not {type(fn).__name__}")
        self.fn = fn

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        try:
            out = self.fn(subject.text, subject.case)
        except Exception as err:  # the user's function: its failure is a failed score
            return verdict(False, _one_line(err))
        if isinstance(out, Score):
            return out
        if isinstance(out, bool):
            return verdict(out, "" if out else f"{self.name} returned False")
        if isinstance(out, (int, float)) and math.isfinite(out):
            return Score(float(out), None, "")
        return verdict(False, f"{self.name} returned {type(out).__name__}, not bool/float/Score")


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    message = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
    return cut(message, _REASON)


def python(fn: PythonFn, *, name: str | None = None) -> Check:
    """Grade with your own function `fn(answer_text, case)` returning a bool (pass/fail),
    a float (a value, no pass/fail) or a `Score`. An exception in `fn` is a failed Score
    with its one-line message.

    `fn` runs in this process. To run the answer's *code*, use
    `nvgw_nb.experiments.code_runner.run_python` inside `fn` (or a case with
    check="python" and `expected()`): that runs it in a child process with limits, but
    it is NOT a security sandbox — the code runs as you. Use it for the simulator and
    models you trust.
    """
    return PythonCheck(fn, _name(name, "python"))


# --- expected: the case says how -------------------------------------------------------------
class Expected(Check):
    """Grades against the case's reference the way its `check` says."""

    def __init__(self, name: str, timeout_s: float, memory_mb: int) -> None:
        super().__init__(name)
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise ConfigError("expected(timeout_s=...) must be a number of seconds > 0")
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        if subject.text is None:
            return not_applicable("no answer")
        if subject.case.check == "python":
            tests = subject.case.vars.get("tests")
            if not isinstance(tests, str):
                return not_applicable("no reference")
            outcome = await arun_python(
                extract_code(subject.text),
                tests,
                timeout_s=self.timeout_s,
                memory_mb=self.memory_mb,
            )
            return verdict(outcome.passed, outcome.reason)
        return self.check(subject)

    def check(self, subject: Subject) -> Score:
        assert subject.text is not None
        case = subject.case
        if case.check == "python":
            tests = case.vars.get("tests")
            if not isinstance(tests, str):
                return not_applicable("no reference")
            outcome = run_python(
                extract_code(subject.text),
                tests,
                timeout_s=self.timeout_s,
                memory_mb=self.memory_mb,
            )
            return verdict(outcome.passed, outcome.reason)
        if case.reference is None:
            return not_applicable("no reference")
        if case.check is None:
            return not_applicable("no check: give the case check='equals', 'contains', ...")
        if case.check == "equals":
            return Equals(None, self.name).check(subject)
        if case.check == "contains":
            return Contains(None, False, self.name).check(subject)
        if case.check == "json":
            return _json_expected(subject.text, case)
        return not_applicable(f"unknown check {case.check!r}")


def expected(*, name: str = "expected", timeout_s: float = 5.0, memory_mb: int = 512) -> Check:
    """Grade each answer against its case's reference as the case's `check` says:
    "equals", "contains", "json" (first JSON in the answer; `vars["schema"]` validates;
    every key of the reference must match) or "python" (the answer's code, its first
    ```python fence else the whole answer, runs with `vars["tests"]` appended; passes on
    exit 0 within `timeout_s`). A case without a reference scores None ("no reference").

    The "python" check runs model-written code in a child process with limits
    (`code_runner`). It is NOT a security sandbox: the code runs as you. Fine for the
    simulator and models you trust.
    """
    return Expected(check_name(name), timeout_s, memory_mb)


# --- human ratings -----------------------------------------------------------------------------
class HumanRating(Scorer):
    """A person's pass/fail mark on the answer (rated in `Run.matrix()`)."""

    kind: ClassVar[str] = "check"

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        case_id = subject.case.id or ""
        mark = ctx.ratings.get((case_id, subject.cell, subject.repeat))
        if mark is None:
            return not_applicable("not rated", kind="human")
        return verdict(bool(mark), "rated pass" if mark else "rated fail", kind="human")


def human(*, name: str = "human") -> Scorer:
    """The human pass/fail marks of the run (`run.rate(...)`, the matrix) as a scorer:
    None where an answer is not rated yet."""
    return HumanRating(check_name(name))


# --- embeddings ---------------------------------------------------------------------------------
def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """The cosine similarity of two vectors (0.0 when either is all zeros).

    >>> cosine([1.0, 0.0], [1.0, 1.0])  # doctest: +ELLIPSIS
    0.7071...
    """
    if len(u) != len(v):
        raise ValueError(f"vectors of different lengths ({len(u)} and {len(v)})")
    dot = math.fsum(a * b for a, b in zip(u, v, strict=False))
    norm = math.sqrt(math.fsum(a * a for a in u)) * math.sqrt(math.fsum(b * b for b in v))
    if norm == 0.0:
        return 0.0
    return max(-1.0, min(1.0, dot / norm))


_INPUT_TYPES = ("query", "passage")
_TRUNCATE = ("NONE", "START", "END")


def _check_embedding_options(input_type: str, truncate: str) -> None:
    if input_type not in _INPUT_TYPES:
        raise ConfigError(f"input_type must be 'query' or 'passage', not {input_type!r}")
    if truncate not in _TRUNCATE:
        raise ConfigError(f"truncate must be 'NONE', 'START' or 'END', not {truncate!r}")


class Similar(Scorer):
    """Cosine similarity of the answer's and the reference's embeddings (NIM)."""

    kind: ClassVar[str] = "embedding"

    def __init__(
        self, threshold: float, input_type: str, truncate: str, model: str | None, name: str
    ) -> None:
        super().__init__(name)
        if not (isinstance(threshold, (int, float)) and -1.0 <= threshold <= 1.0):
            raise ConfigError(f"similar(threshold=...) must be in -1..1, not {threshold!r}")
        _check_embedding_options(input_type, truncate)
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ConfigError("similar(model=...) must be a model name")
        self.threshold = float(threshold)
        self.input_type = input_type
        self.truncate = truncate
        self.model = model

    async def ascore(self, subject: Subject, ctx: ScoringContext) -> Score:
        if subject.text is None:
            return not_applicable("no answer", kind="embedding")
        if subject.case.reference is None:
            return not_applicable("no reference", kind="embedding")
        session = ctx.require_session(f"checks.similar ({self.name!r})")
        try:
            found = await session.aembed(
                [subject.text, reference_text(subject.case.reference)],
                input_type=self.input_type,  # the same on both sides: answer vs reference
                truncate=self.truncate,
                model=self.model,
            )
        except NvgwError as err:
            if isinstance(err, ConfigError):
                raise
            return not_applicable(f"embedding failed: {err.kind}", kind="embedding")
        value = cosine(found.vectors[0], found.vectors[1])
        return Score(
            value,
            value >= self.threshold,
            f"cosine {value:.3f} vs threshold {self.threshold:g}",
            tokens=found.prompt_tokens,
            cost_usd=found.cost_usd,
            kind="embedding",
        )

    def estimate(self, n_answers: int) -> tuple[int, int]:
        return (n_answers, n_answers * EMBED_TOKENS_PER_ANSWER)


def similar(
    *,
    threshold: float = 0.8,
    input_type: str = "passage",
    truncate: str = "END",
    model: str | None = None,
    name: str = "similar",
) -> Scorer:
    """Cosine similarity between the embeddings of the answer and the case's reference
    (NIM `/v1/embeddings`, the same `input_type` on both sides); passes at `threshold`.
    A cheap proxy for closeness of meaning, never a verdict of correctness. Its tokens
    and cost are recorded on the Score."""
    return Similar(threshold, input_type, truncate, model, check_name(name))


@dataclass(frozen=True)
class Agreement:
    """How alike two arms' answers to one case are, against how alike each arm is to
    itself (R9): mean pairwise cosine within A's repeats, within B's, and across."""

    cos_aa: float | None
    cos_bb: float | None
    cos_ab: float | None
    tokens: int = 0
    cost_usd: float = 0.0

    @property
    def gap(self) -> float | None:
        """min(cos_aa, cos_bb) - cos_ab: ≈ 0 when the arms differ from each other no
        more than each differs from itself (None without repeats on both sides)."""
        if self.cos_aa is None or self.cos_bb is None or self.cos_ab is None:
            return None
        return min(self.cos_aa, self.cos_bb) - self.cos_ab


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


async def semantic_agreement(
    session: Session,
    a: Mapping[str, Sequence[str | None]],
    b: Mapping[str, Sequence[str | None]],
    *,
    input_type: str = "passage",
    truncate: str = "END",
    model: str | None = None,
) -> dict[str, Agreement]:
    """Per case id in both `a` and `b` (each: the answers of the case's repeats), the
    `Agreement` of the two arms (R9). Identical texts are embedded once; all texts go in
    as few requests as possible (at most 64 per request). Failed answers (None) are left
    out. Tokens and cost are shared out over the cases by text length.

    >>> agree = await semantic_agreement(session, {"q1": nim}, {"q1": gpt})  # doctest: +SKIP
    >>> agree["q1"].gap  # doctest: +SKIP
    """
    _check_embedding_options(input_type, truncate)
    shared = [case for case in a if case in b]
    owner: dict[str, str] = {}  # text -> the first case that needs it (it pays for it)
    for case in shared:
        for text in [*a[case], *b[case]]:
            if text is not None:
                owner.setdefault(text, case)
    texts = list(owner)
    vectors: dict[str, list[float]] = {}
    tokens_of: dict[str, float] = {}
    cost_of: dict[str, float] = {}
    for start in range(0, len(texts), EMBED_BATCH):
        batch = texts[start : start + EMBED_BATCH]
        found: Embeddings = await session.aembed(
            batch, input_type=input_type, truncate=truncate, model=model
        )
        chars = sum(len(t) for t in batch) or 1
        for text, vector in zip(batch, found.vectors, strict=False):
            vectors[text] = vector
            share = len(text) / chars
            tokens_of[text] = found.prompt_tokens * share
            cost_of[text] = found.cost_usd * share
    out: dict[str, Agreement] = {}
    for case in shared:
        left = [vectors[t] for t in a[case] if t is not None]
        right = [vectors[t] for t in b[case] if t is not None]
        within_a = [cosine(u, v) for i, u in enumerate(left) for v in left[i + 1 :]]
        within_b = [cosine(u, v) for i, u in enumerate(right) for v in right[i + 1 :]]
        across = [cosine(u, v) for u in left for v in right]
        paid = [t for t, c in owner.items() if c == case]
        out[case] = Agreement(
            cos_aa=_mean(within_a),
            cos_bb=_mean(within_b),
            cos_ab=_mean(across),
            tokens=round(sum(tokens_of[t] for t in paid)),
            cost_usd=sum(cost_of[t] for t in paid),
        )
    return out
