"""Experiment specs: an experiment and its expectations in a TOML file (`nvgw-nb experiment`).

A spec names the cases, the grid, the scorers and what must hold afterwards, so a prompt
change can be gated in CI::

    cases = "cases.jsonl"            # relative to the spec file
    repeats = 2
    seed = 0
    [vary]
    provider = ["nvidia-nim", "nvidia-gateway"]
    [vary.system]
    plain = ""
    terse = "Answer with only the label, value or code asked for."
    [options]                        # call keywords every cell shares
    temperature = 0
    [[scorers]]
    type = "expected"
    [[expect]]                       # NIM not worse than the gateway by more than 5 points
    metric = "expected"
    a = { provider = "nvidia-nim" }
    b = { provider = "nvidia-gateway" }
    not_worse_than = -0.05

Expectations (each `[[expect]]` table holds exactly one of these):

- `not_worse_than = m` with `a` and `b` (non-inferiority): passes when the lower bound of
  the 95% interval of the paired difference a − b is at or above `m` (a margin ≤ 0, in the
  metric's units: 0.05 = 5 points of pass rate). A good point estimate is not enough: when
  the interval reaches below the margin, the data could not rule out that a is worse by
  more than the margin, and the expectation fails.
- `better = true` with `a` and `b`: passes when the interval of a − b lies wholly above 0.
- `at_least = p` with `arm`: passes when the lower bound of the arm's 95% interval of its
  mean score (the run summary's: Wilson for one pass/fail per case, else a t interval,
  clustered when cases carry a cluster) is at or above `p`.

`metric` is a scorer's name (default: the first scorer's). Arms (`a`, `b`, `arm`) select
cells by axis values, as `Run.compare` does; the cells they match are pooled per case.

>>> spec = load_spec("examples/experiment.toml")                 # doctest: +SKIP
>>> run = spec.build(session).run(save_to="out/run.jsonl")      # doctest: +SKIP
>>> for result in spec.check(run): print(result.statement)      # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nvgw_nb.errors import ConfigError
from nvgw_nb.experiments.cases import Case, load_cases
from nvgw_nb.experiments.grid import ExperimentOptions
from nvgw_nb.experiments.scoring import Scorer
from nvgw_nb.experiments.summary import MetricSummary, case_means, metric_summary

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (a dependency there; absent where mypy runs)
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from nvgw_nb.experiments.analysis import PairedComparison
    from nvgw_nb.experiments.grid import Experiment
    from nvgw_nb.experiments.run import Run
    from nvgw_nb.session import Session

__all__ = [
    "SCORER_TYPES",
    "Expectation",
    "ExpectationResult",
    "ScorerSpec",
    "Spec",
    "load_spec",
]

#: the spec's top-level keys
_TOP_KEYS = ("cases", "repeats", "seed", "description", "vary", "options", "scorers", "expect")
#: call keywords a spec's [options] may set (a validator function cannot be written in TOML)
_OPTION_KEYS = tuple(k for k in ExperimentOptions.__annotations__ if k != "validator")
ExpectationKind = Literal["not_worse_than", "better", "at_least"]
_EXPECT_KINDS: tuple[ExpectationKind, ...] = ("not_worse_than", "better", "at_least")
_EXPECT_KEYS = ("metric", "a", "b", "arm", "description", *_EXPECT_KINDS)
#: tolerance when a bound is compared with a margin, so −0.05 computed as −0.0500…01 passes
_EPS = 1e-12
_MINUS = "\u2212"


def _checks_factory(name: str) -> Callable[..., Scorer]:
    from nvgw_nb.experiments import checks

    factory: Callable[..., Scorer] = getattr(checks, name)
    return factory


def _judges_factory(name: str) -> Callable[..., Scorer]:
    try:
        judges = importlib.import_module("nvgw_nb.experiments.judges")
    except ImportError as err:  # judges arrive with the scorers work
        raise ConfigError(f"judge scorers are not available in this version ({err})") from None
    factory: Callable[..., Scorer] = getattr(judges, name)
    return factory


#: scorer `type` → where its factory lives; the table's other keys are its keyword arguments
SCORER_TYPES: Mapping[str, tuple[str, str]] = {
    "expected": ("checks", "expected"),
    "contains": ("checks", "contains"),
    "equals": ("checks", "equals"),
    "regex": ("checks", "regex"),
    "json_schema": ("checks", "json_schema"),
    "similar": ("checks", "similar"),
    "human": ("checks", "human"),
    "rubric": ("judges", "rubric"),
    "reference": ("judges", "reference"),
}


# --- the spec -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScorerSpec:
    """One `[[scorers]]` table: its `type` and the keyword arguments of its factory."""

    type: str
    options: dict[str, Any]
    scorer: Scorer


@dataclass(frozen=True)
class ExpectationResult:
    """Whether one expectation held, and a sentence that says why, from the interval."""

    passed: bool
    statement: str
    expectation: Expectation
    comparison: PairedComparison | None = None
    summary: MetricSummary | None = None

    def __str__(self) -> str:
        return self.statement


@dataclass(frozen=True)
class Expectation:
    """One `[[expect]]` table (see the module docstring for the three kinds)."""

    kind: ExpectationKind
    metric: str
    threshold: float
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)
    arm: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    key: str = "expect[1]"

    def selectors(self) -> dict[str, dict[str, Any]]:
        """The arm selectors this expectation uses, by their spec key."""
        if self.kind == "at_least":
            return {"arm": self.arm}
        return {"a": self.a, "b": self.b}

    def check(self, run: Run) -> ExpectationResult:
        """Evaluate on `run`."""
        if self.kind == "at_least":
            ids = {c.id for c in run.cells_matching(self.arm)}
            records = [r for r in run.records if r.cell in ids]
            clusters = {k: c.cluster for k, c in run.cases.items()}
            found = metric_summary(self.metric, case_means(records, self.metric), clusters)
            return self.judge_level(found, simulated=run.simulated)
        comparison = run.compare(a=self.a, b=self.b, metric=self.metric)
        return self.judge_difference(comparison)

    # pure parts, testable on hand-made numbers
    def judge_difference(self, c: PairedComparison) -> ExpectationResult:
        """Pass or fail a `not_worse_than` / `better` expectation on a comparison."""
        low, high = c.ci
        head = f"{c.a} vs {c.b} on {c.metric}"
        cases = f"{c.n_cases} case{'' if c.n_cases == 1 else 's'}"
        left = sum(c.left_out.values())
        tail = f"; {left} calls or cases left out ({_left_out(c.left_out)})" if left else ""
        sim = " [SIMULATED]" if c.simulated else ""
        if c.n_cases < 2 or math.isnan(low) or math.isnan(high):
            text = (
                f"FAIL {head}: no interval ({cases} shared; at least 2 are needed), so "
                f"nothing can be shown{tail}.{sim}"
            )
            return ExpectationResult(False, self._with_description(text), self, c)
        level = f"{c.confidence:.0%}"
        measured = f"Δ {c.format(c.delta)} ({level} CI {c.interval_text()}, {cases})"
        if self.kind == "not_worse_than":
            margin = c.format(self.threshold)
            by = c.format(abs(self.threshold))
            if low >= self.threshold - _EPS:
                text = (
                    f"PASS {head}: {measured}; the lower bound "
                    f"{c.format(low, unit=False)} ≥ {margin} required, so {c.a} is not "
                    f"worse than {c.b} by more than {by}{tail}.{sim}"
                )
                return ExpectationResult(True, self._with_description(text), self, c)
            if high < self.threshold:
                why = f"{c.a} is worse than {c.b} by more than {by}"
            elif c.delta >= self.threshold:
                why = (
                    f"the point estimate is within the margin, but the data could not rule "
                    f"out that {c.a} is worse than {c.b} by more than {by} (more cases "
                    "would narrow the interval)"
                )
            else:
                why = (
                    f"the data could not rule out that {c.a} is worse than {c.b} by more than {by}"
                )
            text = (
                f"FAIL {head}: {measured}; the lower bound {c.format(low, unit=False)} is "
                f"below the {margin} required: {why}{tail}.{sim}"
            )
            return ExpectationResult(False, self._with_description(text), self, c)
        # better
        if low > 0:
            text = f"PASS {head}: {measured} lies above 0: {c.a} is better than {c.b}{tail}.{sim}"
            return ExpectationResult(True, self._with_description(text), self, c)
        if high < 0:
            why = f"the interval lies below 0: {c.b} is better than {c.a}"
        else:
            worst = max(abs(low), abs(high))
            why = (
                f"the interval includes 0: no difference shown (it could miss one of up to "
                f"{c.format(worst)})"
            )
        text = f"FAIL {head}: {measured}; {c.a} better than {c.b} required, but {why}{tail}.{sim}"
        return ExpectationResult(False, self._with_description(text), self, c)

    def judge_level(self, m: MetricSummary, *, simulated: bool = False) -> ExpectationResult:
        """Pass or fail an `at_least` expectation on an arm's summary."""
        arm = " · ".join(str(v) for v in self.arm.values()) or "every cell"
        head = f"{arm} on {m.name}"
        sim = " [SIMULATED]" if simulated else ""
        cases = f"{m.n_cases} case{'' if m.n_cases == 1 else 's'}"
        need = _level(self.threshold, m.binary)
        if m.n_cases == 0 or math.isnan(m.low):
            text = (
                f"FAIL {head}: no interval ({cases} with a score), so a mean of at least "
                f"{need} cannot be shown.{sim}"
            )
            return ExpectationResult(False, self._with_description(text), self, summary=m)
        measured = (
            f"{_level(m.mean, m.binary)} (95% CI {_level(m.low, m.binary)} to "
            f"{_level(m.high, m.binary)}, {m.method}, {cases})"
        )
        if m.low >= self.threshold - _EPS:
            text = (
                f"PASS {head}: {measured}; the lower bound {_level(m.low, m.binary)} ≥ "
                f"{need} required.{sim}"
            )
            return ExpectationResult(True, self._with_description(text), self, summary=m)
        if m.high < self.threshold:
            why = f"it is below {need}"
        elif m.mean >= self.threshold:
            why = (
                f"the point estimate is fine, but the data could not rule out a value "
                f"below {need} (more cases would narrow the interval)"
            )
        else:
            why = f"the data could not rule out a value below {need}"
        text = (
            f"FAIL {head}: {measured}; the lower bound {_level(m.low, m.binary)} is below the "
            f"{need} required: {why}.{sim}"
        )
        return ExpectationResult(False, self._with_description(text), self, summary=m)

    def _with_description(self, text: str) -> str:
        return f"{text} ({self.description})" if self.description else text


