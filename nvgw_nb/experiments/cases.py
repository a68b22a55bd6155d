"""`Case` and `load_cases`: the questions an experiment asks, with what counts as right.

A case is a prompt (optionally a `{var}` template), an id that pairs it across cells and
runs, an optional reference answer with the `check` that grades against it, a cluster
(cases from one template or topic, for clustered standard errors) and a role.

>>> cases = load_cases("examples/cases.jsonl")        # doctest: +SKIP
>>> Case("Capital of {country}?", vars={"country": "France"}, reference="Paris",
...      check="contains").text()
'Capital of France?'
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from nvgw_nb.errors import ConfigError

__all__ = ["CHECKS", "Case", "CasesFileError", "load_cases", "number_cases"]

#: how `checks.expected()` grades an answer against a case's reference
CHECKS = ("equals", "contains", "json", "python")

_FIELDS = ("prompt", "id", "reference", "vars", "cluster", "role", "check")


class CasesFileError(ConfigError):
    """A cases file that cannot be used; the message names the file and the line."""


class Case(BaseModel):
    """One question of an experiment.

    `prompt` may hold `{var}` fields, filled from `vars` when the case is sent (a case
    without vars is sent as written, so code with braces needs no escaping). `id`
    pairs the case across cells and saved runs (default `case-<n>`, by position).
    `reference` is the gold answer; `check` says how `checks.expected()` grades it:
    "equals", "contains", "json" (vars["schema"] validates) or "python" (vars["tests"]
    runs against the answer's code).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    id: str | None = None
    reference: Any = None
    vars: dict[str, Any] = {}
    cluster: str | None = None
    role: str | None = None
    check: str | None = None

    def __init__(self, prompt: str | None = None, /, **fields: Any) -> None:
        # Positional for people (`Case("...")`), by keyword for pydantic (model_validate).
        if prompt is not None:
            fields["prompt"] = prompt
        try:
            super().__init__(**fields)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "case"
            raise ConfigError(f"Case: {field}: {first['msg']}") from None
        self._check_fields()

    def _check_fields(self) -> None:
        where = f"case {self.id!r}" if self.id else "a case"
        if not self.prompt.strip():
            raise ConfigError(f"{where} has an empty prompt")
        if self.check is not None and self.check not in CHECKS:
            raise ConfigError(f"{where}: check {self.check!r} is not one of {', '.join(CHECKS)}")
        if self.check is not None and self.reference is None and self.check != "python":
            raise ConfigError(f"{where}: check {self.check!r} needs a reference")
        if self.check == "python" and not isinstance(self.vars.get("tests"), str):
            raise ConfigError(f"{where}: check 'python' needs vars['tests'] (assert lines)")
        self.text()  # a template with a missing var fails now, not mid-run

    def text(self, template: str | None = None) -> str:
        """The prompt as sent: `template` (may use `{prompt}` and any var) or the prompt,
        with `{var}` fields filled from `vars`. A field with no var is a ConfigError."""
        values = {**self.vars, "prompt": self.prompt}
        try:
            prompt = _fill(self.prompt, self.vars) if self.vars else self.prompt
            if template is None:
                return prompt
            return _fill(template, {**values, "prompt": prompt})
        except KeyError as err:
            name = self.id or self.prompt[:40]
            raise ConfigError(
                f"case {name!r}: the template uses {{{err.args[0]}}}, which is not in its vars"
            ) from None

    @property
    def label(self) -> str:
        """A short name for tables: the id, else the prompt's start."""
        return self.id or _short(self.prompt)


def number_cases(cases: Iterable[Case | str | Mapping[str, Any]]) -> list[Case]:
    """Cases (strings and dicts accepted) with ids filled in (`case-<n>`, 1-based) and
    checked unique; a ConfigError names the first duplicate or bad entry."""
    if isinstance(cases, (str, Case, Mapping)):
        raise ConfigError("cases must be a list of cases, not one case")
    out: list[Case] = []
    for index, item in enumerate(cases, start=1):
        if isinstance(item, str):
            case = Case(item)
        elif isinstance(item, Case):
            case = item
        elif isinstance(item, Mapping):
            case = _case_from_mapping(item, f"cases[{index - 1}]")
        else:
            raise ConfigError(
                f"cases[{index - 1}] must be a Case, a prompt string or a dict, "
                f"not {type(item).__name__}"
            )
        if case.id is None:
            case = case.model_copy(update={"id": f"case-{index}"})
        out.append(case)
    if not out:
        raise ConfigError("the experiment has no cases")
    seen: set[str] = set()
    for case in out:
        assert case.id is not None
        if case.id in seen:
            raise ConfigError(f"two cases have the id {case.id!r}; ids pair cases across runs")
        seen.add(case.id)
    return out


def load_cases(path: str | Path) -> list[Case]:
    """The cases of a `.jsonl` or `.csv` file, ids filled in and checked unique.

    JSONL: one object per line with `prompt` and optional `id`, `reference`, `vars`,
    `cluster`, `role`, `check`. CSV: a header row with those columns; any other column
    becomes a var; `vars` and a "json" case's `reference` hold JSON text. A bad line
    raises `CasesFileError` naming the file and line.
    """
    source = Path(path)
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark
        text = source.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CasesFileError(f"cannot read {source}: {reason}") from None
    suffix = source.suffix.lower()
    if suffix == ".jsonl":
        cases = [
            _jsonl_case(source, number, line)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    elif suffix == ".csv":
        cases = _csv_cases(source, text)
    else:
        raise CasesFileError(f"{source}: cases files are .jsonl or .csv, not {suffix or 'none'}")
    if not cases:
        raise CasesFileError(f"{source} has no cases")
    try:
        return number_cases(cases)
    except CasesFileError:
        raise
    except ConfigError as err:
        raise CasesFileError(f"{source}: {err}") from None


def _jsonl_case(source: Path, number: int, line: str) -> Case:
    where = f"{source} line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise CasesFileError(f"{where}: not JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise CasesFileError(f"{where}: expected a JSON object with a 'prompt'")
    return _case_from_mapping(data, where, error=CasesFileError)


def _csv_cases(source: Path, text: str) -> list[Case]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "prompt" not in reader.fieldnames:
        raise CasesFileError(f"{source}: the header row needs a 'prompt' column")
    cases = []
    for row in reader:
        where = f"{source} line {reader.line_num}"
        data: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in row.items():
            if key is None:
                raise CasesFileError(f"{where}: more cells than header columns")
            if value is None or value == "":
                continue
            (data if key in _FIELDS else extra)[key] = value
        try:
            found = json.loads(data.get("vars", "{}"))
            if not isinstance(found, dict):
                raise ValueError("vars must be a JSON object")
            data["vars"] = {**found, **extra}
            if data.get("check") == "json" and "reference" in data:
                data["reference"] = json.loads(data["reference"])
        except ValueError as err:
            raise CasesFileError(f"{where}: vars/reference is not JSON ({err})") from None
        cases.append(_case_from_mapping(data, where, error=CasesFileError))
    return cases


def _case_from_mapping(
    data: Mapping[str, Any], where: str, *, error: type[ConfigError] = ConfigError
) -> Case:
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise error(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(_FIELDS)})")
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        raise error(f"{where}: 'prompt' must be a string")
    case_id = data.get("id")
    if case_id is not None and (
        isinstance(case_id, bool) or not isinstance(case_id, (str, int)) or not str(case_id)
    ):
        raise error(f"{where}: 'id' must be a string (not empty)")
    if "vars" in data and not isinstance(data["vars"], Mapping):
        raise error(f"{where}: 'vars' must be an object")
    fields = {k: v for k, v in data.items() if k != "prompt"}
    if fields.get("id") is not None:
        fields["id"] = str(fields["id"])
    try:
        return Case(prompt, **fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "case"
        raise error(f"{where}: {field}: {first['msg']}") from None
    except ConfigError as err:
        raise error(f"{where}: {err}") from None


#: a `{name}` field; braces around anything else (JSON shown in a prompt) stay as written,
#: so a prompt may show JSON without doubling its braces (unlike str.format)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill(template: str, values: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise KeyError(match.group(1))
        return str(values[match.group(1)])

    return _FIELD.sub(value, template)


def _short(text: str, width: int = 40) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