def _level(value: float, binary: bool) -> str:
    if math.isnan(value):
        return "n/a"
    text = f"{value:.1%}" if binary else f"{value:.3g}"
    return text.replace("-", _MINUS)


def _left_out(left_out: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in left_out.items() if v)


@dataclass(frozen=True)
class Spec:
    """An experiment described in a TOML file (`load_spec`): build it, then check it."""

    path: Path
    cases_path: Path
    cases: tuple[Case, ...]
    vary: dict[str, Any]
    repeats: int
    seed: int
    options: dict[str, Any]
    scorers: tuple[ScorerSpec, ...]
    expectations: tuple[Expectation, ...]
    description: str = ""

    def build(self, session: Session) -> Experiment:
        """The Experiment on `session` (nothing is sent); a ConfigError names the file."""
        try:
            experiment = session.experiment(
                self.cases,
                vary=self.vary,
                repeats=self.repeats,
                scorers=[s.scorer for s in self.scorers],
                seed=self.seed,
                **self.options,
            )
        except ConfigError as err:
            raise ConfigError(f"{self.path}: {err}") from None
        except TypeError as err:  # an option the Session refuses
            raise ConfigError(f"{self.path}: options: {err}") from None
        for expectation in self.expectations:
            for name, selector in expectation.selectors().items():
                if not any(cell.matches(selector) for cell in experiment.cells):
                    raise ConfigError(
                        f"{self.path}: {expectation.key}.{name}: no cell has {selector}; "
                        f"cells: {', '.join(c.id for c in experiment.cells)}"
                    )
        return experiment

    def check(self, run: Run) -> list[ExpectationResult]:
        """Every expectation evaluated on `run`, in the file's order."""
        out = []
        for expectation in self.expectations:
            try:
                out.append(expectation.check(run))
            except ConfigError as err:
                raise ConfigError(f"{self.path}: {expectation.key}: {err}") from None
        return out


# --- reading ----------------------------------------------------------------------------------
def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file; every problem is a ConfigError naming the file and key."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as err:
        raise ConfigError(f"{source}: cannot read the spec: {err.strerror or err}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{source}: not a valid TOML file: {err}") from None
    return _Reader(source).spec(data)


class _Reader:
    """Checks a parsed spec, naming the file and the key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")

    def unknown(self, table: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise self.error(name, f"unknown key; valid keys: {', '.join(allowed)}")

    def typed(self, value: Any, kinds: tuple[type, ...], key: str, what: str) -> Any:
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            raise self.error(key, f"expected {what}, got {_toml_type(value)} {value!r}")
        return value

    def spec(self, data: Mapping[str, Any]) -> Spec:
        self.unknown(data, _TOP_KEYS, "")
        if "cases" not in data:
            raise self.error("cases", 'missing: name the cases file, e.g. cases = "cases.jsonl"')
        cases_name = self.typed(data["cases"], (str,), "cases", "a file name")
        cases_path = (self.path.parent / cases_name).resolve()
        if not cases_path.is_file():
            raise self.error("cases", f"no cases file at {cases_path}")
        try:
            cases = tuple(load_cases(cases_path))
        except ConfigError as err:
            raise self.error("cases", str(err)) from None
        repeats = self.typed(data.get("repeats", 1), (int,), "repeats", "a whole number")
        if repeats < 1:
            raise self.error("repeats", f"must be at least 1, got {repeats}")
        seed = self.typed(data.get("seed", 0), (int,), "seed", "an integer")
        description = self.typed(data.get("description", ""), (str,), "description", "a string")
        vary = self.vary(data.get("vary", {}))
        options = self.options(data.get("options", {}))
        scorers = self.scorers(data.get("scorers", []))
        names = [s.scorer.name for s in scorers]
        expectations = self.expectations(data.get("expect", []), names)
        return Spec(
            path=self.path,
            cases_path=cases_path,
            cases=cases,
            vary=vary,
            repeats=repeats,
            seed=seed,
            options=options,
            scorers=tuple(scorers),
            expectations=tuple(expectations),
            description=description,
        )

    def vary(self, value: Any) -> dict[str, Any]:
        table = self.typed(value, (dict,), "vary", "a table of axes")
        for axis, values in table.items():
            key = f"vary.{axis}"
            self.typed(values, (list, dict), key, "a list of values or a table of label = value")
            if not values:
                raise self.error(key, "has no values")
        return dict(table)

    def options(self, value: Any) -> dict[str, Any]:
        table = self.typed(value, (dict,), "options", "a table of call keywords")
        self.unknown(table, _OPTION_KEYS, "options")
        numbers = {"temperature": (int, float), "top_p": (int, float), "max_tokens": (int,)}
        for key, kinds in numbers.items():
            if key in table:
                self.typed(table[key], kinds, f"options.{key}", "a number")
        for key in ("system", "role"):
            if key in table:
                self.typed(table[key], (str,), f"options.{key}", "a string")
        if "repair" in table:
            self.typed(table["repair"], (bool,), "options.repair", "true or false")
        return dict(table)

    def scorers(self, value: Any) -> list[ScorerSpec]:
        items = self.typed(value, (list,), "scorers", "an array of tables ([[scorers]])")
        out: list[ScorerSpec] = []
        seen: set[str] = set()
        for index, item in enumerate(items, start=1):
            key = f"scorers[{index}]"
            table = dict(self.typed(item, (dict,), key, "a table ([[scorers]])"))
            if "type" not in table:
                raise self.error(f"{key}.type", f"missing; one of {', '.join(SCORER_TYPES)}")
            kind = self.typed(table.pop("type"), (str,), f"{key}.type", "a string")
            if kind not in SCORER_TYPES:
                hint = (
                    " (a Python function cannot be written in TOML: give cases check = "
                    '"python" and use type = "expected")'
                    if kind == "python"
                    else ""
                )
                raise self.error(
                    f"{key}.type",
                    f"unknown scorer type {kind!r}; one of {', '.join(SCORER_TYPES)}{hint}",
                )
            module, name = SCORER_TYPES[kind]
            try:
                factory = _checks_factory(name) if module == "checks" else _judges_factory(name)
            except ConfigError as err:
                raise self.error(f"{key}.type", str(err)) from None
            scorer = self.make_scorer(factory, table, key)
            if scorer.name in seen:
                raise self.error(
                    f"{key}.name", f"two scorers are named {scorer.name!r}; give one a name"
                )
            seen.add(scorer.name)
            out.append(ScorerSpec(kind, table, scorer))
        return out

    def make_scorer(
        self, factory: Callable[..., Scorer], options: dict[str, Any], key: str
    ) -> Scorer:
        parameters = inspect.signature(factory).parameters
        accepted = [
            n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        for option in options:
            if option not in accepted:
                raise self.error(
                    f"{key}.{option}", f"unknown key; valid keys: type, {', '.join(accepted)}"
                )
        missing = [
            n
            for n, p in parameters.items()
            if p.default is p.empty and p.kind != p.VAR_KEYWORD and n not in options
        ]
        if missing:
            raise self.error(f"{key}.{missing[0]}", "missing (this scorer needs it)")
        try:
            return factory(**options)
        except (ConfigError, TypeError, ValueError) as err:
            raise self.error(key, str(err)) from None

    def expectations(self, value: Any, scorer_names: Sequence[str]) -> list[Expectation]:
        items = self.typed(value, (list,), "expect", "an array of tables ([[expect]])")
        out = []
        for index, item in enumerate(items, start=1):
            key = f"expect[{index}]"
            table = self.typed(item, (dict,), key, "a table ([[expect]])")
            self.unknown(table, _EXPECT_KEYS, key)
            kinds = [k for k in _EXPECT_KINDS if k in table]
            if len(kinds) != 1:
                raise self.error(
                    key,
                    f"needs exactly one of {', '.join(_EXPECT_KINDS)}"
                    + (f" (has {', '.join(kinds)})" if kinds else ""),
                )
            kind = kinds[0]
            if not scorer_names:
                raise self.error(key, "an expectation needs a scorer: add a [[scorers]] table")
            metric = self.typed(
                table.get("metric", scorer_names[0]), (str,), f"{key}.metric", "a scorer's name"
            )
            if metric not in scorer_names:
                raise self.error(
                    f"{key}.metric",
                    f"no scorer named {metric!r}; scorers: {', '.join(scorer_names)}",
                )
            description = self.typed(
                table.get("description", ""), (str,), f"{key}.description", "a string"
            )
            selectors = {
                name: dict(self.typed(table[name], (dict,), f"{key}.{name}", "a table of axes"))
                for name in ("a", "b", "arm")
                if name in table
            }
            needed = ("arm",) if kind == "at_least" else ("a", "b")
            for name in needed:
                if name not in selectors:
                    raise self.error(f"{key}.{name}", f"missing (needed by {kind})")
            for name in selectors:
                if name not in needed:
                    raise self.error(
                        f"{key}.{name}", f"not used by {kind}: give {' and '.join(needed)}"
                    )
            threshold = self.threshold(kind, table[kind], f"{key}.{kind}")
            out.append(
                Expectation(
                    kind=kind,
                    metric=metric,
                    threshold=threshold,
                    a=selectors.get("a", {}),
                    b=selectors.get("b", {}),
                    arm=selectors.get("arm", {}),
                    description=description,
                    key=key,
                )
            )
        return out

    def threshold(self, kind: str, value: Any, key: str) -> float:
        if kind == "better":
            if value is not True:
                raise self.error(key, f"must be true (got {value!r}); drop the table otherwise")
            return 0.0
        number = float(self.typed(value, (int, float), key, "a number"))
        if not math.isfinite(number):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if kind == "not_worse_than" and number > 0:
            raise self.error(
                key,
                f"a non-inferiority margin is ≤ 0 (how much worse a may be), got {value!r}; "
                "to require a to be better, use better = true",
            )
        return number


def _toml_type(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)
